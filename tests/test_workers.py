"""Worker processes: a crash, an exception, a refusal or a missing framework is a result, never the end.

The fake backends under tests/fake_backends are imported by module name inside a spawned worker; the
worker finds the ``tests`` package because a spawned child inherits the parent's sys.path.
"""

from __future__ import annotations

import os
import subprocess
import time
import sys
from pathlib import Path

import pytest

from equivalence.runner import Runner, load_all
from equivalence.workers import WorkerBackend

from .casefiles import load, tiny, write

pytestmark = pytest.mark.harness

CRASHY = "tests.fake_backends.crashy"
TIMEOUT = 60.0  # a hung worker fails the test instead of hanging it


@pytest.fixture
def case(tmp_path):
    return load(tmp_path, tiny(model={"sizes": [2, 2], "bias": True}))


@pytest.fixture
def backend():
    workers = []

    def make(module=CRASHY, name="fake"):
        workers.append(WorkerBackend(name, module, timeout=TIMEOUT, start_timeout=TIMEOUT))
        return workers[-1]

    yield make
    for w in workers:
        w.close()


def _pid(outcome) -> int:
    assert outcome.status == "ok", f"pid route: {outcome.status} {outcome.message}"
    return int(outcome.trajectory.steps[0]["pid"]["-"])


def test_crash_is_an_error_naming_the_signal_and_the_worker_restarts(backend, case):
    worker = backend()
    first_pid = _pid(worker.run(case, "pid"))
    assert first_pid != os.getpid(), "the backend ran in the test process, not in a worker"
    assert worker.info.available and worker.info.versions == {"fake": "0.0.1"}, worker.info

    crashed = worker.run(case, "per_parameter")
    assert crashed.status == "error", f"crash gave {crashed.status}: {crashed.message}"
    assert "SIGSEGV" in crashed.message and "restarted" in crashed.message, crashed.message
    assert crashed.trajectory is None, "a crashed run has no trajectory"

    again = worker.run(case, "optimizer")
    assert again.status == "ok" and again.trajectory is not None, f"after the crash: {again.status} {again.message}"
    assert worker.restarts == 1, f"restarts={worker.restarts}, expected 1"
    second_pid = _pid(worker.run(case, "pid"))
    assert second_pid not in (first_pid, os.getpid()), f"pids {first_pid} -> {second_pid}: not a fresh worker"


def test_exception_and_not_applicable(backend, case):
    worker = backend()
    raised = worker.run(case, "value_error")
    assert raised.status == "error", f"ValueError gave {raised.status}"
    assert raised.message == "ValueError: fake refuses this input", raised.message
    assert "Traceback" in raised.detail and "crashy.py" in raised.detail, raised.detail

    refused = worker.run(case, "loss_penalty")
    assert refused.status == "not-applicable", f"NotApplicable gave {refused.status}: {refused.message}"
    assert refused.message == "fake has no loss penalty (fake/penalty.py:1)", refused.message
    assert worker.restarts == 0, f"an exception must not cost a worker: restarts={worker.restarts}"


def test_unimportable_backend_is_skipped(backend, case):
    worker = backend("tests.fake_backends.unimportable", name="ghost")
    outcome = worker.run(case, "optimizer")
    assert outcome.status == "skipped", f"{outcome.status}: {outcome.message}"
    assert "ghost is not available" in outcome.message, outcome.message
    assert "ImportError" in outcome.message and "fakeframework" in outcome.message, outcome.message
    assert not worker.info.available and not worker.info.broken, worker.info


def test_crash_at_import_is_an_error(backend, case):
    worker = backend("tests.fake_backends.crash_on_import", name="fragile")
    outcome = worker.run(case, "optimizer")
    assert outcome.status == "error", f"a crash while importing gave {outcome.status}: {outcome.message}"
    assert "SIGSEGV" in outcome.message and "importing" in outcome.message, outcome.message
    assert worker.info.broken, worker.info


