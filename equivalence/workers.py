"""One long-lived worker process per framework.

A framework kernel can kill the interpreter (heap corruption has been seen). Each backend therefore runs
in its own process, started with ``spawn`` (no state inherited from the harness), importing its framework
once and serving (case, route) requests over a pipe. When the process dies mid-request, the request
becomes an ``error`` outcome naming the signal, and the next request starts a fresh worker.
``InProcessBackend`` has the same interface without the process, for debugging with pdb.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field

from .record import Trajectory
from .spec import Case


@dataclass
class Outcome:
    """What one (case, route) run produced: ``ok`` with a trajectory, ``not-applicable``, ``error`` or
    ``skipped`` (framework unavailable), each with a message."""

    status: str
    trajectory: Trajectory | None = None
    message: str = ""
    detail: str = ""


@dataclass
class BackendInfo:
    name: str
    available: bool
    versions: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    broken: bool = False  # installed but failing (a crash or hang at start): an error, not a skip


def _load(module_name: str):
    return importlib.import_module(module_name)


def _execute(module, case: Case, route: str) -> Outcome:
    from .backends.common import NotApplicable
    try:
        return Outcome("ok", trajectory=module.run(case, route))
    except NotApplicable as exc:
        return Outcome("not-applicable", message=str(exc))
    except Exception as exc:  # a framework refusing the input is a result, not a harness failure
        return Outcome("error", message=f"{type(exc).__name__}: {exc}".strip(), detail=traceback.format_exc())


# How often a worker checks that the harness still runs; its exit follows the harness's death by at most this.
PARENT_POLL_SECONDS = 0.5


def _exit_with_parent() -> None:
    """End this worker when the harness dies, even mid-computation (SIGKILL leaves no chance to send the
    request that stops it, and an idle worker's pipe read only notices between requests). A daemon thread
    polls the parent pid: once the harness is gone the worker is re-parented and getppid() changes. Not
    prctl(PR_SET_PDEATHSIG): that fires when the *thread* that started the worker ends, and the runner starts
    workers from short-lived threads."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="equivalence-parent-watch", daemon=True).start()


def _serve(module_name: str, conn) -> None:
    _exit_with_parent()
    from .console import send_output_to_log
    send_output_to_log()  # a framework's warnings and log lines go to the run's log, not the terminal
    try:
        module = _load(module_name)
    except Exception as exc:  # ImportError, or a framework failing its own initialisation
        conn.send(("unavailable", f"{type(exc).__name__}: {exc}"))
        return
    # Plain strings: torch.__version__ is a TorchVersion, and unpickling one would import torch into the
    # harness process, which must never hold a framework.
    conn.send(("ready", {name: str(version) for name, version in module.versions().items()}))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            request = None
        if request is None:
            conn.close()
            # Nothing to flush; a framework's interpreter teardown costs up to a second for nothing.
            os._exit(0)
        conn.send(_execute(module, *request))


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class WorkerBackend:
    """A backend in its own process; restarted after a crash or a timeout."""

    def __init__(self, name: str, module_name: str, timeout: float = 300.0, start_timeout: float = 300.0):
        self.name, self.module_name = name, module_name
        self.timeout, self.start_timeout = timeout, start_timeout
        self._proc = None
        self._conn = None
        self.info: BackendInfo | None = None
        self.restarts = 0

    def start(self) -> BackendInfo:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(self.module_name, child), daemon=True,
                                 name=f"equivalence-{self.name}")
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout):
            self._kill()
            self.info = BackendInfo(self.name, False, reason=f"{self.name} worker did not start in "
                                                             f"{self.start_timeout:g} s", broken=True)
            return self.info
        try:
            kind, payload = parent.recv()
        except EOFError:
            self._proc.join(5)
            reason = f"{self.name} worker died while importing {self.name} ({_signal_name(self._proc.exitcode)})"
            self._kill()
            self.info = BackendInfo(self.name, False, reason=reason, broken=True)
            return self.info
        if kind == "unavailable":
            self._kill()
            self.info = BackendInfo(self.name, False, reason=f"{self.name} is not available: {payload}")
        else:
            self.info = BackendInfo(self.name, True, versions=payload)
        return self.info

    def run(self, case: Case, route: str) -> Outcome:
        if self.info is None or (self.info.available and self._proc is None):
            if self.info is not None:
                self.restarts += 1
            self.start()
        if not self.info.available:
            return Outcome("error" if self.info.broken else "skipped", message=self.info.reason)
        self._conn.send((case, route))
        if not self._conn.poll(self.timeout):
            self._kill()
            return Outcome("error", message=f"{self.name} worker gave no answer in {self.timeout:g} s; restarted")
        try:
            return self._conn.recv()
        except EOFError:
            self._proc.join(5)
            cause = _signal_name(self._proc.exitcode)
            self._kill()
            return Outcome("error", message=f"{self.name} worker crashed with {cause} while running this "
                                            f"(case, route); the worker was restarted for the rest")

    def _kill(self) -> None:
        if self._proc is not None and self._proc.pid is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def close(self) -> None:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._proc.join(10)
        self._kill()


class InProcessBackend:
    """The same interface in this process: no crash isolation, but pdb and profilers see everything."""

    def __init__(self, name: str, module_name: str, **_):
        self.name, self.module_name = name, module_name
        self.info: BackendInfo | None = None
        self._module = None
        self.restarts = 0

    def start(self) -> BackendInfo:
        try:
            self._module = _load(self.module_name)
            self.info = BackendInfo(self.name, True, versions=self._module.versions())
        except Exception as exc:
            self.info = BackendInfo(self.name, False, reason=f"{self.name} is not available: "
                                                             f"{type(exc).__name__}: {exc}")
        return self.info

    def run(self, case: Case, route: str) -> Outcome:
        if self.info is None:
            self.start()
        if not self.info.available:
            return Outcome("skipped", message=self.info.reason)
        return _execute(self._module, case, route)

    def close(self) -> None:
        pass
