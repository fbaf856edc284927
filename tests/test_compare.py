"""Element-wise comparison: the tolerance rule, non-finite values, first divergence, structure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equivalence.compare import DEFAULT_TOLERANCES, compare, compare_arrays, tolerance_for
from equivalence.record import QUANTITY_ORDER, SCALAR, Trajectory
from equivalence.spec import Tolerance

from .casefiles import load, tiny

pytestmark = pytest.mark.harness

F64 = DEFAULT_TOLERANCES["float64"]


def traj(*steps) -> Trajectory:
    """A trajectory from step dicts {quantity: {name: array-like}}."""
    return Trajectory(steps=[{q: {n: np.asarray(v, dtype=np.float64) for n, v in names.items()}
                              for q, names in step.items()} for step in steps])


@pytest.fixture
def case64(tmp_path):
    return load(tmp_path, tiny())


@pytest.fixture
def case32(tmp_path):
    return load(tmp_path, tiny(dtype="float32"))


# ------------------------------------------------------------------------------------ compare_arrays

def test_exact_equality_passes(case64):
    w = np.arange(12.0).reshape(3, 4) - 5.5
    result = compare(traj({"param": {"linear0.weight": w}}), traj({"param": {"linear0.weight": w.copy()}}), case64)
    assert result.equal, f"identical arrays compared unequal: {result.summary()}"
    assert result.mismatches == 0 and result.max_abs_error == 0.0, (
        f"mismatches={result.mismatches}, max_abs_error={result.max_abs_error}")
    assert result.compared == 12, f"compared={result.compared}, expected all 12 elements"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expected", [0.0, 1.5, -300.0])
@pytest.mark.parametrize("factor, should_pass", [(0.999, True), (1.001, False)])
def test_tolerance_boundary(tmp_path, dtype, expected, factor, should_pass):
    """|a - e| <= atol + rtol*|e|: a deviation just inside passes, just beyond fails, for the dtype's defaults."""
    case = load(tmp_path, tiny(dtype=dtype))
    tol = DEFAULT_TOLERANCES[dtype]
    bound = tol.atol + tol.rtol * abs(expected)
    actual = expected + factor * bound
    result = compare(traj({"loss": {SCALAR: actual}}), traj({"loss": {SCALAR: expected}}), case)
    assert result.equal == should_pass, (
        f"{dtype}: actual={actual!r} expected={expected!r} deviation={actual - expected:.6g} "
        f"bound={bound:.6g} (rtol={tol.rtol}, atol={tol.atol}): equal={result.equal}, {result.summary()}")
    bad, _, _ = compare_arrays(np.array([actual]), np.array([expected]), tol)
    assert bool(bad[0]) != should_pass, f"compare_arrays mask {bad} for deviation {factor} x bound {bound:.6g}"


def test_default_tolerances_depend_on_dtype(case32, case64):
    assert tolerance_for(case32, "grad") == DEFAULT_TOLERANCES["float32"], tolerance_for(case32, "grad")
    assert tolerance_for(case64, "grad") == DEFAULT_TOLERANCES["float64"], tolerance_for(case64, "grad")
    assert DEFAULT_TOLERANCES["float32"].rtol > DEFAULT_TOLERANCES["float64"].rtol, DEFAULT_TOLERANCES


def test_relative_error_of_zero_expected():
    bad, abs_err, rel_err = compare_arrays(np.array([0.0, 1e-3]), np.array([0.0, 0.0]), F64)
    assert list(bad) == [False, True], f"mask {bad} for 0 vs 0 and 1e-3 vs 0"
    assert rel_err[0] == 0.0 and rel_err[1] == math.inf, f"rel errors {rel_err}: 0 for 0 vs 0, inf for x vs 0"
    assert abs_err[1] == pytest.approx(1e-3), f"abs errors {abs_err}"


# ------------------------------------------------------------------------------------------ non-finite

def test_nan_on_both_sides_mismatches(case64):
    bad, abs_err, _ = compare_arrays(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), F64)
    assert list(bad) == [True, False], f"NaN vs NaN must mismatch, 1 vs 1 must not: mask {bad}"
    assert abs_err[0] == math.inf, f"abs error of NaN vs NaN is {abs_err[0]}, expected inf"
    result = compare(traj({"loss": {SCALAR: np.nan}}), traj({"loss": {SCALAR: np.nan}}), case64)
    assert not result.equal and result.mismatches == 1, result.summary()
    assert result.first is not None and result.first.problem == "NaN on both sides", result.first


