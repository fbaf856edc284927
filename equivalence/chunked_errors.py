"""The error summary of one large entry, computed in cache-sized chunks.

A 1M-parameter model records half a dozen million-element arrays per step and implementation, and the
harness compares five pairs of them per step. Done as whole-array NumPy expressions, each of the dozen
operations of a comparison (difference, absolute values, bounds, ratios, counts, maxima) streams megabytes
through memory; done on chunks of ``CHUNK`` elements, the intermediates stay in the CPU cache and only the
two inputs are read from memory, once. The result is exactly what the whole-array expressions give: the
same element rule (``|a - e| <= atol + rtol*|e|``), the same maxima, and sums that differ only in their
summation order.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

BEYOND_SCREEN = 1.0 - 1e-9
CHUNK = 1 << 16  # float64 elements per chunk: 512 KiB per intermediate, the few of them fit in L2


@dataclass
class EntryErrors:
    """Summary of |actual - expected| over one entry (float64 arithmetic throughout).

    ``table_*``: against the table; ``wide_*``: against max(table, element_floor), where a floor was given.
    A ``*_first`` index is the flat index of the first element beyond that bound (-1: none). The wider bound
    only decides anything where some element is beyond the table, so ``wide_ratio`` is computed only then;
    with ``table_count == 0`` it is None (``wide_count`` 0 and ``wide_first`` -1 are exact there: an
    element within the table is within any wider bound)."""

    size: int
    finite: bool
    sum_squares: float
    max_abs: float
    max_expected: float  # max|expected|: the scale of the relative error
    expected_sum_squares: float  # sum(expected**2), where asked for (0.0 otherwise)
    table_count: int
    table_ratio: float  # max of |a - e| / (atol + rtol*|e|), 0 where |a - e| = 0
    table_first: int
    wide_count: int = 0
    wide_ratio: float | None = 0.0
    wide_first: int = -1

    @property
    def rms(self) -> float:
        return float(np.sqrt(self.sum_squares / self.size)) if self.size else 0.0

    @property
    def expected_rms(self) -> float:
        return float(np.sqrt(self.expected_sum_squares / self.size)) if self.size else 0.0


@dataclass
class Table:
    """The expected side of a comparison, for every pair that compares against the same array: the inverse
    of its bound, 1 / (atol + rtol*|expected|), so that each pair multiplies instead of dividing. The bound
    itself is recomputed from the expected array in the rare chunks that have an element beyond it."""

    inverse: np.ndarray  # flat float64
    max_expected: float
    expected_sum_squares: float


def table_of(expected: np.ndarray, atol: float, rtol: float) -> Table:
    e = np.asarray(expected).reshape(-1)
    inverse = np.empty(e.size)
    max_e = sum_sq = 0.0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for start in range(0, e.size, CHUNK):
            b = inverse[start:start + CHUNK]
            np.abs(e[start:start + CHUNK], out=b, dtype=np.float64)
            max_e = max(max_e, float(b.max()))
            sum_sq += float(np.dot(b, b))
            b *= rtol
            b += atol
            np.divide(1.0, b, out=b)  # 1 / 0 = inf: any difference is beyond
    return Table(inverse, max_e, sum_sq)


class SharedTables:
    """Tables of the float64 reference's arrays, computed once per (step, array, tolerance) for the several
    pairs that compare against them (the rounding check and each implementation), whichever thread asks
    first; the others wait for it. ``forget_before`` drops the tables of the steps no pair reads any more."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: dict[tuple, tuple] = {}  # (step, id, atol, rtol) -> (array, Future of its Table)

    def get(self, step: int, expected: np.ndarray, atol: float, rtol: float) -> Table:
        key = (step, id(expected), atol, rtol)
        with self._lock:
            item = self._items.get(key)
            owner = item is None
            if owner:
                item = self._items[key] = (expected, Future())
        if owner:
            try:
                item[1].set_result(table_of(expected, atol, rtol))
            except BaseException as exc:
                item[1].set_exception(exc)
        return item[1].result()

    def forget_before(self, step: int) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] < step]:
                del self._items[key]