def test_runner_keeps_going_after_a_crash(tmp_path):
    routes = ["optimizer", "per_parameter", "loss_penalty"]
    write(tmp_path, tiny(id="a-crashes", model={"sizes": [2, 2]}, routes=routes), "a.toml")
    write(tmp_path, tiny(id="b-after", model={"sizes": [2, 2]}, routes=["optimizer"]), "b.toml")
    items = load_all([tmp_path])
    with Runner(backends={"fake": CRASHY}, timeout=TIMEOUT) as runner:
        report = runner.run(items)
        restarts = runner.backends["fake"].restarts
    results = {(r.case, r.implementation, r.compared_with): r for r in report.results}
    listing = {k: (r.status, r.message[:80]) for k, r in results.items()}

    crashed = results[("a-crashes", "fake/per_parameter", "reference")]
    assert crashed.status == "error" and "SIGSEGV" in crashed.message, listing
    ok = results[("a-crashes", "fake/optimizer", "reference")]
    assert (ok.observed, ok.status) == ("equal", "pass"), listing
    refused = results[("a-crashes", "fake/loss_penalty", "reference")]
    assert (refused.observed, refused.status) == ("not-applicable", "not-applicable"), listing
    after = results[("b-after", "fake/optimizer", "reference")]
    assert (after.observed, after.status) == ("equal", "pass"), listing
    assert results[("b-after", "perturbed/lr", "reference")].status == "pass", listing
    assert restarts == 1, f"restarts={restarts}: one crash, one restart"
    assert report.counts()["error"] == 1 and not report.ok, report.counts()


