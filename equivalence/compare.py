"""Element-wise comparison of two runs, streamed step by step, with dtype-aware tolerances.

An element passes when ``|actual - expected| <= atol + rtol * |expected|`` (the rule of numpy.isclose and
torch.testing.assert_close), or, for float32 cases, within the bound derived from the measured float32
rounding (tolerance.py: an element bound and the RMS over the tensor, applied only where the table is
exceeded). NaN and Inf never pass, not even against themselves. Every element of every quantity at every
step is compared; what is kept per (step, quantity, parameter) is its summary (QuantityError).

The relative error reported is relative to the tensor's scale: max|a - b| / max|b| over each quantity of
each parameter at each step (``max_rel_error``), because the element-wise |a - b| / |b| of an element near
zero says nothing about a tensor (2.2 for a passing 1e-13 next to 1e-13 - 1e-13). It is what is reported;
the pass rule stays element-wise.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from .entry_summary import EntryErrors, entry_errors
from .record import Trajectory, quantity_rank
from .spec import Case, Tolerance
from .tolerance import DEFAULT_TOLERANCES, HYPER_TOLERANCE, Bound, TableRule, tolerance_for

__all__ = ["DEFAULT_TOLERANCES", "HYPER_TOLERANCE", "Accumulator", "Comparison", "Mismatch", "QuantityError",
           "compare", "compare_arrays", "tolerance_for"]

# Entries smaller than this are batched into one vectorised pass (a tiny case has thousands of small
# arrays); a larger one is compared on its own, without a concatenated copy.
BATCH_ELEMENTS = 1 << 16


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


@dataclass(slots=True)
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
    # its ratio exceeds 1 (NaN/Inf elements: inf). Under a derived bound (see tolerance.py), the larger of
    # the element ratio against the widened bound and the RMS error over its limit. What the plots show.
    max_tolerance_ratio: float = 0.0
    rms_error: float = 0.0
    allowed_rms: float | None = None  # set where a derived bound's RMS rule applied (some element beyond the table)
    rule: str = "table"


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
    rms_failures: int = 0  # entries whose elements all pass but whose RMS error exceeds a derived limit
    stopped_at: int | None = None  # compared up to this step only (a sensitivity check stopped once detected)

    @property
    def equal(self) -> bool:
        return self.mismatches == 0 and self.rms_failures == 0 and not self.structural

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
        elif self.rms_failures:
            parts.append(f"{self.rms_failures} (step, quantity, parameter) entries over their RMS limit; max abs "
                         f"error {self.max_abs_error:.3g}, {REL_ERROR_NAME} {self.max_rel_error:.3g}")
        if self.first is not None:
            parts.append(f"first divergence at {self.first.describe()}")
        if self.stopped_at is not None:
            parts.append(f"compared up to step {self.stopped_at}, where it was detected (a large model's "
                         f"sensitivity check stops there)")
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
            quantities: set[str] | None = None, rule=None) -> Comparison:
    """Compare every shared quantity at every step. ``quantities`` limits the comparison; ``rule`` gives
    each entry's bound (default: the table, or the case's hand-set tolerance)."""
    acc = Accumulator(case, quantities, rule)
    acc.initial(actual.initial, expected.initial)
    for index, (step_a, step_e) in enumerate(zip(actual.steps, expected.steps), start=1):
        acc.step(index, step_a, step_e)
    for step in actual.steps[len(expected.steps):]:
        acc.seen("actual", step)
    for step in expected.steps[len(actual.steps):]:
        acc.seen("expected", step)
    return acc.finish(len(actual.steps), len(expected.steps))


class Accumulator:
    """One comparison fed step by step, in step order: ``initial`` (the step-0 parameters), ``step`` for
    each step both runs recorded, ``seen`` for a step only one run has, then ``finish``. It keeps the
    per-entry summaries (QuantityError), the counts and the first divergence, never the arrays: small
    entries wait for a batched pass, but at most BATCH_ELEMENTS elements of them."""

    def __init__(self, case: Case, quantities: set[str] | None = None, rule=None, exclude: set[str] | None = None,
                 select=None):
        # quantities: the only ones compared (None: all); exclude: never compared; select(quantity) -> bool:
        # a predicate over the quantities a run turns out to record (the case's [compare] selection)
        self.case, self.only, self.exclude, self.select = case, quantities, exclude or set(), select
        self.rule = rule or TableRule(case)
        self.result = Comparison()
        self.q_actual: set[str] = set()
        self.q_expected: set[str] = set()
        self._problems: list[tuple] = []  # (sort key, text), ordered at finish as a whole-run pass would
        self._absent: list[tuple] = []  # (step, quantity, names_a, names_e): a problem if the quantity is shared
        self._pending: list[tuple] = []
        self._pending_size = 0
        self._same: dict[tuple, tuple] = {}  # this step's large entries by the identity of their arrays
        self._prefetched: int | None = None  # the step whose large entries ``prefetch`` started
        self._orders: dict[tuple, list[str]] = {}  # recorded quantities -> those compared, in order (``_order``)

    def initial(self, actual: dict, expected: dict) -> None:
        if not (actual and expected and self._compares("param")):
            return
        # Step 0: the starting parameters, so a layout or conversion bug shows before any arithmetic.
        if set(actual) != set(expected):
            self._problem((1,), f"initial params: names {sorted(actual)} vs {sorted(expected)}")
        for name in sorted(set(actual) & set(expected)):
            a, e = actual[name], expected[name]
            if a.shape != e.shape:
                self._problem((1,), f"step 0 param of {name}: shape {list(a.shape)} vs expected {list(e.shape)}")
                continue
            self._add((0, "param", name, a, e, self.rule.bound(0, "param", name)))

    def seen(self, side: str, step: dict) -> None:
        (self.q_actual if side == "actual" else self.q_expected).update(step)

    def prefetch(self, index: int, step_a: dict, step_e: dict) -> list[tuple]:
        """The kernels of step ``index``'s large entries, as jobs for ``start_kernels``; ``step`` with the same
        records then folds their results in order. Jobs of several pairs started together run at once. The
        entries' bounds must be known (for a derived rule: after the rounding check's step)."""
        self._same, self._prefetched = {}, index
        jobs = []
        for quantity in set(step_a) & set(step_e):
            if not self._compares(quantity):
                continue
            names_a, names_e = step_a[quantity], step_e[quantity]
            for name in set(names_a) & set(names_e):
                a, e = names_a[name], names_e[name]
                if a.shape == e.shape and a.size >= BATCH_ELEMENTS:
                    key, args = _kernel_call(a, e, self.rule.bound(index, quantity, name))
                    if key not in self._same:
                        future = Future()
                        self._same[key] = (a, e, future)
                        jobs.append((future, args))
        return jobs

    def step(self, index: int, step_a: dict, step_e: dict) -> None:
        if self._prefetched != index:
            self._same = {}
        self._prefetched = None
        bound = self.rule.bound
        for quantity in self._order(step_a, step_e, index):
            names_a, names_e = step_a[quantity], step_e[quantity]
            if names_a.keys() == names_e.keys():
                names = sorted(names_a)
            else:
                names = sorted(set(names_a) & set(names_e))
                self._problem((2, index, quantity_rank(quantity)),
                              f"step {index} {quantity}: names {sorted(names_a)} vs {sorted(names_e)}")
            for name in names:
                a, e = names_a[name], names_e[name]
                if a.shape != e.shape:
                    self._problem((2, index, quantity_rank(quantity)), f"step {index} {quantity} of {name}: shape "
                                                                       f"{list(a.shape)} vs expected {list(e.shape)}")
                    continue
                self._add((index, quantity, name, a, e, bound(index, quantity, name)))

    def _order(self, step_a: dict, step_e: dict, index: int) -> list[str]:
        """The quantities of a step both runs recorded that this comparison compares, in their rank order
        (remembered per set of recorded quantities: every step of a run records the same ones)."""
        if step_a.keys() == step_e.keys():
            recorded = tuple(step_a)
            order = self._orders.get(recorded)
            if order is None:
                self.q_actual.update(recorded)
                self.q_expected.update(recorded)
                order = self._orders[recorded] = sorted((q for q in recorded if self._compares(q)), key=quantity_rank)
            return order
        self.q_actual.update(step_a)
        self.q_expected.update(step_e)
        for quantity in set(step_a) ^ set(step_e):
            self._absent.append((index, quantity, sorted(step_a.get(quantity, {})), sorted(step_e.get(quantity, {}))))
        return sorted((q for q in set(step_a) & set(step_e) if self._compares(q)), key=quantity_rank)

    def finish(self, steps_actual: int, steps_expected: int) -> Comparison:
        self._flush()
        result = self.result
        shared = {q for q in self.q_actual & self.q_expected if self._compares(q)}
        result.quantities = tuple(sorted(shared, key=quantity_rank))
        result.only_in_actual = tuple(sorted(self.q_actual - self.q_expected, key=quantity_rank))
        result.only_in_expected = tuple(sorted(self.q_expected - self.q_actual, key=quantity_rank))
        if steps_actual != steps_expected:
            self._problem((0, 0), f"{steps_actual} steps recorded vs {steps_expected} expected")
        if not shared:
            self._problem((0, 1), "no quantity in common")
        for index, quantity, names_a, names_e in self._absent:
            if quantity in shared:
                self._problem((2, index, quantity_rank(quantity)), f"step {index} {quantity}: names {names_a} vs {names_e}")
        ordered = [text for _, _, text in sorted(self._problems, key=lambda p: (p[0], p[1]))]
        result.structural = "; ".join(dict.fromkeys(ordered))
        return result

    def parted(self) -> bool:
        """Whether the runs already differ (a mismatch, an RMS failure or a difference of structure), so
        that ``finish`` cannot call them equal: a search that only asks whether they are equal stops here."""
        self._flush()
        return bool(self.result.mismatches or self.result.rms_failures or self._problems)

    def _compares(self, quantity: str) -> bool:
        return (quantity not in self.exclude and (self.only is None or quantity in self.only)
                and (self.select is None or self.select(quantity)))

    def flushed_details(self) -> list[QuantityError]:
        """Every entry compared so far, pending ones included (for a pair whose errors others read)."""
        self._flush()
        return self.result.details

    def _problem(self, key: tuple, text: str) -> None:
        self._problems.append((key, len(self._problems), text))

    def _add(self, entry: tuple) -> None:
        size = entry[3].size
        if size >= BATCH_ELEMENTS:
            self._flush()
            if not _accumulate_large(self.result, entry, self._same):
                _accumulate(self.result, [entry])
            return
        self._pending.append(entry)
        self._pending_size += size
        if self._pending_size >= BATCH_ELEMENTS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            _accumulate(self.result, self._pending)
        self._pending, self._pending_size = [], 0


def _flat(arrays) -> np.ndarray:
    """One float64 vector of the entries' values (a view-free copy only where there are several)."""
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=np.float64).reshape(-1)
    return np.concatenate([x.reshape(-1) for x in arrays], dtype=np.float64)  # records are ndarrays


