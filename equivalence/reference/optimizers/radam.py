"""RAdam: m_hat = m/(1 - b1^t); rho_t = rho_inf - 2*t*b2^t/(1 - b2^t), rho_inf = 2/(1 - b2) - 1; while
rho_t <= 5 the step is lr*m_hat, after that lr*m_hat*r_t*sqrt(1 - b2^t)/(sqrt(v) + eps) with the
rectification r_t. The same in both (paddle/optimizer/radam.py:61-74,
paddle/include/paddle/phi/kernels/impl/radam_kernel_impl.h:74-108, torch/optim/radam.py:311-358).
Paddle keeps b1^t, b2^t and rho_term = t*b2^t/(1 - b2^t) as parameter-shaped accumulators, updated by a
recursion (radam_kernel_impl.h:79-81); Torch recomputes them from its step count."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, non_negative, prior


def radam_update(step, w, g, state):
    b1, b2, eps = step.attribute("beta1"), step.attribute("beta2"), step.attribute("epsilon")
    one = step.dtype.type(1)
    t = state.get("step", 0) + 1
    beta1_power = state.get("beta1_power", one) * b1
    beta2_power = state.get("beta2_power", one) * b2
    rho_term = t * beta2_power / (one - beta2_power)
    m = b1 * prior(state, "moment1", w) + (one - b1) * g
    v = b2 * prior(state, "moment2", w) + (one - b2) * g * g
    state.update(step=t, beta1_power=beta1_power, beta2_power=beta2_power, rho_term=rho_term, moment1=m, moment2=v)
    m_hat = m / (one - beta1_power)
    rho_inf = 2 / (one - b2) - one
    rho_t = rho_inf - 2 * rho_term
    if rho_t <= 5:
        return w - step.lr * m_hat
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    adaptive = np.sqrt(one - beta2_power) / (np.sqrt(v) + eps)
    return w - step.lr * m_hat * rect * adaptive


P, T = "paddle/optimizer/radam.py", "torch/optim/radam.py"

RADAM = OptimizerInfo(
    name="radam", doc="RAdam: Adam with the variance rectification, plain momentum while rho_t <= 5.",
    paddle="RAdam", torch="RAdam", update=radam_update,
    hypers={
        "lr": Hyper("Learning rate.", Arg("learning_rate", 0.001, f"{P}:159"), Arg("lr", 0.001, f"{T}:35")),
        "beta1": Hyper("Decay of the first moment.", Arg("beta1", 0.9, f"{P}:160", float32=True),
                       Arg("betas[0]", 0.9, f"{T}:36"), valid=in_unit_interval, valid_text="0 <= beta1 < 1"),
        "beta2": Hyper("Decay of the second moment.", Arg("beta2", 0.999, f"{P}:161", float32=True),
                       Arg("betas[1]", 0.999, f"{T}:36"), valid=in_unit_interval, valid_text="0 <= beta2 < 1"),
        "epsilon": Hyper("Added to sqrt(v).", Arg("epsilon", 1e-8, f"{P}:162", float32=True),
                         Arg("eps", 1e-8, f"{T}:37"), valid=non_negative, valid_text=">= 0"),
    })