def entry_errors(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float,
                 element_floor: float | None = None, expected_rms: bool = False,
                 table: Table | None = None) -> EntryErrors:
    """Errors of ``actual`` against ``expected`` (same shape, any float dtypes). ``element_floor``: also
    count and rate the elements against max(table, floor). ``table``: the expected side, precomputed
    (``table_of`` with the same atol and rtol). With a non-finite value anywhere, ``finite`` is False and the
    other fields are not meaningful (the caller compares such an entry element by element)."""
    a = np.asarray(actual).reshape(-1)
    e = np.asarray(expected).reshape(-1)
    size = a.size
    n = min(CHUNK, size) or 1
    err, bound, scratch = np.empty(n), np.empty(n), np.empty(n)
    flags = np.empty(n, dtype=bool)
    wide = element_floor is not None
    floor = float(element_floor) if wide else 0.0
    inverse_floor = 1.0 / floor if floor > 0 else np.inf
    sum_sq = e_sum_sq = 0.0
    max_abs = max_e = t_ratio = w_ratio = 0.0
    t_count = w_count = 0
    t_first = w_first = -1
    unrated: list[tuple[int, float]] = []  # (start, bound on its wide ratio) of chunks rated later if needed
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for start in range(0, size, CHUNK):
            stop = min(start + CHUNK, size)
            m = stop - start
            d, b, s, f = err[:m], bound[:m], scratch[:m], flags[:m]
            ev = e[start:stop]
            if table is None and e.dtype != np.float64:
                b[...] = ev  # cast once: the difference and the bound both read it
                ev = b
            chunk_max = _abs_difference(a[start:stop], ev, d)
            sum_sq += float(np.dot(d, d))
            max_abs = max(max_abs, chunk_max)
            if table is None:
                np.abs(ev, out=b)
                max_e = max(max_e, float(b.max()))
                if expected_rms:
                    e_sum_sq += float(np.dot(b, b))
                b *= rtol
                b += atol
                np.divide(d, b, out=s)  # 0 / 0 (a match under a zero bound) is NaN, which fmax skips
            else:
                np.multiply(d, table.inverse[start:stop], out=s)  # 0 * inf (a match under a zero bound) is NaN
            chunk_ratio = float(np.fmax.reduce(s))
            t_ratio = max(t_ratio, chunk_ratio)
            # An element beyond its bound has a quotient that rounds to at least 1 (a product with the rounded
            # inverse, to at least 1 - 2^-52): below that, the chunk has none; at or above, count exactly.
            if chunk_ratio < BEYOND_SCREEN:
                if wide:  # err / max(table, floor) <= min(err / table, err / floor)
                    unrated.append((start, min(chunk_ratio, chunk_max * inverse_floor)))
                continue
            if table is not None:
                _bound(e, start, stop, atol, rtol, b)
            t_count, t_first = _beyond(d, b, f, start, t_count, t_first)
            if wide:
                np.maximum(b, floor, out=b)
                w_count, w_first = _beyond(d, b, f, start, w_count, w_first)
                w_ratio = max(w_ratio, _wide_ratio(d, s, inverse_floor, b))
        if wide and t_count:
            for start, most in unrated:
                if most > w_ratio:  # this chunk may hold the largest wide ratio: rate it
                    stop = min(start + CHUNK, size)
                    d, b, s = err[:stop - start], bound[:stop - start], scratch[:stop - start]
                    _abs_difference(a[start:stop], e[start:stop], d)
                    if table is None:
                        _bound(e, start, stop, atol, rtol, b)
                        np.divide(d, b, out=s)
                    else:
                        np.multiply(d, table.inverse[start:stop], out=s)
                    w_ratio = max(w_ratio, _wide_ratio(d, s, inverse_floor, b))
    if table is not None:
        max_e, e_sum_sq = table.max_expected, table.expected_sum_squares if expected_rms else 0.0
    finite = bool(np.isfinite(sum_sq) and np.isfinite(max_e))
    return EntryErrors(size, finite, sum_sq, max_abs, max_e, e_sum_sq, t_count, t_ratio, t_first,
                       w_count, w_ratio if not wide or t_count else None, w_first)


def _abs_difference(a, e, out) -> float:
    """|a - e| of one chunk in float64, into ``out``; returns its maximum."""
    if a.dtype == np.float64:
        np.subtract(a, e, out=out)
    else:
        out[...] = a  # a cast then a float64 subtraction beats a mixed-dtype ufunc's buffering
        np.subtract(out, e, out=out)
    np.abs(out, out=out)
    return float(out.max())


def _bound(e, start, stop, atol, rtol, out) -> None:
    """The table of one chunk, atol + rtol*|e| in float64, into ``out``: the same operations in the same
    order as ``table_of`` and the kernel's own path, so every path draws the same boundary."""
    np.abs(e[start:stop], out=out, dtype=np.float64)
    out *= rtol
    out += atol


def _wide_ratio(err, ratio, inverse_floor, scratch) -> float:
    """max of err / max(table, floor) = min(err / table, err / floor), from the table ratios (overwritten)."""
    np.multiply(err, inverse_floor, out=scratch)
    np.minimum(ratio, scratch, out=ratio)
    return float(np.fmax.reduce(ratio))


def _beyond(err, bound, flags, start, count, first):
    """Fold one chunk's elements beyond ``bound`` into (count, first flat index)."""
    np.greater(err, bound, out=flags)
    found = int(np.count_nonzero(flags))
    if found and first < 0:
        first = start + int(np.argmax(flags))
    return count + found, first