def _accumulate(result: Comparison, entries: list) -> None:
    """Compare the entries element-wise in one vectorised pass, then reduce per entry. An entry with an
    element outside the table and a derived bound is settled on its own (``_derived``). The first mismatch
    is the first bad element (or RMS failure) in entry order."""
    sizes_list = [entry[3].size for entry in entries]
    sizes = np.array(sizes_list)
    actual = _flat([entry[3] for entry in entries])
    expected = _flat([entry[4] for entry in entries])
    one = len(entries) == 1
    tolerances = [entry[5].tolerance for entry in entries]
    if one or all(t is tolerances[0] for t in tolerances):  # one tolerance: a scalar, not a repeated vector
        atol, rtol = tolerances[0].atol, tolerances[0].rtol
    else:
        atol = np.repeat([t.atol for t in tolerances], sizes)
        rtol = np.repeat([t.rtol for t in tolerances], sizes)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        abs_err = np.abs(actual - expected)
        abs_expected = np.abs(expected)
        table = abs_expected * rtol
        table += atol
        finite = np.isfinite(abs_err)  # NaN or Inf on either side makes the difference non-finite
        bad = ~(abs_err <= table)
        ratio = abs_err / table
        ratio[abs_err == 0] = 0.0
    if not finite.all():
        abs_err[~finite] = np.inf
        ratio[~finite] = np.inf
        bad |= ~finite
    ratio[np.isnan(ratio)] = np.inf
    ends = np.cumsum(sizes)
    starts = ends - sizes
    nonempty = sizes > 0
    magnitude = np.where(np.isfinite(abs_expected), abs_expected, 0.0)
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
    with np.errstate(invalid="ignore", over="ignore"):
        if one:
            rms_all = np.array([_rms(abs_err)])
        else:
            sumsq = np.zeros(len(entries))
            if nonempty.any():
                sumsq[nonempty] = np.add.reduceat(abs_err * abs_err, starts[nonempty])
            rms_all = np.sqrt(sumsq / np.maximum(sizes, 1))
    first = None  # (entry, flat index within the entry, problem) of the first divergence in this batch
    details = result.details
    counts, ratios, rmses = per_entry["count"].tolist(), per_entry["ratio"].tolist(), rms_all.tolist()
    abs_errors, rel_errors = per_entry["abs"].tolist(), per_entry["rel"].tolist()
    for k, (step, quantity, name, a, e, bound) in enumerate(entries):
        count = counts[k]
        if not count:  # the common case, without the work below
            if bound.scale is not None:  # the rounding check's scale follows every step, as in _accumulate_large
                bound.scale.observe(bound.key, _rms(expected[int(starts[k]):int(ends[k])]))
            details.append(QuantityError(step, quantity, name, abs_errors[k], rel_errors[k], 0, sizes_list[k],
                                         bound.tolerance, ratios[k], rmses[k], None, bound.rule))
            continue
        ratio_k, rms, allowed, rms_failed = ratios[k], rmses[k], None, False
        lo, hi = int(starts[k]), int(ends[k])
        if bound.derived:
            count, ratio_k, rms, allowed, element_bad = _derived(
                bound, abs_err[lo:hi], expected[lo:hi], table[lo:hi], finite[lo:hi], rms)
            rms_failed = count == 0 and rms > allowed
        else:
            element_bad = bad[lo:hi]
        details.append(QuantityError(step, quantity, name, abs_errors[k], rel_errors[k], count, sizes_list[k],
                                     bound.tolerance, ratio_k, rms, allowed, bound.rule))
        result.mismatches += count
        result.rms_failures += int(rms_failed)
        if first is None and result.first is None and (count or rms_failed):
            if count:
                local = int(np.argmax(element_bad))
                first = (k, local, "")
            else:
                local = int(np.argmax(abs_err[lo:hi]))
                first = (k, local, f"RMS error {rms:.3g} over the tensor > allowed {allowed:.3g} "
                                   f"({bound.rule} bound; every element within its bound)")
    result.compared += int(sizes.sum())
    result.max_abs_error = max(result.max_abs_error, float(per_entry["abs"].max(initial=0.0)))
    result.max_rel_error = max(result.max_rel_error, float(per_entry["rel"].max(initial=0.0)))
    if first is not None:
        k, local, problem = first
        step, quantity, name, a, e, bound = entries[k]
        flat = int(starts[k]) + local
        idx = tuple(int(i) for i in np.unravel_index(local, a.shape)) if a.shape else ()
        av, ev = float(actual[flat]), float(expected[flat])
        tol = bound.tolerance
        problem = problem or _nonfinite_problem(av, ev) or (
            f"abs error {abs(av - ev):.3g} > atol {tol.atol:g} + rtol {tol.rtol:g} * |expected|"
            + _widened(bound, ev))
        result.first = Mismatch(step, quantity, name, idx, av, ev, problem)