def test_nan_on_one_side_mismatches(case64):
    result = compare(traj({"loss": {SCALAR: np.nan}}), traj({"loss": {SCALAR: 2.0}}), case64)
    assert result.mismatches == 1 and result.first.problem == "NaN", result.first


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_inf_on_both_sides_mismatches(case64, value):
    bad, _, _ = compare_arrays(np.array([value]), np.array([value]), F64)
    assert bad[0], f"{value} vs {value} passed"
    result = compare(traj({"grad": {"w": [1.0, value]}}), traj({"grad": {"w": [1.0, value]}}), case64)
    assert not result.equal and result.mismatches == 1, result.summary()
    assert result.first.index == (1,) and result.first.problem == "Inf on both sides", result.first


def test_opposite_infs_mismatch(case64):
    result = compare(traj({"grad": {"w": [np.inf]}}), traj({"grad": {"w": [-np.inf]}}), case64)
    assert result.mismatches == 1 and result.first.problem == "Inf", result.first


# ------------------------------------------------------------------------------------ first divergence

def test_first_divergence_order(case64):
    """Earliest step first, then QUANTITY_ORDER (not insertion, not alphabetical), then parameter name."""
    assert QUANTITY_ORDER.index("update") < QUANTITY_ORDER.index("param"), QUANTITY_ORDER
    w0, w1 = np.zeros((3, 4)), np.zeros((4, 2))
    w0_bad = w0.copy()
    w0_bad[2, 1], w0_bad[1, 3] = 7.0, 5.0  # the first in C order is [1, 3]
    w1_bad = w1.copy()
    w1_bad[0, 0] = 9.0
    # step 1: param of both weights and update of linear1 and linear0 differ; grad is equal.
    # Dicts are inserted in the "wrong" order so that only the documented ordering can find [update, linear0].
    step1_actual = {"param": {"linear1.weight": w1_bad, "linear0.weight": w0_bad},
                    "update": {"linear1.weight": w1_bad, "linear0.weight": w0_bad},
                    "grad": {"linear1.weight": w1, "linear0.weight": w0}}
    step1_expected = {"param": {"linear1.weight": w1, "linear0.weight": w0},
                      "update": {"linear1.weight": w1, "linear0.weight": w0},
                      "grad": {"linear1.weight": w1, "linear0.weight": w0}}
    # step 2: loss (earliest quantity) differs, but step 1 comes first.
    actual = traj(step1_actual, {"loss": {SCALAR: 3.0}})
    expected = traj(step1_expected, {"loss": {SCALAR: 1.0}})
    first = compare(actual, expected, case64).first
    assert (first.step, first.quantity, first.name) == (1, "update", "linear0.weight"), first
    assert first.index == (1, 3), f"index {first.index}, expected (1, 3): the first mismatch in C order"
    assert (first.actual, first.expected) == (5.0, 0.0), first
    assert "step 1, update of linear0.weight at [1, 3]" in first.describe(), first.describe()


def test_first_divergence_takes_earliest_step(case64):
    actual = traj({"param": {"w": [0.0]}}, {"loss": {SCALAR: 2.0}}, {"loss": {SCALAR: 4.0}})
    expected = traj({"param": {"w": [0.0]}}, {"loss": {SCALAR: 1.0}}, {"loss": {SCALAR: 1.0}})
    result = compare(actual, expected, case64)
    assert result.mismatches == 2, result.summary()
    assert (result.first.step, result.first.quantity, result.first.actual) == (2, "loss", 2.0), result.first


def test_counts_and_max_errors(case64):
    expected = {"grad": {"a": [[1.0, 2.0], [-80.0, 4.0]], "b": [10.0, 10.0, 10.0]}}
    actual = {"grad": {"a": [[1.0, 2.5], [-81.0, 4.0]], "b": [10.0, 10.0, 10.3]}}
    result = compare(traj(actual), traj(expected), case64)
    # a: abs errors 0, 0.5, 1, 0, scale max|b| = 80: 1/80. b: abs 0, 0, 0.3, scale 10: 0.03. (Element-wise the
    # relative error would be 0.25, at the element 2.0; the reported one is relative to each tensor's scale.)
    assert (result.mismatches, result.compared) == (3, 7), f"mismatches={result.mismatches} compared={result.compared}"
    assert result.max_abs_error == pytest.approx(1.0), f"max abs error {result.max_abs_error}, expected 1.0"
    assert result.max_rel_error == pytest.approx(0.03), f"max rel error {result.max_rel_error}, expected 0.03"
    assert {d.name: d.max_rel_error for d in result.details} == pytest.approx({"a": 1 / 80, "b": 0.03})
    per_name = {d.name: (d.mismatches, d.size) for d in result.details}
    assert per_name == {"a": (2, 4), "b": (1, 3)}, per_name
    assert "3 of 7 elements differ" in result.summary(), result.summary()
    assert (result.first.name, result.first.index) == ("a", (0, 1)), result.first


