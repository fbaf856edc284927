"""Run cases: framework runs in their workers, references here, compared step by step as the runs stream
in (streaming.py), then one Result per Check."""

from __future__ import annotations

import datetime
import platform
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import explain, reference, versions
from .flavour_search import reproduces
from .backends import BACKENDS
from .baseline import STATUSES  # one list for reports and baselines (baseline.py stays framework-free)
from .backends.common import DEVICE
from .compare import Comparison, Mismatch
from .harness_process import harness_settings
from .margins import margin_note
from .perturbations import BOOKKEEPING, detected
from .plan import PERTURBED, REFERENCE, Check, for_versions, implementations, perturb, plan, uses_random_masks
from .record import Trajectory
from .spec import Case, SpecError, discover, load_case, mark_duplicates
from .streaming import CaseStreams
from .workers import POLL_S, InProcessBackend, Outcome, WorkerBackend, wait_for_any
from .pair.spec import PairCase, load_any

SCHEMA_VERSION = 2  # 2: explanation of every divergent result; the not-applicable status
# A framework that cannot express a route (not-applicable) is its own status, apart from a check that did not
# run for another reason (skipped: the framework is missing, or outside the case's version range); neither fails.
NOT_FAILING = ("pass", "skipped", "not-applicable")
# Records a case may hold before its framework runs are read in lockstep (a tiny case runs freely: a worker
# that waits for the other costs a round trip per message). At 1M parameters a step of the float64 reference
# and of one framework is some 60 MB, so one framework runs a step or two ahead of the other (while Torch
# still imports its compiler stack, Paddle's first steps are compared); at 10M parameters they go in lockstep.
# Raising it buys little time for much memory (256 MB: peak RSS of the tree 2.2 GB at 1M x 100).
HOLD_FREELY = 96 << 20
# Cases a worker may be sent ahead of the one the harness is reading: a small case takes a worker some 30 ms
# and the harness some 60 ms, but either varies from case to case; a queue of a few absorbs the variation.
AHEAD_CASES = 3
AHEAD_CASE_BYTES = 1 << 20  # references of one case computed while the frameworks import (the default cases: <1 MB)
START_POLL_S = 0.02  # how often the runner looks for a starting worker's "ready" while it waits for the other
# Elements a divergent check may have compared for its explanation to be searched: the search re-runs the
# implementation whole (kept in memory) and the reference under up to explain.MAX_RUNS flavours.
EXPLAIN_ELEMENTS = 4_000_000


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
    """One case: its checks, and the streams that compared them (per-step summaries, never whole runs)."""
    case: Case
    checks: list[Check]
    streams: CaseStreams | None = None
    explained: dict = field(default_factory=dict)  # implementation -> flavour set reproducing it (explain.py)
    flavoured: dict = field(default_factory=dict)  # repr(flavoured case) -> its reference run (flavour_search.py)
    # rerun(name) -> the run's whole Trajectory (None when it does not run): the streams keep a framework run
    # whole only up to streaming.KEPT_BYTES, so above it an explanation re-runs the implementation in its
    # worker; set by the Runner, whose workers are alive.
    rerun: Callable[[str], Trajectory | None] | None = None

    @property
    def outcomes(self) -> dict[str, Outcome]:
        return self.streams.outcomes if self.streams is not None else {}

    @property
    def reference_error(self) -> str:
        return self.streams.reference_error if self.streams is not None else ""


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
                 stall_timeout: float = 10.0, progress=None):
        # progress(backend, cases_done): called for each backend after each case (console.Progress).
        self.progress = progress
        self.backend_modules = dict(BACKENDS if backends is None else backends)
        factory = InProcessBackend if in_process else WorkerBackend
        self.backends = {name: factory(name, module, timeout=timeout, stall_timeout=stall_timeout)
                         for name, module in self.backend_modules.items()}

    def launch(self) -> None:
        """Start every worker now, without waiting for its framework import (``run`` does it otherwise)."""
        for backend in self.backends.values():
            backend.launch()

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
        with harness_settings():
            return self._run(items)

    def _run(self, items: list[Case | SpecError]) -> RunReport:
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
        if case_runs:
            for backend in self.backends.values():
                backend.launch()  # both frameworks import in parallel while the first case is set up
            self._references_while_importing(case_runs)
        results = errors[:]
        results += run_pairs([i for i in items if isinstance(i, PairCase)], self.backends)
        for done, cr in enumerate(case_runs, start=1):
            self._run_case(cr, names, case_runs[done:done + AHEAD_CASES])
            if self.progress is not None:
                for name in names:
                    self.progress(name, done)
            installed = self.installed_versions()
            cr.rerun = lambda name, cr=cr: self._rerun(cr, name)
            results += [evaluate(cr, check, installed) for check in cr.checks]
            cr.streams, cr.rerun = None, None  # the results hold what is kept: per-step summaries, no records
            cr.flavoured.clear()
        return RunReport(results, self.environment())

    def _references_while_importing(self, case_runs: list[CaseRun]) -> None:
        """While a framework still imports in its worker (seconds), compute the references of the first cases
        ahead, case after case, up to HOLD_FREELY bytes of records in all: the harness would otherwise wait for
        the slower import with nothing to do. A case whose references pass AHEAD_CASE_BYTES (a large model,
        a probe of a big tensor) is left to its turn."""
        def importing() -> bool:
            return any(b.info is None and not b.ready() for b in self.backends.values())
        budget = HOLD_FREELY
        for cr in case_runs:
            if not importing():
                return
            streams = CaseStreams(cr.case, cr.checks)
            if streams.compute_references(min(budget, AHEAD_CASE_BYTES), importing):
                cr.streams = streams
                budget -= streams.held_bytes()

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

    def _rerun(self, cr: CaseRun, name: str) -> Trajectory | None:
        """One run of the case, whole: a reference computed here; a framework route as the streams kept it,
        or else in its worker again."""
        kept = cr.streams.kept_run(name) if cr.streams is not None else None
        if kept is not None:
            return kept
        case = cr.case
        if name == REFERENCE:
            return reference.run(case)
        if name == f"{REFERENCE}/{case.dtype}":
            return reference.run(case, dtype=case.dtype)
        if name.startswith(PERTURBED):
            return reference.run(perturb(case, name[len(PERTURBED):]))
        for backend, route, impl in implementations(case, list(self.backends)):
            if impl == name:
                outcome = self.backends[backend].run(case, route)
                return outcome.trajectory if outcome.status == "ok" else None
        return None

    def _send_ahead(self, following: list[CaseRun], name: str) -> None:
        """The next cases' requests to a worker that has finished this one (those it does not hold yet): it runs
        them while the harness compares and evaluates this one (as ``_run_case`` will ask for them)."""
        backend = self.backends[name]
        held = backend.sent_ahead()
        for cr in following:
            case = cr.case
            if held:
                if held[0] is not case:  # sent in order and dropped all at once, the queue is a prefix of these
                    return
                held = held[1:]
                continue
            routes = [route for _, route, _ in implementations(case, [name])]
            if routes and not self._outside_range(name, case):
                backend.send_ahead(case, routes, not uses_random_masks(case))

    def _run_case(self, cr: CaseRun, names: list[str], following: list[CaseRun] = ()) -> None:
        """Both frameworks' runs of the case at once, each event fed to the case's streams as it arrives: events
        are read from whichever worker has one, except that once the case holds HOLD_FREELY bytes a worker a
        step ahead of the other waits (its pipe holds it back), so the harness holds at most that or a step
        or two of each run, whatever the number of steps. A worker done with the case gets the ``following``
        one at once, unless an explanation may have to run this case again in it (a run too big to keep)."""
        case = cr.case
        if cr.streams is None:  # else made by _references_while_importing
            cr.streams = CaseStreams(case, cr.checks)
        streams = cr.streams
        interleave = not uses_random_masks(case)
        events, impl_of = {}, {}
        for name in names:
            runs = implementations(case, [name])
            outside = self._outside_range(name, case)
            if outside:
                for _, _, impl in runs:
                    streams.feed("end", impl, Outcome("skipped", message=outside))
                continue
            if runs:
                impl_of[name] = {route: impl for _, route, impl in runs}
                events[name] = self.backends[name].events(case, [route for _, route, _ in runs], interleave)
        started: set[str] = set()

        def ahead(name: str) -> bool:
            """Once the case holds HOLD_FREELY bytes, a framework waits while it is a step ahead of the other."""
            if streams.held_bytes() < HOLD_FREELY:
                return False
            mine = [streams.streams[i].produced for i in impl_of[name].values() if not streams.streams[i].ended]
            others = [streams.streams[i].produced for other in events if other != name
                      for i in impl_of[other].values() if not streams.streams[i].ended]
            return bool(mine and others) and min(mine) > min(others) + 1

        def startable(name: str) -> bool:
            """Its first request goes out without blocking: the worker has started, or its framework import has
            ended (the "ready" message waits). Until then the harness reads the other worker, not this pipe."""
            backend = self.backends[name]
            return backend.info is not None or backend.ready()

        while events:
            candidates = [name for name in events if not ahead(name)] or list(events)
            ready = [name for name in candidates
                     if (startable(name) if name not in started else self.backends[name].ready())]
            if not ready:  # wait for whichever may go on to have a message, not for one in particular
                starting = any(name not in started for name in candidates)
                wait_for_any([self.backends[name] for name in candidates],
                             timeout=START_POLL_S if starting else POLL_S)
                continue
            for name in ready:
                started.add(name)
                try:
                    kind, route, payload = next(events[name])
                except StopIteration:
                    del events[name]
                    if following and streams.ok_runs_kept(impl_of[name].values()):
                        self._send_ahead(following, name)
                    continue
                except Exception as exc:  # a harness bug must still leave a result
                    del events[name]
                    for impl in impl_of[name].values():
                        if impl not in streams.outcomes:
                            streams.feed("end", impl, Outcome("error", message=f"harness: {type(exc).__name__}: {exc}",
                                                              detail=traceback.format_exc()))
                    continue
                if kind != "sent":
                    # the comparisons advance once per batch a worker sent (the rest of it is at hand)
                    more = self.backends[name].ready() and streams.held_bytes() < HOLD_FREELY
                    streams.feed(kind, impl_of[name][route], payload, advance=not more)
        streams.finish()