def _widened(bound: Bound, expected: float) -> str:
    """The derived element bound, in a first divergence's problem, where it is wider than the table."""
    table = bound.tolerance.atol + bound.tolerance.rtol * abs(expected)
    return f" and > {bound.element_floor:.3g} ({bound.rule} bound)" if bound.element_floor > table else ""


def _accumulate_large(result: Comparison, entry: tuple, same: dict | None = None) -> bool:
    """One large entry in one compiled pass (entry_summary.py; at 1M parameters a step has dozens of them);
    False, leaving it to ``_accumulate``, when some value is not finite. ``same`` holds the errors of the
    step's entries by array identity: a run that records one array under two quantities (the gradient as
    ``grad`` and, without a penalty, as ``grad_regularized``) has it compared once."""
    step, quantity, name, a, e, bound = entry
    tol = bound.tolerance
    derived = bound.derived
    key, args = _kernel_call(a, e, bound)
    floor = args[4]
    if same is not None and key in same:
        errors = same[key][2]
        if isinstance(errors, Future):  # started by Accumulator.prefetch
            errors = errors.result()
    else:
        errors = entry_errors(*args)
        if same is not None:
            same[key] = (a, e, errors)  # the arrays are held so that their ids stay theirs for the step
    if not errors.finite:
        return False
    rms, allowed = errors.rms, None
    count, ratio, first = errors.table_count, errors.table_ratio, errors.table_first
    if count and derived:
        if bound.rms_relative is not None:
            scale = errors.expected_rms
            allowed = bound.rms_relative * (bound.scale.observe(bound.key, scale) if bound.scale is not None else scale)
        else:
            allowed = bound.rms_limit
        allowed = max(allowed, 0.0)
        # an infinite floor (the rounding check): every element passes, the RMS decides
        count, element_ratio, first = (errors.wide_count, errors.wide_ratio, errors.wide_first) if floor is not None \
            else (0, 0.0, -1)
        rms_ratio = rms / allowed if allowed > 0 else (np.inf if rms > 0 else 0.0)
        ratio = max(element_ratio, rms_ratio)
    elif bound.scale is not None:  # the rounding check's scale follows every step, within the table too
        bound.scale.observe(bound.key, errors.expected_rms)
    max_abs = errors.max_abs
    max_rel = max_abs / errors.max_expected if errors.max_expected > 0 else (0.0 if max_abs == 0 else np.inf)
    rms_failed = allowed is not None and count == 0 and rms > allowed
    result.details.append(QuantityError(step, quantity, name, max_abs, max_rel, count, int(a.size), tol, ratio, rms,
                                        allowed, bound.rule))
    result.compared += int(a.size)
    result.mismatches += count
    result.rms_failures += int(rms_failed)
    result.max_abs_error = max(result.max_abs_error, max_abs)
    result.max_rel_error = max(result.max_rel_error, max_rel)
    if result.first is None and (count or rms_failed):
        flat_a, flat_e = np.asarray(a).reshape(-1), np.asarray(e).reshape(-1)
        local = first if count else int(np.argmax(np.abs(np.subtract(flat_a, flat_e, dtype=np.float64))))
        idx = tuple(int(i) for i in np.unravel_index(local, a.shape)) if a.shape else ()
        av, ev = float(flat_a[local]), float(flat_e[local])
        if count:
            problem = (f"abs error {abs(av - ev):.3g} > atol {tol.atol:g} + rtol {tol.rtol:g} * |expected|"
                       + _widened(bound, ev))
        else:
            problem = (f"RMS error {rms:.3g} over the tensor > allowed {allowed:.3g} ({bound.rule} bound; "
                       f"every element within its bound)")
        result.first = Mismatch(step, quantity, name, idx, av, ev, problem)
    return True


