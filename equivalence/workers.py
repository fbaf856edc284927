"""One long-lived worker process per framework, streaming each run one step at a time.

A framework kernel can kill the interpreter (heap corruption has been seen). Each backend therefore runs
in its own process, started with ``spawn`` (no state inherited from the harness), importing its framework
once and serving requests over a pipe. A request is one case and the routes to run; the worker sends, per
route, its initial parameters, then each step's records as soon as the step is done, then how it ended
(in batches: a large model's step goes at once, a small case's steps go together, see ``_Batch``). The
runner may send the next case's request ahead (``send_ahead``), so a worker goes on to it while the harness
compares and evaluates the case before.
Routes of a case without random masks run interleaved, one step of each in turn, so the harness receives
every implementation's step t together and can compare and drop it (memory bounded by the model, not by
the number of steps). A case with random dropout masks runs its routes one after the other, since they
share the framework's random generator.

Failure is detected in seconds, not after the whole timeout:
- a dead worker (a crash) closes its pipe: the route it was running becomes an ``error`` naming the signal;
- a wedged worker (a deadlock after a heap corruption: no message and no CPU time for ``stall_timeout``
  seconds) is killed and reported so; a slow but healthy run keeps using CPU and is never cut short;
- ``timeout`` bounds the wait for any one message (a step), as a last resort against a busy loop.
A fresh worker then resumes the other routes of the request, skipping the steps already received.
``InProcessBackend`` has the same interface without the process, for debugging with pdb.
"""

from __future__ import annotations

import collections
import importlib
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field

from . import wire
from .record import Trajectory, collect, item_bytes
from .spec import Case

POLL_S = 0.25  # how often a waiting harness looks at the worker's liveness


@dataclass
class Outcome:
    """How one (case, route) run ended: ``ok`` (with its trajectory where one was collected),
    ``not-applicable``, ``error`` or ``skipped`` (framework unavailable), each with a message."""

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


def _open(module, case: Case, route: str):
    stream = getattr(module, "stream", None)
    return iter(stream(case, route)) if stream is not None else module.run(case, route).stream()


def _failure(exc: BaseException) -> Outcome:
    from .backends.common import NotApplicable
    if isinstance(exc, NotApplicable):
        return Outcome("not-applicable", message=str(exc))
    # a framework refusing the input is a result, not a harness failure
    return Outcome("error", message=f"{type(exc).__name__}: {exc}".strip(), detail=traceback.format_exc())


def drive(module, case: Case, routes: list[tuple[str, int]], interleave: bool):
    """The messages of one request: ("enter", route) before each piece of framework work (so a crash is
    pinned on its route), ("initial", route, params), ("step", route, records), ("end", route, Outcome).
    ``routes`` holds (route, items already delivered, the initial parameters counting as one): a resumed
    route reruns them silently."""
    if not interleave:
        for route, skip in routes:
            yield from _drive_together(module, case, [(route, skip)])
        return
    yield from _drive_together(module, case, routes)


def _drive_together(module, case: Case, routes):
    live = {}  # route -> [stream, steps produced]
    for route, skip in routes:
        yield ("enter", route)
        try:
            stream = _open(module, case, route)
            initial = next(stream)
        except StopIteration as stop:  # a route with one whole result instead of steps (backends' common.whole)
            yield ("end", route, Outcome("ok", trajectory=stop.value))
            continue
        except Exception as exc:
            yield ("end", route, _failure(exc))
            continue
        if skip < 1:
            yield ("initial", route, initial)
        live[route] = [stream, 0, skip]
    while live:
        for route in list(live):
            stream, produced, skip = live[route]
            yield ("enter", route)
            try:
                step = next(stream)
            except StopIteration:
                del live[route]
                yield ("end", route, Outcome("ok"))
                continue
            except Exception as exc:
                del live[route]
                yield ("end", route, _failure(exc))
                continue
            live[route][1] = produced + 1
            if produced + 1 >= skip:
                yield ("step", route, step)


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


