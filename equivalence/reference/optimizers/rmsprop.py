"""RMSProp, plain, with momentum and centered. The two frameworks differ in two places:

- epsilon: Paddle adds it inside the square root, sqrt(ms + eps) (paddle/optimizer/rmsprop.py:62,
  paddle/include/paddle/phi/kernels/impl/rmsprop_kernel_impl.h:108), Torch outside, sqrt(ms) + eps
  (torch/optim/rmsprop.py:325-330). With eps = 0 the updates coincide;
- the momentum buffer: Paddle keeps the learning rate inside it, v = mu*v + lr*g/denominator, w -= v
  (rmsprop_kernel_impl.h:107-110); Torch keeps v = mu*v + g/denominator, w -= lr*v (rmsprop.py:336-337).
  For a constant lr the steps are equal; the buffers differ by the factor lr (state.lr_velocity vs
  state.velocity).
"""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, non_negative, prior


def rmsprop_update(step, w, g, state):
    rho, eps, mu = step.attribute("rho"), step.attribute("epsilon"), step.attribute("momentum")
    state["step"] = state.get("step", 0) + 1
    ms = rho * prior(state, "mean_square", w) + (1 - rho) * g * g
    state["mean_square"] = ms
    variance = ms
    if step.flag("centered"):
        mg = rho * prior(state, "mean_grad", w) + (1 - rho) * g
        state["mean_grad"] = mg
        variance = ms - mg * mg
    denominator = np.sqrt(variance + eps) if step.follows == "paddle" else np.sqrt(variance) + eps
    # Both buffers: Paddle keeps lr inside (and always allocates it), Torch only keeps one with momentum.
    lr_velocity = mu * prior(state, "lr_velocity", w) + step.lr * g / denominator
    state["lr_velocity"] = lr_velocity
    if step.values["momentum"] > 0:
        state["velocity"] = mu * prior(state, "velocity", w) + g / denominator
    if step.follows == "paddle":
        return w - lr_velocity
    return w - step.lr * (state["velocity"] if step.values["momentum"] > 0 else g / denominator)


P, T = "paddle/optimizer/rmsprop.py", "torch/optim/rmsprop.py"

RMSPROP = OptimizerInfo(
    name="rmsprop", doc="RMSProp (Torch RMSprop), plain, with momentum, or centered.",
    paddle="RMSProp", torch="RMSprop", update=rmsprop_update,
    differs="Paddle adds epsilon inside the square root, Torch outside (paddle/optimizer/rmsprop.py:62, "
            "torch/optim/rmsprop.py:325-330)",
    hypers={
        "lr": Hyper("Learning rate; Paddle has no default.", Arg("learning_rate", None, f"{P}:179"),
                    Arg("lr", 0.01, f"{T}:34")),
        "rho": Hyper("Decay of the running mean of g^2 (Paddle rho, Torch alpha).",
                     Arg("rho", 0.95, f"{P}:180", float32=True), Arg("alpha", 0.99, f"{T}:35"),
                     valid=in_unit_interval, valid_text="0 <= rho < 1"),
        "epsilon": Hyper("Smoothing term: inside the root in Paddle, outside in Torch.",
                         Arg("epsilon", 1e-6, f"{P}:181", float32=True), Arg("eps", 1e-8, f"{T}:36"),
                         valid=non_negative, valid_text=">= 0"),
        "momentum": Hyper("Momentum of the step buffer.", Arg("momentum", 0.0, f"{P}:182", float32=True),
                          Arg("momentum", 0.0, f"{T}:38"), valid=in_unit_interval, valid_text="0 <= momentum < 1"),
        "centered": Hyper("Divide by the variance estimate ms - mg^2 instead of ms.",
                          Arg("centered", False, f"{P}:183"), Arg("centered", False, f"{T}:39"), kind="boolean"),
    })
