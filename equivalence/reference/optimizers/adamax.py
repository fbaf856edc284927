"""Adamax: m = b1*m + (1-b1)*g, u = an exponentially weighted infinity norm, w -= lr/(1 - b1^t) * m/u.
The two frameworks put epsilon in different places of u:

- Paddle: u = max(b2*u + eps, |g|) (paddle/optimizer/adamax.py:62,
  paddle/include/paddle/phi/kernels/impl/adamax_kernel_impl.h:63-64);
- Torch: u = max(b2*u, |g| + eps) (torch/optim/adamax.py:280-284).

So where |g| dominates, Paddle divides by |g| and Torch by |g| + eps; with eps = 0 they coincide. Paddle
keeps beta1^(t+1) after step t in beta1_pow_acc, filled with beta1 and scaled by the exact (double) beta1
after each step (adamax.py:214-218, 330-334), while the kernel takes beta1, beta2 and eps as floats."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, non_negative, prior


def adamax_update(step, w, g, state):
    b1, b2, eps = step.attribute("beta1"), step.attribute("beta2"), step.attribute("epsilon")
    t = state.get("step", 0) + 1
    m = b1 * prior(state, "moment1", w) + (1 - b1) * g
    u = prior(state, "inf_norm", w)
    u = np.maximum(b2 * u + eps, np.abs(g)) if step.follows == "paddle" else np.maximum(b2 * u, np.abs(g) + eps)
    exact_b1 = step.value("beta1")  # the power is scaled by the double beta1 in Paddle, as written in Torch
    state.update(step=t, moment1=m, inf_norm=u, beta1_power=exact_b1 ** (t + 1))
    return w - step.lr / (1 - exact_b1 ** t) * m / u


P, T = "paddle/optimizer/adamax.py", "torch/optim/adamax.py"

ADAMAX = OptimizerInfo(
    name="adamax", doc="Adamax: Adam with the infinity norm in place of the second moment.",
    paddle="Adamax", torch="Adamax", update=adamax_update,
    differs="Paddle adds epsilon to beta2*u, Torch to |g| (paddle/optimizer/adamax.py:62, "
            "torch/optim/adamax.py:280-284)",
    hypers={
        "lr": Hyper("Learning rate.", Arg("learning_rate", 0.001, f"{P}:166"), Arg("lr", 0.002, f"{T}:33")),
        "beta1": Hyper("Decay of the first moment.", Arg("beta1", 0.9, f"{P}:167", float32=True),
                       Arg("betas[0]", 0.9, f"{T}:34"), valid=in_unit_interval, valid_text="0 <= beta1 < 1"),
        "beta2": Hyper("Decay of the infinity norm.", Arg("beta2", 0.999, f"{P}:168", float32=True),
                       Arg("betas[1]", 0.999, f"{T}:34"), valid=in_unit_interval, valid_text="0 <= beta2 < 1"),
        "epsilon": Hyper("Added to beta2*u (Paddle) or to |g| (Torch).", Arg("epsilon", 1e-8, f"{P}:169", float32=True),
                         Arg("eps", 1e-8, f"{T}:35"), valid=non_negative, valid_text=">= 0"),
    })
