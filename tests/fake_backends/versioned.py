"""A fake framework whose behaviour depends on its version, read from FAKE_VERSION (default 1.0.0) so a
test can "upgrade" it between two runs (a spawned worker inherits the environment).

optimizer: the reference trajectory up to 1.x; from 2.0 on the learning rate x 1.01, as an upgrade that
changed a kernel would; loss_penalty: NotApplicable; per_parameter: an AttributeError, as an older
framework lacking an API the backend calls.
"""

from __future__ import annotations

import dataclasses
import os

from packaging.version import Version

from equivalence import reference
from equivalence.backends.common import NotApplicable
from equivalence.record import Trajectory

NAME = "fake"
CHANGED_IN = Version("2.0")


def versions() -> dict[str, str]:
    return {"fake": os.environ.get("FAKE_VERSION", "1.0.0")}


def run(case, route: str) -> Trajectory:
    if route == "optimizer":
        if Version(versions()["fake"]) >= CHANGED_IN:
            case = dataclasses.replace(case, optimizer=dataclasses.replace(case.optimizer, lr=case.optimizer.lr * 1.01))
        return reference.run(case)
    if route == "loss_penalty":
        raise NotApplicable("fake has no loss penalty (fake/penalty.py:1)")
    if route == "per_parameter":
        raise AttributeError("module 'fake' has no attribute 'param_groups' (added in fake 3.0)")
    raise AssertionError(f"fake backend has no route {route!r}")
