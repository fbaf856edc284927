"""Run cases: framework runs in their workers, references here, then one Result per Check."""

from __future__ import annotations

import datetime
import platform
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import explain, reference, versions
from .backends import BACKENDS
from .backends.common import DEVICE
from .compare import Comparison, Mismatch, compare
from .margins import margin_note
from .perturbations import BOOKKEEPING, detected
from .plan import PERTURBED, REFERENCE, Check, for_versions, implementations, perturb, plan, uses_random_masks
from .record import Trajectory
from .spec import Case, SpecError, discover, load_case, mark_duplicates
from .workers import InProcessBackend, Outcome, WorkerBackend
from .pair.spec import PairCase, load_any

SCHEMA_VERSION = 2  # 2: explanation of every divergent result; the not-applicable status
# A framework that cannot express a route (not-applicable) is its own status, apart from a check that did not
# run for another reason (skipped: the framework is missing, or outside the case's version range); neither fails.
STATUSES = ("pass", "fail", "error", "skipped", "not-applicable")
NOT_FAILING = ("pass", "skipped", "not-applicable")


@dataclass
class Result:
    case: str
    implementation: str
    compared_with: str
    kind: str
    expected: str
    observed: str  # equal | divergent | not-applicable | error | skipped
    status: str  # pass | fail | error | skipped | not-applicable
    message: str
    file: str = ""
    tags: tuple[str, ...] = ()
    reason: str = ""
    references: tuple[str, ...] = ()
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    mismatches: int | None = None
    compared: int | None = None
    first_divergence: Mismatch | None = None
    explanation: explain.Explanation | None = None
    comparison: Comparison | None = field(default=None, repr=False)

    @property
    def test_id(self) -> str:
        if self.kind == "spec":  # the pytest plugin's id for a malformed case file
            return f"{self.case}[spec]"
        return Check(self.case, self.implementation, self.compared_with, self.kind).test_id

    def to_json(self) -> dict:
        def num(x):
            return None if x is None else (x if np.isfinite(x) else str(x))
        return {
            "case": self.case, "implementation": self.implementation, "compared_with": self.compared_with,
            "kind": self.kind, "expected": self.expected, "observed": self.observed, "status": self.status,
            "max_abs_error": num(self.max_abs_error), "max_rel_error": num(self.max_rel_error),
            "mismatches": self.mismatches, "compared_elements": self.compared,
            "first_divergence": None if self.first_divergence is None else self.first_divergence.to_json(),
            "explanation": None if self.explanation is None else self.explanation.to_json(),
            "message": self.message, "reason": self.reason, "references": list(self.references),
            "tags": list(self.tags), "file": self.file,
        }


@dataclass
class RunReport:
    results: list[Result]
    environment: dict

    @property
    def ok(self) -> bool:
        return all(r.status in NOT_FAILING for r in self.results)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for r in self.results:
            counts[r.status] += 1
        return counts


@dataclass
class CaseRun:
    """Everything computed for one case; kept so `show` can print per-step detail."""
    case: Case
    checks: list[Check]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    references: dict[str, Trajectory] = field(default_factory=dict)
    reference_error: str = ""
    explained: dict = field(default_factory=dict)  # implementation -> flavour set reproducing it (explain.py)
    flavoured: dict = field(default_factory=dict)  # repr(flavoured case) -> its reference, shared by the checks


def load_all(paths) -> list[Case | SpecError]:
    """Every case under the paths; a file that cannot be loaded becomes its SpecError, in place."""
    loaded: list[Case | SpecError] = []
    for path in discover(paths):
        try:
            loaded.append(load_any(path))
        except SpecError as exc:
            loaded.append(exc)
    return mark_duplicates(loaded)


def case_id_of_error(error: SpecError) -> str:
    return Path(error.file).stem


