"""A fake backend whose routes succeed, crash the worker, refuse, or raise.

optimizer: the reference trajectory (so a Runner check against the reference passes);
per_parameter: SIGSEGV to its own process, as a corrupting framework kernel would;
loss_penalty: NotApplicable; value_error: a ValueError; pid: a trajectory holding the worker's pid;
hang: blocks forever without using CPU (a deadlock after a heap corruption); busy: the reference after
``BUSY_S`` seconds of computing without a message (a slow but healthy run); crash_midway: streams two steps, then SIGSEGV.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time

import numpy as np

from equivalence import reference
from equivalence.backends.common import NotApplicable
from equivalence.record import SCALAR, Trajectory

NAME = "fake"
BUSY_S = 4.0


def versions() -> dict[str, str]:
    return {"fake": "0.0.1"}


def run(case, route: str) -> Trajectory:
    if route == "optimizer":
        return reference.run(case)
    if route == "per_parameter":
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file from the simulated crash
        os.kill(os.getpid(), signal.SIGSEGV)
    if route == "loss_penalty":
        raise NotApplicable("fake has no loss penalty (fake/penalty.py:1)")
    if route == "value_error":
        raise ValueError("fake refuses this input")
    if route == "pid":
        return Trajectory(steps=[{"pid": {SCALAR: np.array(float(os.getpid()))}}])
    if route == "hang":
        threading.Event().wait()
    if route == "busy":
        end = time.monotonic() + BUSY_S  # computing all along, however little CPU a loaded machine gives it
        while time.monotonic() < end:
            sum(range(1000))
        return reference.run(case)
    raise AssertionError(f"fake backend has no route {route!r}")


def stream(case, route: str):
    if route != "crash_midway":
        yield from run(case, route).stream()
        return
    trajectory = reference.run(case)
    yield trajectory.initial
    yield from trajectory.steps[:2]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), signal.SIGSEGV)
