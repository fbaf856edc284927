"""Plain SGD and heavy-ball / Nesterov momentum (Paddle ``SGD`` and ``Momentum``, Torch ``SGD``)."""

from __future__ import annotations

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, prior


def sgd_update(step, w, g, state):
    return w - step.lr * g


def momentum_update(step, w, g, state):
    """v = mu*v + g (heavy ball), or the textbook EMA v = mu*v + (1-mu)*g; w -= lr*v, or lr*(g + mu*v)
    for Nesterov (paddle/optimizer/momentum.py:62-70, torch/optim/sgd.py:364-377). Paddle's rescale_grad
    multiplies the gradient first (momentum_kernel_impl.h:160); Torch's dampening weighs the gradient by
    1 - dampening from the second step on, the first step's buffer being the gradient itself
    (torch/optim/sgd.py:360-364)."""
    mu = step.attribute("momentum")
    g = g * step.attribute("rescale_grad")
    g_in = g if "velocity" not in state else g * (1 - step.value("dampening"))
    v = prior(state, "velocity", w)
    v = mu * v + ((1 - mu) * g_in if step.case.reference.momentum == "ema" else g_in)
    state["velocity"] = v
    return w - step.lr * (g + mu * v if step.flag("nesterov") else v)


LR_SGD = Hyper("Learning rate.", Arg("learning_rate", 0.001, "paddle/optimizer/sgd.py:95"),
               Arg("lr", 0.001, "torch/optim/sgd.py:32"))

SGD = OptimizerInfo(
    name="sgd", doc="Plain stochastic gradient descent: w -= lr * g.",
    paddle="SGD", torch="SGD", hypers={"lr": LR_SGD}, update=sgd_update)

MOMENTUM = OptimizerInfo(
    name="momentum", doc="SGD with heavy-ball or Nesterov momentum (Torch: SGD with momentum > 0).",
    paddle="Momentum", torch="SGD", update=momentum_update, fused_l2=True,
    hypers={
        "lr": Hyper("Learning rate.", Arg("learning_rate", 0.001, "paddle/optimizer/momentum.py:151"),
                    Arg("lr", 0.001, "torch/optim/sgd.py:32")),
        "momentum": Hyper(
            "Momentum factor mu.",
            Arg("momentum", 0.9, "paddle/optimizer/momentum.py:152", float32=True),
            Arg("momentum", 0.0, "torch/optim/sgd.py:33"),
            valid=in_unit_interval, valid_text="0 <= momentum < 1"),
        "nesterov": Hyper(
            "Nesterov momentum: step by lr * (g + mu*v).",
            Arg("use_nesterov", False, "paddle/optimizer/momentum.py:156"),
            Arg("nesterov", False, "torch/optim/sgd.py:36"), kind="boolean"),
        "dampening": Hyper(
            "Torch: the gradient enters the buffer times 1 - dampening (from the second step on).",
            Arg(None, 0.0), Arg("dampening", 0.0, "torch/optim/sgd.py:34"),
            valid=lambda v: 0.0 <= v <= 1.0, valid_text="0 <= dampening <= 1"),
        "rescale_grad": Hyper(
            "Paddle: the gradient is multiplied by rescale_grad before the update (before a fused L2Decay is "
            "added, so a case combines it with no regularization).",
            Arg("rescale_grad", 1.0, "paddle/optimizer/momentum.py:160", float32=True), Arg(None, 1.0),
            valid=lambda v: v > 0, valid_text="> 0"),
    })