def test_relative_error_is_to_the_tensors_scale(case64):
    """An element that cancels to ~0 passes on atol; its element-wise relative error (2.2 here) is not what
    is reported, the error relative to the tensor's largest magnitude is, and the summary says so."""
    expected = {"update": {"w": [1.0, -0.5, 1e-13]}}
    actual = {"update": {"w": [1.0, -0.5, 1e-13 + 2.2e-13]}}
    result = compare(traj(actual), traj(expected), case64)
    assert result.equal, result.summary()
    assert result.max_rel_error == pytest.approx(2.2e-13), result.max_rel_error
    assert "max rel error to scale (max|a-b| / max|b| per quantity)" in result.summary(), result.summary()
    zero = compare(traj({"update": {"w": [0.0, 1e-13]}}), traj({"update": {"w": [0.0, 0.0]}}), case64)
    assert zero.equal and zero.max_rel_error == math.inf, zero.max_rel_error


# ------------------------------------------------------------------------------------------ structure

def test_transposed_weight_is_structural(case64):
    w = np.arange(12.0).reshape(3, 4)
    result = compare(traj({"param": {"linear0.weight": w.T}}), traj({"param": {"linear0.weight": w}}), case64)
    assert not result.equal, f"a [4, 3] weight compared equal to a [3, 4] one: {result.summary()}"
    assert "shape [4, 3] vs expected [3, 4]" in result.structural, result.structural
    assert result.mismatches == 0, f"a shape problem is structural, not {result.mismatches} mismatches"


def test_step_count_is_structural(case64):
    step = {"loss": {SCALAR: 1.0}}
    result = compare(traj(step, step), traj(step, step, step), case64)
    assert not result.equal, result.summary()
    assert "2 steps recorded vs 3 expected" in result.structural, result.structural
    assert result.mismatches == 0 and result.compared == 2, (result.mismatches, result.compared)


def test_parameter_names_are_structural(case64):
    result = compare(traj({"grad": {"a": [1.0]}}), traj({"grad": {"a": [1.0], "b": [2.0]}}), case64)
    assert not result.equal and "names ['a'] vs ['a', 'b']" in result.structural, result.structural


def test_quantities_only_on_one_side_are_listed_not_compared(case64):
    actual = traj({"loss": {SCALAR: 1.0}, "grad_regularized": {"w": [5.0]}})
    expected = traj({"loss": {SCALAR: 1.0}, "state.velocity": {"w": [6.0]}})
    result = compare(actual, expected, case64)
    assert result.equal, result.summary()
    assert result.quantities == ("loss",), result.quantities
    assert result.only_in_actual == ("grad_regularized",) and result.only_in_expected == ("state.velocity",), (
        result.only_in_actual, result.only_in_expected)


# ------------------------------------------------------------------------------------------ overrides

def test_per_quantity_tolerance_applies_to_that_quantity_only(tmp_path):
    case = load(tmp_path, tiny(tolerance={"quantities": {"loss": {"rtol": 0.0, "atol": 0.5}}}))
    assert tolerance_for(case, "loss") == Tolerance(rtol=0.0, atol=0.5), tolerance_for(case, "loss")
    assert tolerance_for(case, "grad") == F64, tolerance_for(case, "grad")
    actual = traj({"loss": {SCALAR: 1.4}, "grad": {"w": [1.4]}})
    expected = traj({"loss": {SCALAR: 1.0}, "grad": {"w": [1.0]}})
    result = compare(actual, expected, case)
    verdicts = {d.quantity: d.mismatches for d in result.details}
    assert verdicts == {"loss": 0, "grad": 1}, f"mismatches per quantity {verdicts}: loss within atol 0.5, grad not"
    assert result.first.quantity == "grad", result.first


def test_case_wide_tolerance_override(tmp_path):
    case = load(tmp_path, tiny(tolerance={"rtol": 0.1, "atol": 0.0}))
    result = compare(traj({"grad": {"w": [1.05, 2.5]}}), traj({"grad": {"w": [1.0, 2.0]}}), case)
    assert result.mismatches == 1 and result.first.index == (1,), result.summary()
