"""A fake backend whose routes succeed, crash the worker, refuse, or raise.

optimizer: the reference trajectory (so a Runner check against the reference passes);
per_parameter: SIGSEGV to its own process, as a corrupting framework kernel would;
loss_penalty: NotApplicable; value_error: a ValueError; pid: a trajectory holding the worker's pid.
"""

from __future__ import annotations

import os
import resource
import signal

import numpy as np

from equivalence import reference
from equivalence.backends.common import NotApplicable
from equivalence.record import SCALAR, Trajectory

NAME = "fake"


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
    raise AssertionError(f"fake backend has no route {route!r}")
