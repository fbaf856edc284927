"""The compiled summary of a large entry (equivalence/entry_summary.py, entry_kernel.py) against the same
quantities written as whole-array NumPy expressions, across the kernel's block boundaries, with elements
beyond the table and beyond a floor."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence.entry_summary import entry_errors
from equivalence.entry_kernel import BLOCK

pytestmark = pytest.mark.harness


def _whole(a, e, atol, rtol, floor):
    err = np.abs(a.astype(np.float64) - e.astype(np.float64))
    table = atol + rtol * np.abs(e.astype(np.float64))
    out = {"sum_squares": float(np.sum(err * err)), "max_abs": float(err.max()),
           "max_expected": float(np.abs(e).max()), "table_count": int(np.sum(err > table)),
           "table_ratio": float(np.fmax.reduce(err / table)),
           "table_first": int(np.argmax(err > table)) if np.any(err > table) else -1}
    if floor is not None:
        wide = np.maximum(table, floor)
        out |= {"wide_count": int(np.sum(err > wide)), "wide_ratio": float(np.fmax.reduce(err / wide)),
                "wide_first": int(np.argmax(err > wide)) if np.any(err > wide) else -1}
    return out


@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float32", "float32"), ("float64", "float64")])
@pytest.mark.parametrize("floor", [None, 3e-6, 0.0])
def test_matches_whole_array_expressions(dtypes, floor):
    rng = np.random.default_rng(1)
    e = rng.standard_normal(20 * BLOCK + 37) * 1e-2  # many blocks, a partial last one
    a = e + rng.standard_normal(e.size) * 1e-7
    a[[17, 4_000, e.size - 1]] += [5e-6, -2e-5, 1e-3]  # beyond the table; two of them beyond the floor
    a[5_000] = e[5_000]  # an exact match
    a, e = a.astype(dtypes[0]), e.astype(dtypes[1])
    atol, rtol = 1e-6, 1e-5
    got = entry_errors(a, e, atol, rtol, floor)
    want = _whole(a, e, atol, rtol, floor)
    assert got.finite and got.size == a.size
    for key, value in want.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-12), f"{key}: kernel {getattr(got, key)!r}, whole {value!r}"
    assert got.table_count >= 3 and got.table_first == 17


def test_zero_bound_counts_only_real_differences():
    """atol = rtol = 0: equal elements match (0 / 0 is not a mismatch), any difference is one."""
    e = np.arange(5.0)
    a = e.copy()
    a[3] += 1e-12
    got = entry_errors(a, e, 0.0, 0.0)
    assert (got.table_count, got.table_first, got.table_ratio) == (1, 3, np.inf)


def test_non_finite_values_are_flagged_for_the_element_wise_path():
    e = np.ones(100)
    a = e.copy()
    a[50] = np.nan
    assert not entry_errors(a, e, 1e-6, 1e-5).finite
    a[50] = 1.0
    e[7] = np.inf
    assert not entry_errors(a, e, 1e-6, 1e-5).finite


def test_expected_rms_only_when_asked():
    e = np.full(64, 2.0)
    assert entry_errors(e, e, 0.0, 0.0, expected_rms=True).expected_rms == pytest.approx(2.0)
    assert entry_errors(e, e, 0.0, 0.0).expected_sum_squares == 0.0


@pytest.mark.parametrize("dtypes", [("float64", "float32"), ("float16", "float64")])
def test_other_dtype_pairs_match_too(dtypes):
    """A float64 actual against a float32 expected array, and a float type the kernel is not compiled for
    (widened exactly to float64 first)."""
    rng = np.random.default_rng(4)
    e = rng.standard_normal(3 * BLOCK + 5)
    a = (e + rng.standard_normal(e.size) * 1e-3).astype(dtypes[0])
    e = e.astype(dtypes[1])
    got, want = entry_errors(a, e, 1e-6, 1e-5, 3e-6), _whole(a, e, 1e-6, 1e-5, 3e-6)
    assert got.table_count > 0
    for key, value in want.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-12), f"{key}: kernel {getattr(got, key)}, whole {value}"


def test_a_strided_view_is_read_in_its_own_order():
    """A transposed (non-contiguous) array is compared element for element with its expected array."""
    rng = np.random.default_rng(5)
    e = rng.standard_normal((BLOCK, 3))
    a = e.T.copy().T  # the same values, Fortran order
    a[BLOCK - 1, 2] += 1.0
    got = entry_errors(a, e, 1e-6, 1e-5)
    assert (got.table_count, got.table_first) == (1, e.size - 1)


def test_wide_ratio_found_in_a_block_without_table_mismatches():
    """The wide ratio is taken over every element, not only over the blocks with an element beyond the table:
    here the largest lies in a block with none (a large expected value, so its table exceeds the floor),
    while the elements beyond the table sit well within the floor. Reported only where some element is
    beyond the table."""
    atol, rtol, floor = 1e-6, 1e-5, 1e-4
    e = np.full(10 * BLOCK, 1e-3)
    big = 8 * BLOCK + 50
    e[big] = 100.0  # table 1e-3 + 1e-6, far above the floor
    a = e.copy()
    a[big] += 0.9e-3  # 0.9 of its table: the largest wide ratio, in the ninth block
    beyond = [120, 3 * BLOCK + 7]
    a[beyond] += [5e-6, -3e-5]  # beyond their tables (1.1e-6), at 0.05 and 0.3 of the floor

    got = entry_errors(a, e, atol, rtol, floor)
    want = _whole(a, e, atol, rtol, floor)
    assert (got.table_count, got.table_first, got.wide_count, got.wide_first) == (2, 120, 0, -1)
    assert got.wide_ratio == pytest.approx(want["wide_ratio"], rel=1e-12) and got.wide_ratio > 0.85, \
        f"wide ratio {got.wide_ratio}, whole-array {want['wide_ratio']}"

    a[beyond] = e[beyond]  # nothing beyond the table: the wider bound decides nothing, is not reported
    got = entry_errors(a, e, atol, rtol, floor)
    assert (got.table_count, got.wide_count, got.wide_first, got.wide_ratio) == (0, 0, -1, None)


def test_first_indices_in_a_later_block_than_the_first_mismatch():
    """The first element beyond the table and the first beyond the wider bound can lie in different blocks."""
    atol, rtol, floor = 1e-6, 0.0, 1e-3
    e = np.zeros(6 * BLOCK)
    a = e.copy()
    a[BLOCK + 3] = 1e-5  # beyond the table only
    a[4 * BLOCK + 9] = 1e-2  # beyond both
    got = entry_errors(a, e, atol, rtol, floor)
    assert (got.table_count, got.table_first, got.wide_count, got.wide_first) == (2, BLOCK + 3, 1, 4 * BLOCK + 9)