def _kernel_call(a, e, bound: Bound) -> tuple[tuple, tuple]:
    """(key by array identity, arguments of ``entry_errors``) of one large entry under its bound."""
    tol = bound.tolerance
    floor = bound.element_floor if bound.derived and np.isfinite(bound.element_floor) else None
    values_rms = bound.scale is not None or (bound.derived and bound.rms_relative is not None)
    return (id(a), id(e), tol.atol, tol.rtol, floor, values_rms), (a, e, tol.atol, tol.rtol, floor, values_rms)


def start_kernels(jobs: list[tuple], executor) -> None:
    """Run ``prefetch``'s jobs (of any pairs) on ``executor``'s threads, where the compiled kernel runs without
    the GIL: the entries of one step, every pair's, are compared two at a time."""
    for future, args in jobs:
        try:
            executor.submit(_run_job, future, args)
        except BaseException as exc:  # a pool shut down: the waiting pair raises instead of hanging
            future.set_exception(exc)


def _run_job(future: Future, args: tuple) -> None:
    try:
        future.set_result(entry_errors(*args))
    except BaseException as exc:
        future.set_exception(exc)


def _rms(values: np.ndarray) -> float:
    """Root mean square of a flat float64 vector (0 when empty)."""
    return float(np.sqrt(np.dot(values, values) / max(values.size, 1)))


