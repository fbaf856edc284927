"""The chunked summary of a large entry (equivalence/chunked_errors.py) against the same quantities written as
whole-array NumPy expressions, across chunk boundaries, with elements beyond the table and beyond a floor."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import chunked_errors
from equivalence.chunked_errors import entry_errors

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
def test_matches_whole_array_expressions(monkeypatch, dtypes, floor):
    monkeypatch.setattr(chunked_errors, "CHUNK", 1000)  # many chunks, a partial last one
    rng = np.random.default_rng(1)
    e = rng.standard_normal(10_537) * 1e-2
    a = e + rng.standard_normal(e.size) * 1e-7
    a[[17, 4_000, 10_536]] += [5e-6, -2e-5, 1e-3]  # beyond the table; two of them beyond the floor
    a[5_000] = e[5_000]  # an exact match
    a, e = a.astype(dtypes[0]), e.astype(dtypes[1])
    atol, rtol = 1e-6, 1e-5
    got = entry_errors(a, e, atol, rtol, floor)
    want = _whole(a, e, atol, rtol, floor)
    assert got.finite and got.size == a.size
    for key, value in want.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-12), f"{key}: chunked {getattr(got, key)!r}, whole {value!r}"
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


def test_actuals_sharing_one_expected_array_get_their_own_errors():
    """Several actual arrays against one float64 reference array, in one pass over it (the expected side
    computed once per chunk, the bound's inverse shared): each gets the summary it gets alone, whatever its
    floor and whether it asks for the expected RMS."""
    rng = np.random.default_rng(2)
    e = rng.standard_normal(50_000)
    actuals = [(e + rng.standard_normal(e.size) * s).astype(np.float32) for s in (1e-9, 1e-7, 1e-5)]
    actuals.append(e + rng.standard_normal(e.size) * 1e-12)  # a float64 actual beside the float32 ones
    options = [(2e-6, True), (2e-6, False), (None, True), (0.0, False)]
    got = chunked_errors.errors_against(e, 1e-6, 1e-5, [chunked_errors.Request(a, f, r)
                                                          for a, (f, r) in zip(actuals, options)])
    for a, (floor, rms), g in zip(actuals, options, got):
        want = entry_errors(a, e, 1e-6, 1e-5, floor, rms)
        for key, value in vars(want).items():  # ratios: a product with the shared inverse, one rounding apart
            assert getattr(g, key) == (None if value is None else pytest.approx(value, rel=1e-14)), \
                f"{key}: shared {getattr(g, key)}, own {value}"
    assert got[2].table_count and got[0].table_count == 0, "both kinds of entry were compared"
    assert got[0].expected_sum_squares > 0 and got[1].expected_sum_squares == 0.0


def test_shared_pass_reads_the_float32_expected_array_the_same_way():
    """A float32 expected array (an implementation against the other) is cast once per chunk for all."""
    rng = np.random.default_rng(4)
    e = rng.standard_normal(20_000).astype(np.float32)
    a = [e + np.float32(1e-6) * rng.standard_normal(e.size).astype(np.float32) for _ in range(2)]
    got = chunked_errors.errors_against(e, 1e-6, 1e-5, [chunked_errors.Request(x, 3e-6) for x in a])
    for x, g in zip(a, got):
        want = _whole(x, e, 1e-6, 1e-5, 3e-6)
        for key, value in want.items():
            assert getattr(g, key) == pytest.approx(value, rel=1e-12), f"{key}: shared {getattr(g, key)}, whole {value}"


@pytest.mark.parametrize("shared", [False, True])
def test_wide_ratio_found_in_a_chunk_without_table_mismatches(monkeypatch, shared):
    """The wide ratio is rated only where some element is beyond the table, and then over every chunk that
    could hold its maximum: here the largest lies in a chunk with no element beyond the table (a large
    expected value, so its table exceeds the floor), while the elements beyond the table sit well within the
    floor."""
    monkeypatch.setattr(chunked_errors, "CHUNK", 100)
    atol, rtol, floor = 1e-6, 1e-5, 1e-4
    e = np.full(1_000, 1e-3)
    e[850] = 100.0  # table 1e-3 + 1e-6, far above the floor
    a = e.copy()
    a[850] += 0.9e-3  # 0.9 of its table: the largest wide ratio, in the ninth chunk
    a[[120, 430]] += [5e-6, -3e-5]  # beyond their tables (1.1e-6), at 0.05 and 0.3 of the floor

    def errors():  # alone, or beside another actual array in one shared pass
        if not shared:
            return entry_errors(a, e, atol, rtol, floor)
        return chunked_errors.errors_against(e, atol, rtol, [chunked_errors.Request(e * 0, floor),
                                                              chunked_errors.Request(a, floor)])[1]

    got = errors()
    want = _whole(a, e, atol, rtol, floor)
    assert (got.table_count, got.table_first, got.wide_count, got.wide_first) == (2, 120, 0, -1)
    assert got.wide_ratio == pytest.approx(want["wide_ratio"], rel=1e-12) and got.wide_ratio > 0.85, \
        f"wide ratio {got.wide_ratio}, whole-array {want['wide_ratio']}"

    a[[120, 430]] = e[[120, 430]]  # nothing beyond the table: the wider bound decides nothing, is not rated
    got = errors()
    assert (got.table_count, got.wide_count, got.wide_first, got.wide_ratio) == (0, 0, -1, None)