def test_harness_process_never_imports_a_framework(tmp_path):
    """Workers own the frameworks: after a real run the harness process holds neither (an unpickled
    TorchVersion would import torch, and a framework crash would then take the harness down too)."""
    write(tmp_path, tiny(id="one", model={"sizes": [2, 2]}), "one.toml")
    script = (
        "import sys\n"
        "from equivalence.runner import Runner, load_all\n"
        "if __name__ == '__main__':\n"
        f"    with Runner() as runner:\n"
        f"        report = runner.run(load_all([{str(tmp_path)!r}]))\n"
        "    print(sorted(m for m in ('torch', 'paddle') if m in sys.modules))\n"
        "    print(report.environment.get('torch'), report.environment.get('paddle'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    imported, versions = done.stdout.strip().splitlines()[-2:]
    assert imported == "[]", f"framework modules in the harness process: {imported}"
    assert "not started" not in versions, f"the frameworks did not run: {versions}"


# ------------------------------------------------------------------------ liveness: seconds, not minutes

def test_wedged_worker_is_detected_in_seconds(case):
    """A worker that blocks without using CPU (a deadlock) is killed after stall_timeout, not after the
    whole timeout, and a fresh worker runs the next route."""
    worker = WorkerBackend("fake", CRASHY, timeout=TIMEOUT, start_timeout=TIMEOUT, stall_timeout=3.0)
    try:
        worker.start()
        started = time.monotonic()
        hung = worker.run(case, "hang")
        waited = time.monotonic() - started
        assert hung.status == "error" and "wedged" in hung.message, f"{hung.status}: {hung.message}"
        assert waited < 30, f"a wedged worker took {waited:.1f} s to detect (stall_timeout 3 s, timeout {TIMEOUT} s)"
        after = worker.run(case, "optimizer")
        assert after.status == "ok" and worker.restarts == 1, f"{after.status} {after.message}; restarts {worker.restarts}"
    finally:
        worker.close()


def test_slow_healthy_run_is_not_cut_short(case):
    """A run computing for twice the stall timeout without sending anything keeps using CPU: it finishes."""
    from tests.fake_backends import crashy

    worker = WorkerBackend("fake", CRASHY, timeout=TIMEOUT, start_timeout=TIMEOUT, stall_timeout=crashy.BUSY_S / 2)
    try:
        outcome = worker.run(case, "busy")
        assert outcome.status == "ok", f"a busy run was cut short: {outcome.status}: {outcome.message}"
        assert worker.restarts == 0, f"restarts={worker.restarts}"
    finally:
        worker.close()


def test_crash_midway_keeps_other_routes_and_resumes_them(tmp_path):
    """Routes of a case run interleaved: a crash at step 3 of one route errors that route only; a fresh
    worker resumes the other route from where it was, and its trajectory is complete and in order."""
    case = load(tmp_path, tiny(model={"sizes": [2, 2], "bias": True}, steps=6))
    worker = WorkerBackend("fake", CRASHY, timeout=TIMEOUT, start_timeout=TIMEOUT)
    try:
        events = list(worker.events(case, ["optimizer", "crash_midway"]))
    finally:
        worker.close()
    ends = {route: payload for kind, route, payload in events if kind == "end"}
    assert ends["crash_midway"].status == "error" and "SIGSEGV" in ends["crash_midway"].message, ends
    assert ends["optimizer"].status == "ok", ends
    steps = [payload for kind, route, payload in events if kind == "step" and route == "optimizer"]
    initials = [kind for kind, route, _ in events if kind == "initial" and route == "optimizer"]
    from equivalence import reference
    expected = reference.run(case)
    assert len(initials) == 1 and len(steps) == case.steps, f"{len(initials)} initials, {len(steps)} steps"
    for t, (got, want) in enumerate(zip(steps, expected.steps), start=1):
        assert (got["param"]["linear0.weight"] == want["param"]["linear0.weight"]).all(), f"step {t} out of order"
    assert worker.restarts == 1, f"restarts={worker.restarts}"


def test_a_request_sent_ahead_is_read_by_the_same_request_and_only_by_it(backend, case, tmp_path):
    """send_ahead lets a worker go on to the next case while the harness is busy; ``events`` for that very
    request reads its answer from the same worker, while ``events`` for any other request never reads it:
    the worker is restarted and the request sent again."""
    from equivalence import reference
    worker = backend()
    first_pid = _pid(worker.run(case, "pid"))
    other = load(tmp_path / "other", tiny(id="other", model={"sizes": [2, 3]}, steps=4))
    worker.send_ahead(other, ["optimizer"])
    answer = workers_collect(worker.events(other, ["optimizer"]))
    want = reference.run(other)
    assert len(answer.steps) == 4 and (answer.steps[-1]["param"]["linear0.weight"]
                                       == want.steps[-1]["param"]["linear0.weight"]).all()
    assert _pid(worker.run(case, "pid")) == first_pid and worker.restarts == 0, "answered by another worker"

    worker.send_ahead(other, ["optimizer"])  # but the harness asks for something else first
    assert _pid(worker.run(case, "pid")) != first_pid, "the answer of the request sent ahead was read as this one"
    assert worker.restarts == 1, f"restarts={worker.restarts}"
    answer = workers_collect(worker.events(other, ["optimizer"]))
    assert len(answer.steps) == 4, "the request sent ahead was lost with the worker instead of being sent again"


def workers_collect(events):
    from equivalence.workers import collect_outcome
    outcome = collect_outcome(events)
    assert outcome.status == "ok", (outcome.status, outcome.message)
    return outcome.trajectory


def test_a_small_run_crosses_the_pipe_in_a_few_messages(backend, tmp_path, monkeypatch):
    """A worker batches its messages (workers._Batch): a run of 40 steps is 42 events, which cost the harness
    a thread hand-over each when they came one by one."""
    from equivalence import wire
    received = []
    original = wire.recv

    def counting(conn):
        received.append(1)
        return original(conn)
    monkeypatch.setattr(wire, "recv", counting)
    case = load(tmp_path, tiny(model={"sizes": [2, 2]}, steps=40))
    worker = backend()
    worker.start()
    received.clear()
    events = [e for e in worker.events(case, ["optimizer"]) if e[0] != "sent"]
    assert len(events) == 42, len(events)  # the initial parameters, 40 steps, the end
    assert len(received) < 10, f"{len(received)} wire messages for {len(events)} events"


@pytest.mark.parametrize("kept", [True, False])
def test_the_next_case_goes_ahead_only_when_no_explanation_can_need_this_worker(tmp_path, monkeypatch, kept):
    """A worker done with a case gets the next one at once (Runner._send_ahead), unless the case's runs were
    too big to keep (streaming.KEPT_BYTES): its explanation may then run them again in that worker, which
    must not read the next case's answers. Either way the verdicts are those of an in-process run and no
    worker restarts."""
    from equivalence import streaming
    if not kept:
        monkeypatch.setattr(streaming, "KEPT_BYTES", 0)
    sent = []
    original = WorkerBackend.send_ahead

    def counting(self, case, routes, interleave=True):
        sent.append(case.id)
        return original(self, case, routes, interleave)
    monkeypatch.setattr(WorkerBackend, "send_ahead", counting)
    momentum = {"name": "momentum", "lr": 0.1, "momentum": 0.9}
    for name in ("a", "b", "c"):  # fakeema diverges (an EMA momentum): each case's explanation needs its run
        write(tmp_path, tiny(id=name, dtype="float64", steps=3, optimizer=momentum, routes=["optimizer"]),
              f"{name}.toml")
    backends = {"fakeema": "tests.fake_backends.ema_momentum"}
    with Runner(backends=backends, timeout=TIMEOUT) as runner:
        report = runner.run(load_all([tmp_path]))
        restarts = runner.backends["fakeema"].restarts
    with Runner(backends=backends, in_process=True) as runner:
        expected = runner.run(load_all([tmp_path]))
    verdicts = [(r.test_id, r.status, r.explanation and r.explanation.flavours) for r in report.results]
    assert verdicts == [(r.test_id, r.status, r.explanation and r.explanation.flavours) for r in expected.results]
    assert [v[2] for v in verdicts if v[0].endswith("[fakeema/optimizer]")] == [("momentum=ema",)] * 3, verdicts
    assert sent == (["b", "c"] if kept else []), sent  # each once, though b, c are ahead of a and of b
    assert restarts == 0, f"restarts={restarts}"
