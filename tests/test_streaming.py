"""Streaming comparison: what the harness holds is bounded by the model, not by the number of steps, and a
streamed run gives the verdicts and first divergences of a whole-trajectory comparison."""

from __future__ import annotations

import pytest

from equivalence import runner as runner_module
from equivalence.compare import compare
from equivalence.record import collect
from equivalence import reference
from equivalence.runner import Runner, load_all
from equivalence.streaming import CaseStreams

from .casefiles import write, tiny

pytestmark = pytest.mark.harness


class Recording(CaseStreams):
    """CaseStreams that notes the most bytes of records it held after any event."""

    peaks: list[int] = []

    def feed(self, kind, name, payload, advance=True):
        super().feed(kind, name, payload, advance)
        Recording.peaks[-1] = max(Recording.peaks[-1], self.held_bytes())


def _run_recording(monkeypatch, folder, backends=None):
    Recording.peaks.append(0)
    monkeypatch.setattr(runner_module, "CaseStreams", Recording)
    with Runner(backends=backends) as runner:
        report = runner.run(load_all([folder]))
    return report, Recording.peaks[-1]


N = 400  # Linear(400, 400): 160,400 parameters


def _case(steps: int, n: int = N, optimizer=None):
    return tiny(id=f"held-{steps}", dtype="float32", steps=steps, model={"sizes": [n, n], "bias": True},
                data={"seed": 0, "batch_size": 8}, optimizer=optimizer or {"name": "adam", "lr": 0.001})


def test_memory_held_does_not_grow_with_steps(tmp_path, monkeypatch):
    """Both frameworks, 160k parameters, Adam: the records held at any moment are the same for 4 and for 16
    steps: at most the HOLD_FREELY budget (lowered here, so that the runs go in lockstep at this size, as
    they do at 10M parameters with the default budget) plus a few steps of every stream."""
    monkeypatch.setattr(runner_module, "HOLD_FREELY", 2 << 20)
    peaks = {}
    for steps in (4, 16):
        folder = tmp_path / str(steps)
        write(folder, _case(steps), "case.toml")
        report, peaks[steps] = _run_recording(monkeypatch, folder)
        assert report.counts()["fail"] == 0 and report.counts()["error"] == 0, [r.message for r in report.results]
    one_step = (N * N + N) * 4 * 8  # float32 parameter-sized quantities of one step, at most 8 of them
    # One framework may lead the other by two steps (how far it gets depends on which imports first), and the
    # float64 reference holds what the slower one still needs: a few steps, the same for any step count.
    assert peaks[16] <= peaks[4] + 3 * one_step, f"held {peaks[4]} bytes for 4 steps, {peaks[16]} for 16"
    assert peaks[16] < runner_module.HOLD_FREELY + 8 * one_step, f"held {peaks[16]} bytes: more than a few steps"


def test_streamed_verdicts_match_whole_trajectories(tmp_path):
    """The fake backend returns the reference; a streamed run through the Runner gives the same comparison as
    comparing the collected trajectories whole (counts, first divergence of the perturbation)."""
    write(tmp_path, tiny(id="whole", steps=4), "whole.toml")
    (case,) = load_all([tmp_path])
    with Runner(backends={"fake": "tests.fake_backends.crashy"}) as runner:
        report = runner.run([case])
    streamed = {(r.implementation, r.compared_with): r for r in report.results}
    from equivalence.plan import perturb
    whole = compare(collect(reference.stream(perturb(case, "lr"))), reference.run(case), case)
    got = streamed[("perturbed/lr", "reference")]
    assert (got.mismatches, got.compared) == (whole.mismatches, whole.compared), (got.message, whole.summary())
    assert got.first_divergence == whole.first, (got.first_divergence, whole.first)
    assert streamed[("fake/optimizer", "reference")].observed == "equal", streamed[("fake/optimizer", "reference")].message


def _reference_only(case):
    """A case's reference checks (rounding, sensitivity) streamed without any framework."""
    from equivalence.plan import plan
    checks = plan(case, [])
    streams = CaseStreams(case, checks)
    streams.finish()
    return {c.implementation: (c, streams.comparison(c)) for c in checks}


def test_large_sensitivity_check_stops_at_its_first_detection(tmp_path, monkeypatch):
    """From SENSITIVITY_STOP_ELEMENTS parameters a sensitivity check has done its job once detected: it stops
    there and says so, with no step-count mismatch; below it, it is compared to the end."""
    from equivalence import streaming
    case = load_all([write(tmp_path, tiny(id="stop", dtype="float32", steps=6, model={"sizes": [3, 2], "bias": True},
                                          optimizer={"name": "sgd", "lr": 0.1}), "stop.toml")])[0]
    full = _reference_only(case)["perturbed/lr"][1]
    assert full.stopped_at is None and not full.equal, full.summary()
    monkeypatch.setattr(streaming, "SENSITIVITY_STOP_ELEMENTS", 1)
    stopped = _reference_only(case)["perturbed/lr"][1]
    assert stopped.stopped_at == full.first.step, stopped.summary()
    assert not stopped.structural and not stopped.equal, stopped.summary()
    assert f"compared up to step {stopped.stopped_at}, where it was detected" in stopped.summary()
    assert stopped.compared < full.compared
    rounding = _reference_only(case)["reference/float32"][1]
    assert rounding.stopped_at is None and rounding.equal, "only sensitivity checks stop early"


