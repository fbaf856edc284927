"""The error summary of one large entry: what ``compare.py`` needs of |actual - expected| over a tensor of a
million elements, in one compiled pass (``entry_kernel.py``).

A 1M-parameter model records half a dozen million-element arrays per step and implementation, and the
harness compares four pairs of them per step. The summary is exactly what whole-array NumPy expressions give:
the same element rule (``|a - e| <= atol + rtol*|e|``) and counts, the same maxima, and sums that differ only
in their summation order. The kernel is compiled on first use and cached beside this module (numba's cache;
about 4 s once per installation, 0.3 s to load afterwards); small entries never load it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

@dataclass
class EntryErrors:
    """Summary of |actual - expected| over one entry (float64 arithmetic throughout).

    ``table_*``: against the table; ``wide_*``: against max(table, element_floor), where a floor was given.
    A ``*_first`` index is the flat index of the first element beyond that bound (-1: none). The wider bound
    only decides anything where some element is beyond the table, so ``wide_ratio`` is reported only then;
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


def entry_errors(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float,
                 element_floor: float | None = None, expected_rms: bool = False) -> EntryErrors:
    """Errors of ``actual`` against ``expected`` (same shape, any float dtypes). ``element_floor``: also
    count and rate the elements against max(table, floor). With a non-finite value anywhere, ``finite`` is
    False and the other fields are not meaningful (the caller compares such an entry element by element)."""
    a, e = _flat(actual), _flat(expected)
    if element_floor is None:
        floor, inverse_floor = np.inf, 0.0
    else:
        floor = float(element_floor)
        inverse_floor = 1.0 / floor if floor else np.inf
    (sum_sq, max_abs, max_e, e_sq, t_ratio, t_count, t_first,
     w_ratio, w_count, w_first) = _kernel()(a, e, float(atol), float(rtol), floor, inverse_floor)
    finite = bool(np.isfinite(sum_sq) and np.isfinite(max_e))
    wide_ratio = w_ratio if element_floor is None or t_count else None
    return EntryErrors(a.size, finite, sum_sq, max_abs, max_e, e_sq if expected_rms else 0.0, int(t_count),
                       t_ratio, int(t_first), int(w_count), wide_ratio, int(w_first))


def _flat(x) -> np.ndarray:
    """A contiguous flat float32 or float64 array (the kernel's two element types; bfloat16 and other
    float types are widened, exactly)."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return np.ascontiguousarray(x).reshape(-1)


@functools.cache
def _kernel():
    """entry_kernel.summarize, imported on first use: importing numba costs 0.3 s that a run of small
    models never needs."""
    from .entry_kernel import summarize
    return summarize
