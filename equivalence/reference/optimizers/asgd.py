"""ASGD: the same name for two different algorithms.

- Paddle's ASGD is SAG, the stochastic average gradient (paddle/optimizer/asgd.py:41-56): it stores the last
  gradient of each of batch_num slots (y), keeps their sum d, and steps by w -= lr * d / min(t, batch_num)
  (asgd.py:253-279: slot m mod batch_num, then m += 1). With batch_num = 1 (the default) it is plain SGD.
- Torch's ASGD is averaged SGD (torch/optim/asgd.py:247-273): w *= 1 - lambd*eta; w -= eta*g; it keeps a
  running average ax of w (from step t0 on) and shrinks eta = lr / (1 + lambd*lr*t)^alpha. With lambd = 0
  its parameter trajectory is plain SGD.

So Paddle ASGD(batch_num=1) and Torch ASGD(lambd=0) take the same steps; nothing else maps. The reference
records both bookkeepings (Paddle's d, y and m; Torch's eta, mu and ax) along the trajectory it follows."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, non_negative, prior


def asgd_update(step, w, g, state):
    t = state.get("step", 0) + 1
    n = int(step.values["batch_num"])
    table = state.get("grad_table", np.zeros((n,) + w.shape, dtype=w.dtype)).copy()
    slot = (t - 1) % n
    grad_sum = prior(state, "grad_sum", w) - table[slot] + g
    table[slot] = g
    lambd, alpha, t0 = step.value("lambd"), step.values["alpha"], step.values["t0"]
    eta, mu = state.get("eta", step.lr), state.get("mu", step.dtype.type(1))
    if step.follows == "paddle":
        new = w - step.lr * grad_sum / step.dtype.type(min(t, n))
    else:
        new = w * (1 - lambd * eta) - eta * g
    average = prior(state, "average", w)
    average = average + (new - average) * mu if mu != 1 else new
    state.update(step=t, grad_sum=grad_sum, grad_table=table, average=average,
                 eta=step.dtype.type(step.lr / (1 + lambd * step.lr * t) ** alpha),
                 mu=step.dtype.type(1 / max(1, t - t0)))
    return new


P, T = "paddle/optimizer/asgd.py", "torch/optim/asgd.py"

ASGD = OptimizerInfo(
    name="asgd", doc="ASGD: Paddle's is SAG (stochastic average gradient), Torch's averaged SGD.",
    paddle="ASGD", torch="ASGD", update=asgd_update,
    differs="Paddle's ASGD is the stochastic average gradient (SAG), Torch's is averaged SGD with a decay "
            "term (paddle/optimizer/asgd.py:41-56, torch/optim/asgd.py:247-273)",
    hypers={
        "lr": Hyper("Learning rate (Torch: the initial eta).", Arg("learning_rate", 0.001, f"{P}:117"),
                    Arg("lr", 0.01, f"{T}:33")),
        "batch_num": Hyper("Paddle: number of gradient slots SAG averages over.", Arg("batch_num", 1, f"{P}:118"),
                           Arg(None, 1), kind="integer", valid=lambda v: v >= 1, valid_text="an integer >= 1"),
        "lambd": Hyper("Torch: decay term, w *= 1 - lambd*eta, and eta's decay.", Arg(None, 0.0),
                       Arg("lambd", 1e-4, f"{T}:34"), valid=non_negative, valid_text=">= 0"),
        "alpha": Hyper("Torch: power of eta's decay.", Arg(None), Arg("alpha", 0.75, f"{T}:35"),
                       valid=non_negative, valid_text=">= 0"),
        "t0": Hyper("Torch: step from which the average starts.", Arg(None), Arg("t0", 1e6, f"{T}:36"),
                    valid=non_negative, valid_text=">= 0"),
    })
