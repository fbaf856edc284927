"""Optimizer updates in NumPy, one function per optimizer, written from each framework's formula."""

from __future__ import annotations

import numpy as np

from ..spec import Case


def momentum_attribute(case: Case, value: float) -> float:
    """mu or an L2 coefficient as the momentum update sees it: rounded to float32 in the Paddle flavour."""
    if case.reference.momentum_attributes == "float32" and case.optimizer.name == "momentum":
        return float(np.float32(value))
    return value


def optimizer_step(case: Case, w, g, state: dict, lr):
    """One optimizer step on one parameter; returns the new parameter and updates ``state``."""
    opt = case.optimizer
    if opt.name == "sgd":
        return w - lr * g
    mu = w.dtype.type(momentum_attribute(case, opt.momentum))
    v = state.get("velocity", np.zeros_like(w))
    if case.reference.momentum == "ema":
        v = mu * v + (1 - mu) * g
    else:
        v = mu * v + g
    state["velocity"] = v
    return w - lr * (g + mu * v if opt.nesterov else v)
