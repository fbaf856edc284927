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
    A ``*_first`` index is the flat index of the first element beyond that bound (-1: none)."""

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
    wide_ratio: float = 0.0
    wide_first: int = -1

    @property
    def rms(self) -> float:
        return float(np.sqrt(self.sum_squares / self.size)) if self.size else 0.0

    @property
    def expected_rms(self) -> float:
        return float(np.sqrt(self.expected_sum_squares / self.size)) if self.size else 0.0


@dataclass
class Table:
    """The expected side of a comparison, for every pair that compares against the same array."""

    bound: np.ndarray  # atol + rtol*|expected|, flat float64
    inverse: np.ndarray  # 1 / bound: each pair then multiplies instead of dividing
    max_expected: float
    expected_sum_squares: float


def table_of(expected: np.ndarray, atol: float, rtol: float) -> Table:
    e = np.asarray(expected).reshape(-1)
    bound, inverse = np.empty(e.size), np.empty(e.size)
    max_e = sum_sq = 0.0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for start in range(0, e.size, CHUNK):
            b = bound[start:start + CHUNK]
            np.abs(e[start:start + CHUNK], out=b, dtype=np.float64)
            max_e = max(max_e, float(b.max()))
            sum_sq += float(np.dot(b, b))
            b *= rtol
            b += atol
            np.divide(1.0, b, out=inverse[start:start + CHUNK])  # 1 / 0 = inf: any difference is beyond
    return Table(bound, inverse, max_e, sum_sq)


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
    err = np.empty(n)
    bound = np.empty(n)
    scratch = np.empty(n)
    flags = np.empty(n, dtype=bool)
    a64, e64 = a.dtype == np.float64, e.dtype == np.float64
    wide = element_floor is not None
    floor = float(element_floor) if wide else 0.0
    inverse_floor = 1.0 / floor if floor > 0 else np.inf
    widened = np.empty(n) if wide else None
    sum_sq = e_sum_sq = 0.0
    max_abs = max_e = t_ratio = w_ratio = 0.0
    t_count = w_count = 0
    t_first = w_first = -1
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for start in range(0, size, CHUNK):
            stop = min(start + CHUNK, size)
            m = stop - start
            d, b, s, f = err[:m], bound[:m], scratch[:m], flags[:m]
            w = widened[:m] if wide else None
            ev = e[start:stop]
            if a64:
                np.subtract(a[start:stop], ev, out=d)
            else:
                d[...] = a[start:stop]  # a cast then a float64 subtraction beats a mixed-dtype ufunc's buffering
                np.subtract(d, ev, out=d)
            np.abs(d, out=d)
            sum_sq += float(np.dot(d, d))
            max_abs = max(max_abs, float(d.max()))
            if table is not None:
                b = table.bound[start:stop]  # shared: read, never written
            else:
                if e64:
                    np.abs(ev, out=b)
                else:
                    b[...] = ev
                    np.abs(b, out=b)
                max_e = max(max_e, float(b.max()))
                if expected_rms:
                    e_sum_sq += float(np.dot(b, b))
                b *= rtol
                b += atol
            if table is not None:
                np.multiply(d, table.inverse[start:stop], out=s)  # 0 * inf (a match under a zero bound) is NaN
            else:
                np.divide(d, b, out=s)  # 0 / 0 (a match under a zero bound) is NaN, which fmax skips
            chunk_ratio = float(np.fmax.reduce(s))
            t_ratio = max(t_ratio, chunk_ratio)
            # An element beyond its bound has a quotient that rounds to at least 1 (a product with the rounded
            # inverse, to at least 1 - 2^-52): below that, the chunk has none; at or above, count exactly.
            beyond = chunk_ratio >= BEYOND_SCREEN
            if beyond:
                t_count, t_first = _beyond(d, b, f, start, t_count, t_first)
            if wide:
                # err / max(table, floor) = min(err / table, err / floor): no second division
                np.multiply(d, inverse_floor, out=w)
                np.minimum(s, w, out=s)
                w_ratio = max(w_ratio, float(np.fmax.reduce(s)))
                if beyond:
                    np.maximum(b, floor, out=w)
                    w_count, w_first = _beyond(d, w, f, start, w_count, w_first)
    if table is not None:
        max_e, e_sum_sq = table.max_expected, table.expected_sum_squares if expected_rms else 0.0
    finite = bool(np.isfinite(sum_sq) and np.isfinite(max_e))
    return EntryErrors(size, finite, sum_sq, max_abs, max_e, e_sum_sq, t_count, t_ratio, t_first,
                       w_count, w_ratio, w_first)


def _beyond(err, bound, flags, start, count, first):
    """Fold one chunk's elements beyond ``bound`` into (count, first flat index)."""
    np.greater(err, bound, out=flags)
    found = int(np.count_nonzero(flags))
    if found and first < 0:
        first = start + int(np.argmax(flags))
    return count + found, first