def run_pairs(pairs: list[PairCase], backends: dict) -> list[Result]:
    from .pair.run import run_pair
    return [r for pc in pairs for r in run_pair(pc, backends).results]


def _spec_error_result(error: SpecError, case: Case | None = None) -> Result:
    return Result(case=case.id if case else case_id_of_error(error), implementation="spec", compared_with="-",
                  kind="spec", expected="equal", observed="error", status="error", message=str(error),
                  file=error.file, tags=case.tags if case else ())


def _problem(cr: CaseRun, name: str) -> Outcome | None:
    """Why a run has nothing to compare (a framework run that failed, was skipped or did not run)."""
    if name == REFERENCE or name.startswith((f"{REFERENCE}/", PERTURBED)):
        return None
    outcome = cr.outcomes.get(name)
    if outcome is None:
        return Outcome("error", message=f"{name} did not run")
    return None if outcome.status == "ok" else outcome


def evaluate(cr: CaseRun, check: Check, installed: dict[str, str] | None = None) -> Result:
    case = cr.case
    check, version_note = for_versions(check, installed or {})
    base = dict(case=case.id, implementation=check.implementation, compared_with=check.compared_with,
                kind=check.kind, expected=check.expected, file=case.path, tags=case.tags,
                reason=check.reason, references=check.references)
    if cr.reference_error and (check.compared_with == REFERENCE or check.backend is None):
        return Result(observed="error", status="error", message=cr.reference_error, **base)
    problem = _problem(cr, check.implementation)
    side = check.implementation
    if problem is None:
        problem, side = _problem(cr, check.compared_with), check.compared_with
    if problem is not None:
        observed = {"not-applicable": "not-applicable", "skipped": "skipped"}.get(problem.status, "error")
        status = observed  # error, skipped or not-applicable: the check did not compare
        prefix = "" if side == check.implementation else f"{side}: "
        return Result(observed=observed, status=status, message=prefix + problem.message, **base)
    reason = cr.streams.not_applicable.get((check.implementation, check.compared_with))
    if reason:
        return Result(observed="not-applicable", status="not-applicable", message=reason, **base)
    comparison = cr.streams.comparison(check)
    if comparison is None:
        return Result(observed="error", status="error", message="harness: the check was never compared", **base)
    observed = "equal" if comparison.equal else "divergent"
    if check.kind == "sensitivity" and observed == "divergent" and not detected(comparison):
        observed = "equal"  # seen on the lr or a hyper-parameter only: no verdict on the training state can fail
    explanation = _explanation(cr, check, comparison) if observed == "divergent" else None
    status, message = _verdict(check, comparison, observed, explanation)
    message += margin_note(case, comparison)
    if observed != check.expected and version_note:
        message += f" (note: {version_note})"
    return Result(observed=observed, status=status,
                  message=message, max_abs_error=comparison.max_abs_error,
                  max_rel_error=comparison.max_rel_error, mismatches=comparison.mismatches,
                  compared=comparison.compared, first_divergence=comparison.first, explanation=explanation,
                  comparison=comparison, **base)


