"""Framework noise goes to the run's log, not the terminal; progress shows on a terminal only, never in CI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from equivalence import console

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import os, sys, warnings
from equivalence.console import send_output_to_log
send_output_to_log()
os.write(2, b"C++ logging to fd 2\\n")
os.write(1, b"C++ printing to fd 1\\n")
print("print to stdout")
print("print to stderr", file=sys.stderr)
warnings.warn("a framework's UserWarning")
"""


@pytest.mark.harness
def test_a_worker_sends_every_kind_of_output_to_the_log(tmp_path):
    log = tmp_path / "run.log"
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**os.environ, console.LOG_VARIABLE: str(log)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", (done.stdout, done.stderr)
    text = log.read_text(encoding="utf-8")
    for line in ("C++ logging to fd 2", "C++ printing to fd 1", "print to stdout", "print to stderr",
                 "UserWarning: a framework's UserWarning"):
        assert line in text, f"{line!r} not in the log:\n{text}"
    # Without the variable (pytest, show) a worker's output is left where it was.
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != console.LOG_VARIABLE})
    assert "C++ logging to fd 2" in done.stderr and "print to stdout" in done.stdout


@pytest.mark.harness
def test_the_log_is_bounded(tmp_path, monkeypatch):
    log = console.start_log(tmp_path / "out" / "latest.log")
    assert log.read_text() == "" and os.environ[console.LOG_VARIABLE] == str(log)
    log.write_text("x" * 50 + "\n" + "y" * 100, encoding="utf-8")
    assert console.finish_log(log, max_bytes=60) == 3  # the cut line ends with the note of what was cut
    text = log.read_text(encoding="utf-8")
    assert text.startswith("x" * 50 + "\nyyyyyyyyy") and "[log cut: 91 more bytes were written]" in text, text
    assert console.LOG_VARIABLE not in os.environ


class Terminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.harness
@pytest.mark.parametrize("tty, ci, shown", [(True, None, True), (True, "true", False), (True, "1", False),
                                            (False, None, False), (True, "false", True)])
def test_progress_only_on_a_terminal_outside_ci(monkeypatch, tty, ci, shown):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    stream = Terminal(tty)
    progress = console.Progress(3, stream=stream, interval=0)
    progress("paddle", 1)
    progress("torch", 3)
    progress.close()
    out = stream.getvalue()
    assert bool(out) == shown, out
    if shown:
        assert "\rpaddle 1/3, torch 3/3 cases" in out and out.endswith("\r\x1b[K"), repr(out)


def test_a_run_keeps_framework_noise_off_the_terminal(tmp_path):
    """Torch's kl_div UserWarning and Paddle's INFO line about ParamAttr, with the real frameworks."""
    cases = [REPO / "cases" / "losses" / "kl-div-mean.toml",
             REPO / "cases" / "regularization" / "param-attr-priority-sgd.toml"]
    done = subprocess.run([sys.executable, "-m", "equivalence", "run", "--out", str(tmp_path), "--cases",
                           *map(str, cases)], capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, "CI": "true"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr == "", done.stderr[-2000:]
    assert "Warning" not in done.stdout and "INFO" not in done.stdout, done.stdout[-2000:]
    log = (tmp_path / "latest.log").read_text(encoding="utf-8")
    assert "UserWarning: reduction: 'mean' divides the total loss" in log, log
    assert "INFO" in log and "paddle.ParamAttr" in log, log
    assert f"framework output ({log.count(chr(10))} lines): {tmp_path / 'latest.log'}" in done.stdout, done.stdout


@pytest.mark.harness
def test_the_runner_reports_progress_per_backend(tmp_path):
    from equivalence.runner import Runner, load_all

    from .casefiles import tiny, write
    from .conftest import CRASHY
    for i in range(3):
        write(tmp_path, tiny(id=f"c{i}"), f"c{i}.toml")
    calls = []
    with Runner(backends={"fake": CRASHY}, timeout=60.0, progress=lambda name, done: calls.append((name, done))) \
            as runner:
        runner.run(load_all([tmp_path]))
    assert calls == [("fake", 1), ("fake", 2), ("fake", 3)], calls