def worker_threads() -> int:
    """Threads for a framework's CPU kernels in each worker: the two workers and the harness share the cores,
    so each worker gets half of them. A framework's default (every core) makes its OpenMP threads spin while
    the other worker and the harness wait for the same cores: at 1M parameters x 100 steps on 2 cores the
    Torch worker used 12.5 s of CPU with the default and 9.1 s with one thread, for the same wall time."""
    return max(1, (os.cpu_count() or 1) // 2)


def _serve(module_name: str, conn, current) -> None:
    """``current``: a shared int the worker sets to the index (in the request) of the route whose framework
    work it is doing, so that a crash is pinned on its route although its messages travel in batches."""
    _exit_with_parent()
    # before the framework loads its OpenMP runtime, which reads it once; a user's own setting wins
    os.environ.setdefault("OMP_NUM_THREADS", str(worker_threads()))
    from .console import send_output_to_log
    send_output_to_log()  # a framework's warnings and log lines go to the run's log, not the terminal
    try:
        module = _load(module_name)
    except Exception as exc:  # ImportError, or a framework failing its own initialisation
        wire.send(conn, ("unavailable", f"{type(exc).__name__}: {exc}"))
        return
    # Plain strings: torch.__version__ is a TorchVersion, and unpickling one would import torch into the
    # harness process, which must never hold a framework.
    wire.send(conn, ("ready", {name: str(version) for name, version in module.versions().items()}))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            request = None
        if request is None:
            conn.close()
            # Nothing to flush; a framework's interpreter teardown costs up to a second for nothing.
            os._exit(0)
        index = {route: i for i, (route, _) in enumerate(request[1])}
        current.value = -1
        batch = _Batch(conn)
        for message in drive(module, *request):
            if message[0] == "enter":
                current.value = index[message[1]]
            else:
                batch.add(message)
        batch.add(("done",))
        batch.flush()


# A worker sends its messages in batches: a small case's run is hundreds of messages of a few kB, and each
# one the harness receives costs a thread hand-over under the GIL while its main thread compares. A batch
# goes once it holds BATCH_BYTES of arrays (a large model's step goes alone, at once) or once its first
# message has waited BATCH_SECONDS (the harness compares a slow run as it goes), and at the request's end.
BATCH_BYTES = 1 << 20
BATCH_SECONDS = 0.05


class _Batch:
    def __init__(self, conn):
        self.conn, self.messages, self.bytes, self.since = conn, [], 0, 0.0

    def add(self, message: tuple) -> None:
        if not self.messages:
            self.since = time.monotonic()
        self.messages.append(message)
        if message[0] in ("initial", "step"):
            self.bytes += item_bytes(message[-1])
        if self.bytes >= BATCH_BYTES or time.monotonic() - self.since >= BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.messages:
            wire.send(self.conn, self.messages)
        self.messages, self.bytes = [], 0


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process from /proc (None where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _same_request(a: tuple, b: tuple) -> bool:
    return a[0] is b[0] and a[1:] == b[1:]


class WorkerGone(Exception):
    """The worker died, wedged or went silent; the message says which."""


class WorkerBackend:
    """A backend in its own process; restarted after a crash, a wedge or a timeout."""

    def __init__(self, name: str, module_name: str, timeout: float = 300.0, start_timeout: float = 300.0,
                 stall_timeout: float = 10.0):
        self.name, self.module_name = name, module_name
        self.timeout, self.start_timeout, self.stall_timeout = timeout, start_timeout, stall_timeout
        self._proc = None
        self._conn = None
        self._reader: _Reader | None = None
        self._current = None  # the worker's shared "route in progress" (see _serve)
        # Requests sent ahead (``send_ahead``), oldest first, as (case, routes, interleave): the worker runs
        # them in order, and their messages wait in the pipe until ``events`` asks for the same request.
        self._ahead: collections.deque = collections.deque()
        self.info: BackendInfo | None = None
        self.restarts = 0

    def launch(self) -> None:
        """Start the worker process without waiting for its framework import (``start`` waits)."""
        if self._proc is not None or (self.info is not None and not self.info.available):
            return
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        wire.widen(parent, child)
        self._current = ctx.Value("i", -1, lock=False)
        self._proc = ctx.Process(target=_serve, args=(self.module_name, child, self._current), daemon=True,
                                 name=f"equivalence-{self.name}")
        self._proc.start()
        child.close()
        self._conn = parent

    def start(self) -> BackendInfo:
        if self._proc is None:
            self.launch()
        try:
            kind, payload = self._receive(self.start_timeout, stall=False)
        except WorkerGone as gone:
            self._kill()
            self.info = BackendInfo(self.name, False, reason=f"{self.name} worker failed while importing "
                                                             f"{self.name}: {gone}", broken=True)
            return self.info
        if kind == "unavailable":
            self._kill()
            self.info = BackendInfo(self.name, False, reason=f"{self.name} is not available: {payload}")
        else:
            self.info = BackendInfo(self.name, True, versions=payload)
        return self.info

    def _receive(self, limit: float, stall: bool = True):
        """The next message, waiting at most ``limit`` s in all and (``stall``) ``stall_timeout`` s without
        the worker using any CPU. Not while it imports its framework: reading the libraries from a busy disk
        can keep it off the CPU for seconds."""
        start = last_change = time.monotonic()
        last_cpu = None  # read from /proc only once a poll has waited: most messages are already there
        while True:
            if self._conn.poll(POLL_S):
                try:
                    return wire.recv(self._conn)
                except (EOFError, OSError):
                    self._proc.join(5)
                    raise WorkerGone(f"crashed with {_signal_name(self._proc.exitcode)}") from None
            now = time.monotonic()
            cpu = cpu_seconds(self._proc.pid)
            if cpu != last_cpu:
                last_cpu, last_change = cpu, now
            if not self._proc.is_alive() and not self._conn.poll(0):
                self._proc.join(5)
                raise WorkerGone(f"crashed with {_signal_name(self._proc.exitcode)}")
            if stall and cpu is not None and now - last_change > self.stall_timeout:
                raise WorkerGone(f"was wedged: no message and no CPU time for {self.stall_timeout:g} s; killed")
            if now - start > limit:
                raise WorkerGone(f"gave no answer in {limit:g} s; killed")

    def events(self, case: Case, routes: list[str], interleave: bool = True):
        """Run the routes of a case and yield ("initial" | "step" | "end", route, payload) as they come.
        A crash or wedge ends the route it hit with an ``error`` and a fresh worker resumes the others.
        ("sent", None, None) comes as soon as the request is on its way: the caller may then read other
        workers until ``ready`` says this one has a message."""
        delivered = dict.fromkeys(routes, 0)  # items received: the initial parameters, then each step
        ended: set[str] = set()
        request = (case, tuple(routes), interleave)
        if self._ahead and not _same_request(self._ahead[0], request):
            self._kill()  # a request sent ahead for another case would answer this one: drop them all
        while len(ended) < len(routes):
            if self.info is None or (self.info.available and self._proc is None):
                if self.info is not None:
                    self.restarts += 1
                self.start()
            if not self.info.available:
                outcome = Outcome("error" if self.info.broken else "skipped", message=self.info.reason)
                for route in routes:
                    if route not in ended:
                        ended.add(route)
                        yield ("end", route, outcome)
                return
            pending = [(r, delivered[r]) for r in routes if r not in ended]
            if self._ahead:  # this very request, sent ahead to the same worker (a restart clears them)
                self._ahead.popleft()
            else:
                self._conn.send((case, pending, interleave))
            reader = _Reader(self)
            finished = False
            try:
                yield ("sent", None, None)
                while True:
                    message = reader.next()
                    kind = message[0]
                    if kind == "done":
                        finished = True
                        break
                    route = message[1]
                    if kind in ("initial", "step"):
                        delivered[route] += 1
                    else:
                        ended.add(route)
                    yield message
            except WorkerGone as gone:
                finished = True
                reader.stop()
                at = self._current.value
                current = pending[at][0] if 0 <= at < len(pending) else pending[0][0]
                self._kill()
                if current in ended:  # between routes: nothing of theirs was lost
                    continue
                ended.add(current)
                yield ("end", current, Outcome("error", message=f"{self.name} worker {gone} while running this "
                                                                f"(case, route); the worker was restarted for the rest"))
            finally:
                if not finished:  # abandoned mid-request: its unread messages would answer the next request
                    reader.stop()
                    self._kill()

    def send_ahead(self, case: Case, routes: list[str], interleave: bool = True) -> None:
        """Send a request now, for ``events`` with the same arguments to read later: a running worker goes on
        to it as soon as it has finished the requests before it, instead of waiting for the harness to
        compare and evaluate the case before. Nothing is sent to a worker that has not started."""
        if self._proc is None or self.info is None or not self.info.available or not routes:
            return
        self._conn.send((case, [(route, 0) for route in routes], interleave))
        self._ahead.append((case, tuple(routes), interleave))

    def sent_ahead(self) -> list[Case]:
        """The cases of the requests sent ahead that the worker holds, oldest first."""
        return [request[0] for request in self._ahead]

    def ready(self) -> bool:
        """A message (or the end of a dead worker) is waiting: reading it will not block."""
        reader = self._reader
        if reader is not None:
            return bool(reader.batch) or not reader.queue.empty()
        return self._conn is None or self._conn.poll(0)

    def run(self, case: Case, route: str) -> Outcome:
        """One route, collected whole (tests and tools; the runner streams ``events``)."""
        return collect_outcome(self.events(case, [route]))

    def _kill(self) -> None:
        if self._proc is not None and self._proc.pid is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        self._ahead.clear()

    def close(self) -> None:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._proc.join(10)
        self._kill()


# Batches a reader thread holds for the harness: a step or two of each route ahead, so the worker computes
# its next step while the harness compares the last one, and memory stays bounded (a step at 1M parameters
# is some 20 MB per route, and goes alone).
QUEUED_MESSAGES = 2
ARRIVED = threading.Condition()  # notified whenever a reader has queued a message (``wait_for_any``)


def wait_for_any(backends, timeout: float = POLL_S) -> None:
    """Block until one of the backends has a message ready (or ``timeout`` s passed)."""
    with ARRIVED:
        if not any(b.ready() for b in backends):
            ARRIVED.wait(timeout)


class _Reader:
    """Reads one request's messages from a worker on a thread, so that the worker never waits for the harness
    to come back to its pipe (a step's records are megabytes, far more than a pipe holds). The liveness
    checks of ``_receive`` run on the thread; a WorkerGone is handed over like a message."""

    def __init__(self, backend: "WorkerBackend"):
        self.backend = backend
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUED_MESSAGES)
        self.batch: collections.deque = collections.deque()  # the rest of the batch ``next`` is reading
        self._stopped = threading.Event()
        backend._reader = self
        self._thread = threading.Thread(target=self._run, name=f"equivalence-read-{backend.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                item = self.backend._receive(self.backend.timeout)
            except WorkerGone as gone:
                item = gone
            except Exception as exc:  # a harness bug still reaches the harness
                item = exc
            while not self._stopped.is_set():
                try:
                    self.queue.put(item, timeout=POLL_S)
                    break
                except queue.Full:
                    continue
            with ARRIVED:
                ARRIVED.notify_all()
            if not isinstance(item, list) or item[-1][0] == "done":
                return

    def next(self):
        """The next message; the worker sends them in lists (_Batch)."""
        if not self.batch:
            item = self.queue.get()
            if isinstance(item, BaseException):
                self.stop()
                raise item
            self.batch.extend(item)
        message = self.batch.popleft()
        if message[0] == "done":
            self.stop()
        return message

    def stop(self) -> None:
        self._stopped.set()
        if self.backend._reader is self:
            self.backend._reader = None


def collect_outcome(events) -> Outcome:
    """The Outcome of a single-route event stream, with the trajectory collected when it ran."""
    initial, steps, outcome = None, [], Outcome("error", message="no result")
    for kind, _, payload in events:
        if kind == "sent":
            continue
        if kind == "initial":
            initial = payload
        elif kind == "step":
            steps.append(payload)
        else:
            outcome = payload
    if outcome.status == "ok" and outcome.trajectory is None:  # a whole result came with the outcome
        outcome.trajectory = Trajectory(initial=initial or {}, steps=steps)
    return outcome


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

    def launch(self) -> None:
        pass

    def events(self, case: Case, routes: list[str], interleave: bool = True):
        if self.info is None:
            self.start()
        if not self.info.available:
            for route in routes:
                yield ("end", route, Outcome("skipped", message=self.info.reason))
            return
        for message in drive(self._module, case, [(r, 0) for r in routes], interleave):
            if message[0] != "enter":
                yield message

    def send_ahead(self, case: Case, routes: list[str], interleave: bool = True) -> None:
        pass  # runs when ``events`` asks

    def sent_ahead(self) -> list[Case]:
        return []

    def ready(self) -> bool:
        return True

    def run(self, case: Case, route: str) -> Outcome:
        return collect_outcome(self.events(case, [route]))

    def close(self) -> None:
        pass


__all__ = ["BackendInfo", "InProcessBackend", "Outcome", "WorkerBackend", "collect", "collect_outcome",
           "cpu_seconds", "drive", "wait_for_any"]
