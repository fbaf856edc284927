"""What a run shows on the user's terminal, and where the frameworks' own chatter goes.

- Framework noise (Paddle's type-promotion warning and its INFO line about ParamAttr, Torch's kl_div
  UserWarning, anything a kernel prints) is written by the worker processes to the run's log file instead of
  the terminal: ``run`` names the file in ``EQUIVALENCE_LOG`` before it starts the workers, and each worker
  points its stdout and stderr (the file descriptors, so C++ logging follows too) at it. Without the
  variable (pytest, ``show``) nothing changes. The log is cut to ``LOG_MAX_BYTES`` after the run.
- Progress: on a terminal, a one-line counter of the cases each framework has run, rewritten in place; not
  when stderr is no terminal or ``CI`` is set (a CI log keeps only the final summary).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

LOG_VARIABLE = "EQUIVALENCE_LOG"
LOG_MAX_BYTES = 1_000_000


def send_output_to_log() -> None:
    """In a worker: stdout and stderr (Python's and the file descriptors) append to the run's log."""
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return  # an unwritable log must not cost the run; the noise then stays on the terminal
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def start_log(path: str | Path) -> Path:
    """An empty log for this run, named to the workers started after this call."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")
    os.environ[LOG_VARIABLE] = str(path)
    return path


def finish_log(path: Path, max_bytes: int = LOG_MAX_BYTES) -> int:
    """Stop naming the log to new workers, cut it to ``max_bytes`` (saying so), remove it when empty; its
    size in lines."""
    os.environ.pop(LOG_VARIABLE, None)
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    if not data:  # nothing was said: no file to look at
        path.unlink(missing_ok=True)
        return 0
    if len(data) > max_bytes:
        note = f"\n[log cut: {len(data) - max_bytes} more bytes were written]\n".encode()
        data = data[:max_bytes] + note
        path.write_bytes(data)
    return data.count(b"\n")


def interactive(stream=None) -> bool:
    """Progress belongs on a terminal that a person watches: not in CI, not into a file or a pipe."""
    stream = stream or sys.stderr
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """``paddle 57/194, torch 60/194 cases`` on one terminal line, at most every ``interval`` seconds."""

    def __init__(self, total: int, stream=None, interval: float = 0.2, enabled: bool | None = None):
        self.total, self.stream, self.interval = total, stream or sys.stderr, interval
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.done: dict[str, int] = {}
        self.last = 0.0
        self.shown = False

    def __call__(self, backend: str, done: int) -> None:
        self.done[backend] = done
        now = time.monotonic()
        if self.enabled and (now - self.last >= self.interval or done == self.total):
            self.last = now
            text = ", ".join(f"{name} {n}/{self.total}" for name, n in self.done.items()) + " cases"
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()
            self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
