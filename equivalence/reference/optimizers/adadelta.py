"""Adadelta: E[g^2] = rho*E[g^2] + (1-rho)*g^2; dx = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g;
E[dx^2] = rho*E[dx^2] + (1-rho)*dx^2 (without the learning rate); w -= lr*dx. The same in both
(paddle/include/paddle/phi/kernels/impl/adadelta_kernel_impl.h:60-82, torch/optim/adadelta.py:292-302);
the defaults differ, the learning rate most (Paddle 0.001, Torch 1.0)."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, non_negative, prior


def adadelta_update(step, w, g, state):
    rho, eps = step.attribute("rho"), step.attribute("epsilon")
    state["step"] = state.get("step", 0) + 1
    mean_square = rho * prior(state, "mean_square", w) + (1 - rho) * g * g
    dx = np.sqrt(prior(state, "mean_square_update", w) + eps) / np.sqrt(mean_square + eps) * g
    state["mean_square"] = mean_square
    state["mean_square_update"] = rho * prior(state, "mean_square_update", w) + (1 - rho) * dx * dx
    return w - step.lr * dx


P, T = "paddle/optimizer/adadelta.py", "torch/optim/adadelta.py"

ADADELTA = OptimizerInfo(
    name="adadelta", doc="Adadelta: steps scaled by the ratio of running RMS of updates and gradients.",
    paddle="Adadelta", torch="Adadelta", update=adadelta_update,
    hypers={
        "lr": Hyper("Learning rate (a plain factor on the Adadelta step).", Arg("learning_rate", 0.001, f"{P}:135"),
                    Arg("lr", 1.0, f"{T}:32")),
        "rho": Hyper("Decay of both running means.", Arg("rho", 0.95, f"{P}:137", float32=True),
                     Arg("rho", 0.9, f"{T}:33"), valid=in_unit_interval, valid_text="0 <= rho < 1"),
        "epsilon": Hyper("Added inside both roots.", Arg("epsilon", 1e-6, f"{P}:136", float32=True),
                         Arg("eps", 1e-6, f"{T}:34"), valid=non_negative, valid_text=">= 0"),
    })
