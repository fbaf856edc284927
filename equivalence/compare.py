"""Element-wise comparison of two trajectories with dtype-aware tolerances.

An element passes when ``|actual - expected| <= atol + rtol * |expected|`` (the rule of numpy.isclose and
torch.testing.assert_close). NaN and Inf never pass, not even against themselves. Every element of every
quantity at every step is compared; nothing is averaged.

The relative error reported is relative to the tensor's scale: max|a - b| / max|b| over each quantity of
each parameter at each step (``max_rel_error``), because the element-wise |a - b| / |b| of an element near
zero says nothing about a tensor (2.2 for a passing 1e-13 next to 1e-13 - 1e-13). It is what is reported;
the pass rule stays element-wise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .record import Trajectory, quantity_rank
from .spec import Case, Tolerance

# Defaults per dtype. float64: the frameworks and NumPy sum in different orders, which costs a few ulps
# per op (~1e-16 relative), far below 1e-10. float32: a few ulps (6e-8) per op across a short training
# run stays below 1e-5 relative; atol covers elements that cancel to ~0 (an update of a tiny gradient).
# A lr perturbation of 1e-3 is 100x above either rtol, which the sensitivity check verifies per case.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-10, atol=1e-12),
    "float32": Tolerance(rtol=1e-5, atol=1e-6),
}


# Hyper-parameters are configuration read back from the optimizer, not computed: Python floats, or tensors
# of the parameter dtype (Paddle Rprop's etas), so they agree to float32 rounding in any case dtype, and a
# float32 case still tells eps 1e-6 from 1e-10. Every differing default differs by far more than 1e-7.
HYPER_TOLERANCE = Tolerance(rtol=1e-7, atol=0.0)


def tolerance_for(case: Case, quantity: str) -> Tolerance:
    spec = case.tolerance
    if quantity in spec.quantities:
        return spec.quantities[quantity]
    if quantity.startswith("hyper."):
        return HYPER_TOLERANCE
    if case.dropout is not None and (sampled := case.dropout.sampling_tolerance(quantity)) is not None:
        return sampled  # keep_ratio / batch_agreement: the binomial spread of the draw
    if spec.rtol is not None:
        return Tolerance(rtol=spec.rtol, atol=spec.atol)
    return DEFAULT_TOLERANCES[case.dtype]


@dataclass(frozen=True)
class Mismatch:
    """Where two runs first part: the step, quantity, parameter and index, with both values."""

    step: int
    quantity: str
    name: str
    index: tuple[int, ...]
    actual: float
    expected: float
    problem: str = ""

    def describe(self) -> str:
        where = f"step {self.step}, {self.quantity}"
        if self.name != "-":
            where += f" of {self.name}"
        if self.index:
            where += f" at {list(self.index)}"
        text = f"{where}: {self.actual!r} vs expected {self.expected!r}"
        return f"{text} ({self.problem})" if self.problem else text

    def to_json(self) -> dict:
        return {"step": self.step, "quantity": self.quantity, "parameter": self.name, "index": list(self.index),
                "actual": _json_float(self.actual), "expected": _json_float(self.expected), "problem": self.problem}


@dataclass
class QuantityError:
    """Errors of one quantity of one parameter at one step."""

    step: int
    quantity: str
    name: str
    max_abs_error: float
    max_rel_error: float  # max|a - b| / max|b| of this entry (relative to the tensor's scale)
    mismatches: int
    size: int
    tolerance: Tolerance
    # max of |a - b| / (atol + rtol*|b|), the error in units of the allowed error: an element mismatches when
    # its ratio exceeds 1 (NaN/Inf elements: inf). What the report's plots show.
    max_tolerance_ratio: float = 0.0


REL_ERROR_NAME = "max rel error to scale (max|a-b| / max|b| per quantity)"


@dataclass
class Comparison:
    mismatches: int = 0
    compared: int = 0
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    first: Mismatch | None = None
    quantities: tuple[str, ...] = ()
    only_in_actual: tuple[str, ...] = ()
    only_in_expected: tuple[str, ...] = ()
    details: list[QuantityError] = field(default_factory=list)
    structural: str = ""  # a difference of structure (step count, shapes, names), besides values

    @property
    def equal(self) -> bool:
        return self.mismatches == 0 and not self.structural

    def summary(self) -> str:
        if self.equal:
            return (f"equal on {self.compared} elements of {', '.join(self.quantities)}; "
                    f"max abs error {self.max_abs_error:.3g}, {REL_ERROR_NAME} {self.max_rel_error:.3g}")
        parts = []
        if self.structural:
            parts.append(self.structural)
        if self.mismatches:
            parts.append(f"{self.mismatches} of {self.compared} elements differ; max abs error "
                         f"{self.max_abs_error:.3g}, {REL_ERROR_NAME} {self.max_rel_error:.3g}")
        if self.first is not None:
            parts.append(f"first divergence at {self.first.describe()}")
        return "; ".join(parts)


def compare_arrays(actual: np.ndarray, expected: np.ndarray, tolerance: Tolerance):
    """(mismatch mask, abs error, rel error) element-wise. Non-finite values always mismatch."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        abs_err = np.abs(actual - expected)
        rel_err = np.where(expected != 0, abs_err / np.abs(expected), np.where(abs_err == 0, 0.0, np.inf))
        finite = np.isfinite(actual) & np.isfinite(expected)
        ok = finite & (abs_err <= tolerance.atol + tolerance.rtol * np.abs(expected))
    abs_err = np.where(finite, abs_err, np.inf)
    rel_err = np.where(finite, rel_err, np.inf)
    return ~ok, abs_err, rel_err


