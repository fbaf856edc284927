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

    def feed(self, kind, name, payload):
        super().feed(kind, name, payload)
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
    steps: at most the HOLD_FREELY budget plus a few steps of every stream."""
    peaks = {}
    for steps in (4, 16):
        folder = tmp_path / str(steps)
        write(folder, _case(steps), "case.toml")
        report, peaks[steps] = _run_recording(monkeypatch, folder)
        assert report.counts()["fail"] == 0 and report.counts()["error"] == 0, [r.message for r in report.results]
    one_step = (N * N + N) * 4 * 8  # float32 parameter-sized quantities of one step, at most 8 of them
    assert peaks[16] <= peaks[4] * 1.1 + one_step, f"held {peaks[4]} bytes for 4 steps, {peaks[16]} for 16"
    assert peaks[16] < runner_module.HOLD_FREELY + 16 * one_step, f"held {peaks[16]} bytes: more than a few steps"


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
