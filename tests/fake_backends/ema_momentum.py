"""A fake framework that writes momentum as an EMA, v = mu v + (1 - mu) g (the textbook claim), and moves the
learning rate by 1e-3 on the loss_penalty route (a difference no flavour explains)."""

from __future__ import annotations

import dataclasses

from equivalence import reference
from equivalence.record import Trajectory

NAME = "fakeema"


def versions() -> dict[str, str]:
    return {NAME: "1.0"}


def run(case, route: str) -> Trajectory:
    case = dataclasses.replace(case, reference=dataclasses.replace(case.reference, momentum="ema"))
    if route == "loss_penalty":
        case = dataclasses.replace(case, optimizer=dataclasses.replace(case.optimizer, lr=case.optimizer.lr * 1.001))
    return reference.run(case)