class RerunFailed(Exception):
    pass


def _explanation(cr: CaseRun, check: Check, comparison: Comparison) -> explain.Explanation:
    """explain.for_check with the implementations re-run whole (the streams kept none of them), for a check
    that compared at most EXPLAIN_ELEMENTS elements; above that it is not searched."""
    if check.kind in ("sensitivity", "rounding"):  # explained by what the check is, without a trajectory
        return explain.for_check(cr.case, check, _no_source, reproduces(cr.case, cr.flavoured), cr.explained)
    if comparison.compared > EXPLAIN_ELEMENTS:
        return explain.Explanation("unexplained", (), f"Not searched at this size: the check compared "
                                   f"{comparison.compared:,} elements, and a flavour search re-runs the "
                                   f"implementation whole (searched up to {EXPLAIN_ELEMENTS:,}).")
    if cr.rerun is None:
        return explain.Explanation("unexplained", (), "Not searched: the runs are no longer available.")

    def source(name: str) -> Trajectory:
        trajectory = cr.rerun(name)
        if trajectory is None:
            raise RerunFailed(f"{name} did not run again to be searched")
        return trajectory
    try:
        return explain.for_check(cr.case, check, source, reproduces(cr.case, cr.flavoured), cr.explained)
    except RerunFailed as exc:
        return explain.Explanation("unexplained", (), f"Not searched: {exc}.")


def _no_source(name: str) -> Trajectory:
    raise RerunFailed(f"{name} is not needed to explain this check")


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

