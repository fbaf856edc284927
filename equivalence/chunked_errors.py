"""The error summary of one large entry, computed in cache-sized chunks.

A 1M-parameter model records half a dozen million-element arrays per step and implementation, and the
harness compares five pairs of them per step. Done as whole-array NumPy expressions, each of the dozen
operations of a comparison (difference, absolute values, bounds, ratios, counts, maxima) streams megabytes
through memory; done on chunks of ``CHUNK`` elements, the intermediates stay in the CPU cache and only the
inputs are read from memory, once. Several actual arrays compared against the same expected array (each
implementation and the float32 reference against the float64 one) share one pass: the expected side of each
chunk (its bound and the bound's inverse) is computed once, while it is in cache, for all of them. The
result is exactly what the whole-array expressions give: the same element rule
(``|a - e| <= atol + rtol*|e|``), the same maxima, and sums that differ only in their summation order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BEYOND_SCREEN = 1.0 - 1e-9
CHUNK = 1 << 15  # float64 elements per chunk: 256 KiB per intermediate, the six of them fit in a 2 MiB L2


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
class Request:
    """One actual array to rate against the shared expected array: ``element_floor``, also count and rate its
    elements against max(table, floor); ``expected_rms``, also report sum(expected**2)."""

    actual: np.ndarray
    element_floor: float | None = None
    expected_rms: bool = False


@dataclass
class _Fold:
    """One request's running summary over the chunks."""

    actual: np.ndarray
    floor: float | None
    inverse_floor: float
    sum_sq: float = 0.0
    max_abs: float = 0.0
    t_ratio: float = 0.0
    w_ratio: float = 0.0
    t_count: int = 0
    w_count: int = 0
    t_first: int = -1
    w_first: int = -1
    unrated: list = field(default_factory=list)  # (start, bound on its wide ratio) of chunks rated if needed


def entry_errors(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float,
                 element_floor: float | None = None, expected_rms: bool = False) -> EntryErrors:
    """Errors of ``actual`` against ``expected`` (same shape, any float dtypes). ``element_floor``: also
    count and rate the elements against max(table, floor). With a non-finite value anywhere, ``finite`` is
    False and the other fields are not meaningful (the caller compares such an entry element by element)."""
    return errors_against(expected, atol, rtol, [Request(actual, element_floor, expected_rms)])[0]


def errors_against(expected: np.ndarray, atol: float, rtol: float, requests: list[Request]) -> list[EntryErrors]:
    """``entry_errors`` of each request's actual array (the shape of ``expected``) against ``expected``, in
    one pass over the chunks: each chunk of ``expected`` is read, and its bound computed, once for all."""
    e = np.asarray(expected).reshape(-1)
    size = e.size
    n = min(CHUNK, size) or 1
    err, bound, inverse, scratch, widened = (np.empty(n) for _ in range(5))
    cast = np.empty(n) if e.dtype != np.float64 else None
    flags = np.empty(n, dtype=bool)
    folds = []
    for r in requests:
        floor = None if r.element_floor is None else float(r.element_floor)
        folds.append(_Fold(np.asarray(r.actual).reshape(-1), floor,
                           1.0 / floor if floor else np.inf))
    shared = len(folds) > 1  # then one division per element gives the inverse, and each fold multiplies
    values_rms = any(r.expected_rms for r in requests)
    max_e = e_sum_sq = 0.0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for start in range(0, size, CHUNK):
            stop = min(start + CHUNK, size)
            m = stop - start
            d, b, inv, s, w, f = err[:m], bound[:m], inverse[:m], scratch[:m], widened[:m], flags[:m]
            ev = e[start:stop]
            if cast is not None:
                cast[:m] = ev  # cast once: every difference and the bound read it
                ev = cast[:m]
            np.abs(ev, out=b)
            max_e = max(max_e, float(b.max()))
            if values_rms:
                e_sum_sq += float(np.dot(b, b))
            b *= rtol
            b += atol
            if shared:
                np.divide(1.0, b, out=inv)  # 1 / 0 = inf: any difference is beyond
            for fold in folds:
                chunk_max = _abs_difference(fold.actual[start:stop], ev, d)
                fold.sum_sq += float(np.dot(d, d))
                fold.max_abs = max(fold.max_abs, chunk_max)
                _ratios(d, b, inv if shared else None, s)
                chunk_ratio = float(np.fmax.reduce(s))
                fold.t_ratio = max(fold.t_ratio, chunk_ratio)
                # An element beyond its bound has a quotient that rounds to at least 1 (a product with the
                # rounded inverse, to at least 1 - 2^-52): below that, the chunk has none; at or above, count
                # exactly.
                if chunk_ratio < BEYOND_SCREEN:
                    if fold.floor is not None:  # err / max(table, floor) <= min(err / table, err / floor)
                        fold.unrated.append((start, min(chunk_ratio, chunk_max * fold.inverse_floor)))
                    continue
                fold.t_count, fold.t_first = _beyond(d, b, f, start, fold.t_count, fold.t_first)
                if fold.floor is not None:
                    np.maximum(b, fold.floor, out=w)
                    fold.w_count, fold.w_first = _beyond(d, w, f, start, fold.w_count, fold.w_first)
                    fold.w_ratio = max(fold.w_ratio, _wide_ratio(d, s, fold.inverse_floor, w))
        for fold in folds:
            if fold.floor is not None and fold.t_count:
                _rate_the_rest(fold, e, atol, rtol, err, bound, scratch, widened)
    return [_summary(fold, size, max_e, e_sum_sq if r.expected_rms else 0.0) for fold, r in zip(folds, requests)]


def _rate_the_rest(fold: _Fold, e, atol, rtol, err, bound, scratch, widened) -> None:
    """The wide ratio over the chunks not rated in the pass (none of their elements beyond the table), where
    one of them may hold the largest: needed once some element is beyond the table."""
    for start, most in fold.unrated:
        if most > fold.w_ratio:
            stop = min(start + CHUNK, e.size)
            m = stop - start
            d, b, s = err[:m], bound[:m], scratch[:m]
            np.abs(e[start:stop], out=b, dtype=np.float64)
            b *= rtol
            b += atol
            _abs_difference(fold.actual[start:stop], e[start:stop], d)
            _ratios(d, b, None, s)
            fold.w_ratio = max(fold.w_ratio, _wide_ratio(d, s, fold.inverse_floor, widened[:m]))


def _summary(fold: _Fold, size: int, max_e: float, e_sum_sq: float) -> EntryErrors:
    finite = bool(np.isfinite(fold.sum_sq) and np.isfinite(max_e))
    wide_ratio = fold.w_ratio if fold.floor is None or fold.t_count else None
    return EntryErrors(size, finite, fold.sum_sq, fold.max_abs, max_e, e_sum_sq, fold.t_count, fold.t_ratio,
                       fold.t_first, fold.w_count, wide_ratio, fold.w_first)


def _abs_difference(a, e, out) -> float:
    """|a - e| of one chunk in float64, into ``out``; returns its maximum."""
    if a.dtype == np.float64:
        np.subtract(a, e, out=out)
    else:
        out[...] = a  # a cast then a float64 subtraction beats a mixed-dtype ufunc's buffering
        np.subtract(out, e, out=out)
    np.abs(out, out=out)
    return float(out.max())


def _ratios(err, bound, inverse, out) -> None:
    """err / bound, or err * inverse where the inverse is shared: 0 / 0 and 0 * inf (a match under a zero
    bound) are NaN, which fmax skips."""
    if inverse is None:
        np.divide(err, bound, out=out)
    else:
        np.multiply(err, inverse, out=out)


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