def _nonfinite_problem(a: float, e: float) -> str:
    if np.isnan(a) and np.isnan(e):
        return "NaN on both sides"
    if np.isnan(a) or np.isnan(e):
        return "NaN"
    if not (np.isfinite(a) and np.isfinite(e)):
        return "Inf on both sides" if a == e else "Inf"
    return ""


def compare(actual: Trajectory, expected: Trajectory, case: Case,
            quantities: set[str] | None = None) -> Comparison:
    """Compare every shared quantity at every step. ``quantities`` limits the comparison."""
    result = Comparison()
    q_actual, q_expected = actual.quantities(), expected.quantities()
    shared = q_actual & q_expected
    if quantities is not None:
        shared &= quantities
    result.quantities = tuple(sorted(shared, key=quantity_rank))
    result.only_in_actual = tuple(sorted(q_actual - q_expected, key=quantity_rank))
    result.only_in_expected = tuple(sorted(q_expected - q_actual, key=quantity_rank))
    problems = []
    entries = []  # (step, quantity, parameter, actual, expected, tolerance), in the order a step computes them
    if len(actual.steps) != len(expected.steps):
        problems.append(f"{len(actual.steps)} steps recorded vs {len(expected.steps)} expected")
    if not shared:
        problems.append("no quantity in common")
    if actual.initial and expected.initial and (quantities is None or "param" in quantities):
        # Step 0: the starting parameters, so a layout or conversion bug shows before any arithmetic.
        if set(actual.initial) != set(expected.initial):
            problems.append(f"initial params: names {sorted(actual.initial)} vs {sorted(expected.initial)}")
        for name in sorted(set(actual.initial) & set(expected.initial)):
            a, e = actual.initial[name], expected.initial[name]
            if a.shape != e.shape:
                problems.append(f"step 0 param of {name}: shape {list(a.shape)} vs expected {list(e.shape)}")
                continue
            entries.append((0, "param", name, a, e, tolerance_for(case, "param")))
    for index, (step_a, step_e) in enumerate(zip(actual.steps, expected.steps), start=1):
        for quantity in result.quantities:
            names_a, names_e = step_a.get(quantity, {}), step_e.get(quantity, {})
            if set(names_a) != set(names_e):
                problems.append(f"step {index} {quantity}: names {sorted(names_a)} vs {sorted(names_e)}")
            tol = tolerance_for(case, quantity)
            for name in sorted(set(names_a) & set(names_e)):
                a, e = names_a[name], names_e[name]
                if a.shape != e.shape:
                    problems.append(f"step {index} {quantity} of {name}: shape {list(a.shape)} "
                                    f"vs expected {list(e.shape)}")
                    continue
                entries.append((index, quantity, name, a, e, tol))
    _accumulate(result, entries)
    result.structural = "; ".join(dict.fromkeys(problems))
    return result


def _accumulate(result: Comparison, entries: list) -> None:
    """Compare every entry element-wise in one vectorised pass over all of them (a run has thousands of small
    arrays), then reduce per entry. The first mismatch is the first bad element in entry order."""
    if not entries:
        return
    sizes = np.array([a.size for _, _, _, a, _, _ in entries])
    actual = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for _, _, _, a, _, _ in entries])
    expected = np.concatenate([np.asarray(e, dtype=np.float64).reshape(-1) for _, _, _, _, e, _ in entries])
    atol = np.repeat([t.atol for *_, t in entries], sizes)
    rtol = np.repeat([t.rtol for *_, t in entries], sizes)
    bad, abs_err, _ = compare_arrays(actual, expected, Tolerance(rtol=rtol, atol=atol))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(abs_err == 0, 0.0, abs_err / (atol + rtol * np.abs(expected)))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    nonempty = sizes > 0
    magnitude = np.where(np.isfinite(expected), np.abs(expected), 0.0)
    per_entry = {}
    for key, values, reduce in (("count", bad.astype(np.int64), np.add), ("abs", abs_err, np.maximum),
                                ("scale", magnitude, np.maximum), ("ratio", ratio, np.maximum)):
        out = np.zeros(len(entries), dtype=values.dtype)
        if nonempty.any():
            out[nonempty] = reduce.reduceat(values, starts[nonempty])
        per_entry[key] = out
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = per_entry["scale"]
        per_entry["rel"] = np.where(scale > 0, per_entry["abs"] / np.where(scale > 0, scale, 1.0),
                                    np.where(per_entry["abs"] == 0, 0.0, np.inf))
    for k, (step, quantity, name, a, _, tol) in enumerate(entries):
        detail = QuantityError(step, quantity, name, float(per_entry["abs"][k]), float(per_entry["rel"][k]),
                               int(per_entry["count"][k]), int(a.size), tol, float(per_entry["ratio"][k]))
        result.details.append(detail)
    result.compared += int(sizes.sum())
    result.mismatches += int(per_entry["count"].sum())
    result.max_abs_error = max(result.max_abs_error, float(per_entry["abs"].max(initial=0.0)))
    result.max_rel_error = max(result.max_rel_error, float(per_entry["rel"].max(initial=0.0)))
    if result.first is None and bad.any():
        flat = int(np.argmax(bad))
        k = int(np.searchsorted(ends, flat, side="right"))
        step, quantity, name, a, e, tol = entries[k]
        local = flat - int(starts[k])
        idx = tuple(int(i) for i in np.unravel_index(local, a.shape)) if a.shape else ()
        av, ev = float(actual[flat]), float(expected[flat])
        problem = _nonfinite_problem(av, ev) or (
            f"abs error {abs(av - ev):.3g} > atol {tol.atol:g} + rtol {tol.rtol:g} * |expected|")
        result.first = Mismatch(step, quantity, name, idx, av, ev, problem)


def _json_float(x: float):
    """JSON has no NaN/Inf; they are written as strings so the report stays valid JSON."""
    return x if np.isfinite(x) else str(x)