def test_an_array_recorded_twice_is_compared_once(tmp_path, monkeypatch):
    """Without a penalty the reference records its gradient as grad and as grad_regularized: one array,
    compared once per pair (the second entry reuses the first's errors), with both entries reported."""
    from equivalence import entry_summary, compare as compare_module
    case = load_all([write(tmp_path, tiny(id="once", dtype="float32", steps=2, model={"sizes": [300, 300]},
                                          optimizer={"name": "sgd", "lr": 0.1}), "once.toml")])[0]
    steps = list(reference.stream(case))
    assert steps[1]["grad"]["linear0.weight"] is steps[1]["grad_regularized"]["linear0.weight"]
    calls = []
    real = entry_summary.entry_errors
    monkeypatch.setattr(compare_module, "entry_errors", lambda *a, **k: calls.append(a[0].size) or real(*a, **k))
    result = compare(collect(reference.stream(case, dtype="float32")), collect(reference.stream(case)), case)
    large = [d for d in result.details if d.size == 90_000 and d.step == 1]
    assert {d.quantity for d in large} >= {"grad", "grad_regularized"}, [d.quantity for d in large]
    # the step-0 parameters, then each step's large entries but one (grad_regularized reuses grad's errors)
    assert len(calls) == 1 + case.steps * (len(large) - 1), f"{len(calls)} kernel calls for {len(large)} entries a step"


def test_a_slow_framework_import_does_not_hold_back_the_other(tmp_path, monkeypatch):
    """While one worker still imports its framework, the runner compares what the other sends: Paddle's first
    records are fed before the Torch worker (here three seconds slower to import) has even started."""
    from equivalence.backends import BACKENDS

    fed_before_start: list[bool] = []

    class Watching(CaseStreams):
        def feed(self, kind, name, payload, advance=True):
            if name.startswith("paddle/") and kind == "initial":
                fed_before_start.append(runner.backends["torch"].info is None)
            super().feed(kind, name, payload, advance)

    monkeypatch.setattr(runner_module, "CaseStreams", Watching)
    write(tmp_path, _case(3, n=8), "case.toml")
    with Runner(backends={"paddle": BACKENDS["paddle"], "torch": "tests.fake_backends.slow_torch"}) as runner:
        report = runner.run(load_all([tmp_path]))
    assert report.counts()["fail"] == 0 and report.counts()["error"] == 0, [r.message for r in report.results]
    assert any(r.implementation.startswith("torch/") for r in report.results), "the slow backend's runs were compared"
    assert fed_before_start == [True], f"Paddle's initial records fed before Torch's worker started: {fed_before_start}"


def test_references_are_computed_ahead_while_a_framework_imports(tmp_path, monkeypatch):
    """Runner._references_while_importing: while the worker imports (two seconds here), the references of the
    first cases are computed, each within AHEAD_CASE_BYTES (a bigger one waits for its turn); the verdicts
    are those of a run that computes every reference in its turn."""
    made_ahead = []
    original = runner_module.Runner._references_while_importing

    def watching(self, case_runs):
        original(self, case_runs)
        made_ahead.extend(cr.case.id for cr in case_runs if cr.streams is not None)
    monkeypatch.setattr(runner_module.Runner, "_references_while_importing", watching)
    for name in ("a", "b", "c"):
        write(tmp_path, tiny(id=name, steps=3, routes=["optimizer"]), f"{name}.toml")
    write(tmp_path, tiny(id="d-big", steps=3, model={"sizes": [300, 300]}, routes=["optimizer"]), "d.toml")
    with Runner(backends={"fake": "tests.fake_backends.slow_import"}) as runner:
        ahead = runner.run(load_all([tmp_path]))
    monkeypatch.setattr(runner_module.Runner, "_references_while_importing", lambda self, case_runs: None)
    with Runner(backends={"fake": "tests.fake_backends.crashy"}) as runner:
        in_turn = runner.run(load_all([tmp_path]))
    assert made_ahead == ["a", "b", "c"], made_ahead  # d-big: 90,300 parameters x 3 steps is over 1 MB
    assert [r.to_json() for r in ahead.results] == [r.to_json() for r in in_turn.results]
    assert ahead.counts()["pass"] == len(ahead.results), ahead.counts()