def _derived(bound: Bound, abs_err, expected, table, finite, rms: float):
    """An entry with some element outside the table, under a derived bound: (elements beyond the widened
    element bound, tolerance ratio, RMS error, allowed RMS, mask of the bad elements). ``finite`` is None
    when every value is finite."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        widened = np.maximum(table, bound.element_floor)
        bad = np.greater(abs_err, widened)
        if finite is not None:
            bad |= ~finite
        count = int(np.count_nonzero(bad))
        if bound.rms_relative is not None:
            scale = _rms(expected)
            allowed = bound.rms_relative * (bound.scale.observe(bound.key, scale) if bound.scale is not None else scale)
        else:
            allowed = bound.rms_limit
        allowed = max(allowed, 0.0)
        if np.isfinite(bound.element_floor):
            np.divide(abs_err, widened, out=widened)
            element_ratio = float(np.fmax.reduce(widened)) if widened.size else 0.0
        else:
            element_ratio = 0.0
        rms_ratio = rms / allowed if allowed > 0 else (np.inf if rms > 0 else 0.0)
    ratio = max(0.0 if np.isnan(element_ratio) else element_ratio, rms_ratio)
    return count, ratio, rms, allowed, bad


def _json_float(x: float):
    """JSON has no NaN/Inf; they are written as strings so the report stays valid JSON."""
    return x if np.isfinite(x) else str(x)

