"""A fake backend that equals the reference while the learning rate is at most THRESHOLD, and moves every
parameter by a relative 1e-3 above it: a mapping that is "equal" only in part of its hyper-parameter range,
for the sweep to find and shrink to the threshold."""

from __future__ import annotations

from equivalence import reference
from equivalence.backends.common import NotApplicable
from equivalence.record import Trajectory

NAME = "fake"
THRESHOLD = 0.3


def versions() -> dict[str, str]:
    return {"fake": "0.0.1"}


def run(case, route: str) -> Trajectory:
    if route != "optimizer":
        raise NotApplicable(f"the threshold backend has only the optimizer route, not {route!r}")
    trajectory = reference.run(case)
    if case.optimizer.lr > THRESHOLD:
        for step in trajectory.steps:
            step["param"] = {name: value * (1 + 1e-3) for name, value in step["param"].items()}
    return trajectory
