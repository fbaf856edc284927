"""The compiled pass behind ``entry_summary.entry_errors``: every summary of |actual - expected| in one read
of the two arrays.

Done with NumPy, a comparison is a dozen whole-array operations (difference, absolute values, bound, ratio,
counts, maxima, sums), each a pass of its own; at 1M parameters a run makes thousands of them. Compiled with
numba, one loop reads each element once and keeps every running summary in registers: 3-4x less CPU than
the cache-blocked NumPy passes it replaces (bench/README.md, "Where the time goes"). It releases the GIL, so
the harness's two comparison threads run at once.

The arithmetic is the element rule's, in float64: ``d = |a - e|``, ``bound = |e|*rtol + atol`` (no fused
multiply-add: numba contracts nothing unless told), ``d > bound`` counts. Only the sums are reassociated
(``fastmath={"reassoc"}``, so that they vectorise); they differ from NumPy's in summation order, no more.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK = 512  # elements per block: its four float64 buffers (16 KiB) stay in the L1 cache


@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def summarize(a, e, atol, rtol, floor, inverse_floor):
    """(sum of d^2, max d, max |e|, sum of e^2, max d/bound, count d > bound, first such index, max wide ratio,
    count d > max(bound, floor), first such index) over flat arrays ``a`` and ``e`` of one size.

    The ratio of a zero difference is 0 (a match under a zero bound); a wide ratio is min(d/bound,
    d*inverse_floor) = d / max(bound, floor) up to the rounding of the inverse. ``floor`` = inf with
    ``inverse_floor`` = 0: no floor. With a NaN or an infinity anywhere the sum of squares is not finite and the
    other values are meaningless (the caller compares such an entry element by element)."""
    n = a.size
    d_block, e_block, r_block, w_block = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
    # The maxima are taken over the bit patterns: LLVM vectorises an integer maximum but not a NaN-aware
    # float one, and for non-negative doubles the order of the patterns is the order of the values.
    d_bits, e_bits = d_block.view(np.int64), e_block.view(np.int64)
    r_bits, w_bits = r_block.view(np.int64), w_block.view(np.int64)
    sum_sq = 0.0
    e_sq = 0.0
    max_d = max_e = max_r = max_w = 0
    t_count = w_count = 0
    t_first = w_first = -1
    for start in range(0, n, BLOCK):
        ab = a[start:start + BLOCK]
        eb = e[start:start + BLOCK]
        k = ab.size
        beyond = wide_beyond = 0
        for j in range(k):
            ev = np.float64(eb[j])
            d = abs(np.float64(ab[j]) - ev)
            magnitude = abs(ev)
            bound = magnitude * rtol + atol
            ratio = d / bound
            ratio = ratio if d > 0.0 else 0.0
            wide = d * inverse_floor
            wide = wide if wide < ratio else ratio
            sum_sq += d * d
            e_sq += magnitude * magnitude
            beyond += d > bound
            wide_beyond += (d > bound) & (d > floor)
            d_block[j] = d
            e_block[j] = magnitude
            r_block[j] = ratio
            w_block[j] = wide
        for j in range(k):
            x = d_bits[j]
            max_d = x if x > max_d else max_d
            x = e_bits[j]
            max_e = x if x > max_e else max_e
            x = r_bits[j]
            max_r = x if x > max_r else max_r
            x = w_bits[j]
            max_w = x if x > max_w else max_w
        if beyond:  # rare in a passing run: find the first index here, by the same arithmetic
            for j in range(k):
                if t_first < 0 and d_block[j] > e_block[j] * rtol + atol:
                    t_first = start + j
                if w_first < 0 and d_block[j] > e_block[j] * rtol + atol and d_block[j] > floor:
                    w_first = start + j
                if t_first >= 0 and (w_first >= 0 or not wide_beyond):
                    break
            t_count += beyond
            w_count += wide_beyond
    maxima = np.array([max_d, max_e, max_r, max_w], dtype=np.int64).view(np.float64)
    return sum_sq, maxima[0], maxima[1], e_sq, maxima[2], t_count, t_first, maxima[3], w_count, w_first
