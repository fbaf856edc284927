"""LAMB (Paddle only; torch.optim has none): Adam's bias-corrected direction plus decoupled decay,
r = m_hat/(sqrt(v_hat) + eps) + wd*w, scaled by the trust ratio ||w|| / ||r|| of the whole parameter:
w -= lr * ratio * r (paddle/include/paddle/phi/kernels/funcs/lamb_functors.h:100-110, 445-454). The ratio is
1 where either norm is 0, and also when wd is 0 unless always_adapt (impl/lamb_kernel_impl.h:262).
Paddle's docstring divides by beta^t (paddle/optimizer/lamb.py:67-69); the kernel divides by 1 - beta^t.
The beta powers start at the double beta (lamb.py:220-240) and are multiplied by the float attribute."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, matches, non_negative, prior


def lamb_update(step, w, g, state):
    b1, b2, eps = step.attribute("beta1"), step.attribute("beta2"), step.attribute("epsilon")
    excluded = matches(step.name, step.values["decay_exclude"])
    wd = step.dtype.type(0) if excluded else step.attribute("weight_decay")
    one = step.dtype.type(1)
    beta1_power = state.get("beta1_power", step.value("beta1"))  # beta^t for step t, before the update
    beta2_power = state.get("beta2_power", step.value("beta2"))
    m = b1 * prior(state, "moment1", w) + (one - b1) * g
    v = b2 * prior(state, "moment2", w) + (one - b2) * g * g
    r = (m / (one - beta1_power)) / (np.sqrt(v / (one - beta2_power)) + eps) + wd * w
    ratio = one
    if wd > 0 or step.flag("always_adapt"):
        w_norm, r_norm = np.sqrt((w * w).sum()), np.sqrt((r * r).sum())
        ratio = w_norm / r_norm if w_norm > 0 and r_norm > 0 else one
    state.update(step=state.get("step", 0) + 1, moment1=m, moment2=v, beta1_power=beta1_power * b1,
                 beta2_power=beta2_power * b2)
    return w - step.lr * ratio * r


P = "paddle/optimizer/lamb.py"

LAMB = OptimizerInfo(
    name="lamb", doc="LAMB: layer-wise adaptive moments (Paddle only).",
    paddle="Lamb", torch=None, update=lamb_update,
    hypers={
        "lr": Hyper("Learning rate.", Arg("learning_rate", 0.001, f"{P}:136"), Arg(None)),
        "weight_decay": Hyper("LAMB's decay rate lambda, added to the direction (Paddle lamb_weight_decay).",
                              Arg("lamb_weight_decay", 0.01, f"{P}:137", float32=True), Arg(None),
                              valid=non_negative, valid_text=">= 0"),
        "beta1": Hyper("Decay of the first moment.", Arg("beta1", 0.9, f"{P}:138", float32=True), Arg(None),
                       valid=in_unit_interval, valid_text="0 <= beta1 < 1"),
        "beta2": Hyper("Decay of the second moment.", Arg("beta2", 0.999, f"{P}:139", float32=True), Arg(None),
                       valid=in_unit_interval, valid_text="0 <= beta2 < 1"),
        "epsilon": Hyper("Added to sqrt(v_hat).", Arg("epsilon", 1e-6, f"{P}:140", float32=True), Arg(None),
                         valid=non_negative, valid_text=">= 0"),
        "always_adapt": Hyper("Apply the trust ratio even when weight_decay is 0.",
                              Arg("always_adapt", False, f"{P}:147"), Arg(None), kind="boolean"),
        "decay_exclude": Hyper("Parameter names or patterns without decay (and so without trust ratio, unless "
                               "always_adapt): Paddle exclude_from_weight_decay_fn.",
                               Arg("exclude_from_weight_decay_fn", (), f"{P}:145"), Arg(None), kind="patterns"),
    })