class Runner:
    """Owns one worker per backend for its lifetime, so each framework is imported once per run."""

    def __init__(self, backends: dict[str, str] | None = None, in_process: bool = False, timeout: float = 300.0,
                 progress=None):
        # progress(backend, cases_done): called from each backend's thread after each case (console.Progress).
        self.progress = progress
        self.backend_modules = dict(BACKENDS if backends is None else backends)
        factory = InProcessBackend if in_process else WorkerBackend
        self.backends = {name: factory(name, module, timeout=timeout) for name, module in self.backend_modules.items()}

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def environment(self) -> dict:
        env = {
            "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "machine": platform.machine(), "device": DEVICE,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "executable": sys.executable,
        }
        for name, backend in self.backends.items():
            info = backend.info
            env[name] = (info.versions.get(name, "?") if info and info.available
                         else f"unavailable ({info.reason})" if info else "not started")
        return env

    def run(self, items: list[Case | SpecError]) -> RunReport:
        names = list(self.backends)
        errors: list[Result] = []
        case_runs: list[CaseRun] = []
        for item in items:
            if isinstance(item, PairCase):  # a user's own model pair (equivalence/pair), run below
                continue
            if isinstance(item, SpecError):
                errors.append(_spec_error_result(item))
                continue
            try:
                case_runs.append(CaseRun(item, plan(item, names)))
            except SpecError as exc:
                errors.append(_spec_error_result(exc, item))
        threads = [threading.Thread(target=self._run_backend, args=(name, case_runs), daemon=True) for name in names]
        for t in threads:
            t.start()
        for cr in case_runs:  # references overlap with the framework workers
            self._run_references(cr)
        for t in threads:
            t.join()
        results = errors[:]
        results += run_pairs([i for i in items if isinstance(i, PairCase)], self.backends)
        installed = self.installed_versions()
        for cr in case_runs:
            results += [evaluate(cr, check, installed) for check in cr.checks]
        return RunReport(results, self.environment())

    def installed_versions(self) -> dict[str, str]:
        """Framework versions reported by the workers that started (a version range needs them)."""
        found = {}
        for backend in self.backends.values():
            if backend.info is not None and backend.info.available:
                found.update(backend.info.versions)
        return found

    def _outside_range(self, name: str, case: Case) -> str:
        """Why the installed framework is outside the case's ``requires`` range; empty when inside."""
        if name not in case.requires:
            return ""
        backend = self.backends[name]
        if backend.info is None:
            backend.start()
        if not backend.info.available:
            return ""  # its runs report the missing framework instead
        missed = versions.misses({name: case.requires[name]}, backend.info.versions)
        return f"{missed[0]} (the case's requires.{name})" if missed else ""

    def _run_backend(self, name: str, case_runs: list[CaseRun]) -> None:
        backend = self.backends[name]
        for done, cr in enumerate(case_runs, start=1):
            outside = self._outside_range(name, cr.case)
            for b, route, impl in implementations(cr.case, [name]):
                if outside:
                    cr.outcomes[impl] = Outcome("skipped", message=outside)
                    continue
                try:
                    cr.outcomes[impl] = backend.run(cr.case, route)
                except Exception as exc:  # a harness bug must still leave a result
                    cr.outcomes[impl] = Outcome("error", message=f"harness: {type(exc).__name__}: {exc}",
                                                detail=traceback.format_exc())
            if self.progress is not None:
                self.progress(name, done)

    def _run_references(self, cr: CaseRun) -> None:
        case = cr.case
        try:
            cr.references[REFERENCE] = reference.run(case)
            for check in cr.checks:
                if check.kind == "rounding":
                    cr.references[check.implementation] = reference.run(case, dtype=case.dtype)
                elif check.kind == "sensitivity":
                    name = check.implementation[len(PERTURBED):]
                    cr.references[check.implementation] = reference.run(perturb(case, name))
        except Exception as exc:
            cr.reference_error = f"reference failed: {type(exc).__name__}: {exc}"


def run_pairs(pairs: list[PairCase], backends: dict) -> list[Result]:
    from .pair.run import run_pair
    return [r for pc in pairs for r in run_pair(pc, backends).results]


def _spec_error_result(error: SpecError, case: Case | None = None) -> Result:
    return Result(case=case.id if case else case_id_of_error(error), implementation="spec", compared_with="-",
                  kind="spec", expected="equal", observed="error", status="error", message=str(error),
                  file=error.file, tags=case.tags if case else ())


def _trajectory(cr: CaseRun, name: str) -> tuple[Trajectory | None, Outcome | None]:
    if name in cr.references:
        return cr.references[name], None
    outcome = cr.outcomes.get(name)
    if outcome is None:
        return None, Outcome("error", message=f"{name} did not run")
    return (outcome.trajectory, None) if outcome.status == "ok" else (None, outcome)


