"""Rprop: per-element step sizes, grown by eta_plus while the gradient keeps its sign, shrunk by
eta_minus when it flips (and that element skips the step and forgets its gradient), clamped to
[step_min, step_max]; w -= sign(g) * step_size. The learning rate is only the initial step size.
The same in both (paddle/optimizer/rprop.py:46-64, torch/optim/rprop.py:265-291; Paddle's kernel source
is not shipped, its behaviour on sign flips and clamps was checked against Torch's element by element)."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, positive, prior


def rprop_update(step, w, g, state):
    eta_minus, eta_plus = step.value("eta_minus"), step.value("eta_plus")
    state["step"] = state.get("step", 0) + 1
    sign = np.sign(g * prior(state, "prev_grad", w))
    factor = np.where(sign > 0, eta_plus, np.where(sign < 0, eta_minus, step.dtype.type(1)))
    size = np.clip(state.get("step_size", 0 * w + step.lr) * factor, step.value("step_min"), step.value("step_max"))
    g = np.where(sign < 0, 0 * g, g)
    state.update(step_size=size, prev_grad=g)
    return w - np.sign(g) * size


P, T = "paddle/optimizer/rprop.py", "torch/optim/rprop.py"

RPROP = OptimizerInfo(
    name="rprop", doc="Rprop (resilient backpropagation, full-batch).",
    paddle="Rprop", torch="Rprop", update=rprop_update,
    hypers={
        "lr": Hyper("Initial step size.", Arg("learning_rate", 0.001, f"{P}:120"), Arg("lr", 0.01, f"{T}:34")),
        "eta_minus": Hyper("Step-size factor after a sign flip.", Arg("etas[0]", 0.5, f"{P}:123"),
                           Arg("etas[0]", 0.5, f"{T}:35"), valid=lambda v: 0 < v < 1, valid_text="0 < eta_minus < 1"),
        "eta_plus": Hyper("Step-size factor while the sign holds.", Arg("etas[1]", 1.2, f"{P}:123"),
                          Arg("etas[1]", 1.2, f"{T}:35"), valid=lambda v: v > 1, valid_text="eta_plus > 1"),
        "step_min": Hyper("Smallest step size.", Arg("learning_rate_range[0]", 1e-5, f"{P}:121"),
                          Arg("step_sizes[0]", 1e-6, f"{T}:36"), valid=positive, valid_text="> 0"),
        "step_max": Hyper("Largest step size.", Arg("learning_rate_range[1]", 50.0, f"{P}:121"),
                          Arg("step_sizes[1]", 50.0, f"{T}:36"), valid=positive, valid_text="> 0"),
    })