def evaluate(cr: CaseRun, check: Check, installed: dict[str, str] | None = None) -> Result:
    case = cr.case
    check, version_note = for_versions(check, installed or {})
    base = dict(case=case.id, implementation=check.implementation, compared_with=check.compared_with,
                kind=check.kind, expected=check.expected, file=case.path, tags=case.tags,
                reason=check.reason, references=check.references)
    if cr.reference_error and (check.compared_with == REFERENCE or check.backend is None):
        return Result(observed="error", status="error", message=cr.reference_error, **base)
    actual, problem = _trajectory(cr, check.implementation)
    expected, other_problem = (None, None)
    if actual is not None:
        expected, other_problem = _trajectory(cr, check.compared_with)
    problem = problem or other_problem
    if problem is not None:
        side = check.implementation if actual is None else check.compared_with
        observed = {"not-applicable": "not-applicable", "skipped": "skipped"}.get(problem.status, "error")
        status = observed  # error, skipped or not-applicable: the check did not compare
        prefix = "" if side == check.implementation else f"{side}: "
        return Result(observed=observed, status=status, message=prefix + problem.message, **base)

    quantities = None
    if case.model is not None and case.model.init == "framework_default":
        quantities = {"init_z"}  # each framework trains from its own start: only the starts' distributions compare
    elif uses_random_masks(case):
        if check.kind == "direct":
            if case.kind != "dropout":
                return Result(observed="not-applicable", status="not-applicable",
                              message="random dropout masks differ between frameworks; each is compared with the "
                                      "reference replaying its own mask", **base)
            # eval_output is the only mask-free quantity, unless p = 0 or 1 leaves the frameworks no draw
            quantities = None if case.dropout.p in (0.0, 1.0) else {"eval_output"}
        elif check.compared_with == REFERENCE and check.backend is not None:
            expected = reference.run(case, recorded=actual)
            quantities = actual.quantities() - {"dropout_mask"}  # replayed, equal by construction
    comparison = compare(actual, expected, case, _selected(case, quantities, actual, expected))
    observed = "equal" if comparison.equal else "divergent"
    if check.kind == "sensitivity" and observed == "divergent" and not detected(comparison):
        observed = "equal"  # seen on the lr or a hyper-parameter only: no verdict on the training state can fail
    explanation = None
    if observed == "divergent":  # the kept trajectories; a streaming runner passes a re-run instead
        explanation = explain.for_check(case, check, lambda name: _trajectory(cr, name)[0],
                                        _reproduces(cr), cr.explained)
    status, message = _verdict(check, comparison, observed, explanation)
    message += margin_note(case, comparison)
    if observed != check.expected and version_note:
        message += f" (note: {version_note})"
    return Result(observed=observed, status=status,
                  message=message, max_abs_error=comparison.max_abs_error,
                  max_rel_error=comparison.max_rel_error, mismatches=comparison.mismatches,
                  compared=comparison.compared, first_divergence=comparison.first, explanation=explanation,
                  comparison=comparison, **base)


# Flavoured references kept per case, in recorded elements: each implementation's search runs the same ones.
FLAVOURED_CACHE_ELEMENTS = 2_000_000


def _reproduces(cr: CaseRun):
    """compare_fn of explain.py: does the reference of a flavoured case equal the trajectory, compared as the
    case's equivalence checks compare it (a random mask replayed, not compared)?"""
    case = cr.case

    def compare_fn(actual: Trajectory, flavoured: Case) -> bool:
        if uses_random_masks(case):
            expected = reference.run(flavoured, recorded=actual)
            quantities = _selected(case, actual.quantities() - {"dropout_mask"}, actual, expected)
        else:
            expected = _flavoured_reference(cr, flavoured)
            quantities = _selected(case, None, actual, expected)
        return compare(actual, expected, case, quantities).equal
    return compare_fn


def _flavoured_reference(cr: CaseRun, flavoured: Case) -> Trajectory:
    key = repr(flavoured)
    if key not in cr.flavoured:
        trajectory = reference.run(flavoured)
        size = sum(a.size for step in trajectory.steps for arrays in step.values() for a in arrays.values())
        if size * (len(cr.flavoured) + 1) > FLAVOURED_CACHE_ELEMENTS:
            return trajectory
        cr.flavoured[key] = trajectory
    return cr.flavoured[key]


def _selected(case: Case, quantities: set[str] | None, actual: Trajectory, expected: Trajectory) -> set[str] | None:
    """The quantities a check compares: those the check allows (None: all) that the case's [compare] selects."""
    if not case.compare.restricts:
        return quantities
    candidates = quantities if quantities is not None else actual.quantities() | expected.quantities()
    return {q for q in candidates if case.compare.selects(q)}


def _verdict(check: Check, comparison: Comparison, observed: str, explanation) -> tuple[str, str]:
    """(status, message); a divergence of another kind than the case declares fails."""
    message = _message(check, comparison, observed)
    if observed != check.expected:
        return "fail", message
    if observed == "divergent" and check.divergence_kind and explanation.kind != check.divergence_kind:
        return "fail", (f"the case expects a {check.divergence_kind} divergence, but it is {explanation.kind}: "
                        f"{explanation.text} ({check.reason})")
    return "pass", message


def _message(check: Check, comparison: Comparison, observed: str) -> str:
    summary = comparison.summary()
    if observed == check.expected:
        if check.expected == "divergent":
            return f"diverges as expected ({check.reason}): {summary}"
        return summary
    if check.kind == "sensitivity":
        if not comparison.equal:
            return (f"{check.implementation} differs from the reference only on bookkeeping quantities "
                    f"({', '.join(BOOKKEEPING)}); the case's tolerances on the quantities that carry the training "
                    f"state cannot tell it apart, so its 'equal' verdicts could not fail: {summary}")
        tol = {d.tolerance for d in comparison.details}
        return (f"the case's tolerance ({', '.join(f'rtol={t.rtol:g} atol={t.atol:g}' for t in tol)}) cannot tell "
                f"{check.implementation} from the reference, so its 'equal' verdicts could not fail: {summary}")
    if check.expected == "divergent":
        return f"stale: the frameworks now agree, but the case expects a divergence ({check.reason}): {summary}"
    return f"diverges from {check.compared_with}: {summary}"

