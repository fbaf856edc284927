"""Adagrad: s += g^2; w -= lr_t * g / (sqrt(s) + eps), with Torch's lr_t = lr / (1 + (t-1)*lr_decay)
(paddle/optimizer/adagrad.py:57-59, torch/optim/adagrad.py:402-426). Paddle has no lr_decay: it
behaves as lr_decay = 0."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, non_negative


def adagrad_update(step, w, g, state):
    t = state.get("step", 0) + 1
    s = state.get("accumulator", 0 * w + step.value("initial_accumulator_value")) + g * g
    state["step"], state["accumulator"] = t, s
    lr = step.lr / (1 + (t - 1) * step.value("lr_decay"))
    return w - lr * g / (np.sqrt(s) + step.attribute("epsilon"))


ADAGRAD = OptimizerInfo(
    name="adagrad", doc="Adagrad: the step divides by the root of the summed squared gradients.",
    paddle="Adagrad", torch="Adagrad", update=adagrad_update,
    hypers={
        "lr": Hyper("Learning rate; Paddle has no default.", Arg("learning_rate", None, "paddle/optimizer/adagrad.py:139"),
                    Arg("lr", 0.01, "torch/optim/adagrad.py:32")),
        "epsilon": Hyper("Added to sqrt(s).", Arg("epsilon", 1e-6, "paddle/optimizer/adagrad.py:140", float32=True),
                         Arg("eps", 1e-10, "torch/optim/adagrad.py:36"), valid=non_negative, valid_text=">= 0"),
        "initial_accumulator_value": Hyper(
            "Starting value of s.", Arg("initial_accumulator_value", 0.0, "paddle/optimizer/adagrad.py:147"),
            Arg("initial_accumulator_value", 0.0, "torch/optim/adagrad.py:35"), valid=non_negative,
            valid_text=">= 0"),
        "lr_decay": Hyper("Torch's learning-rate decay lr / (1 + (t-1)*lr_decay).",
                          Arg(None, 0.0), Arg("lr_decay", 0.0, "torch/optim/adagrad.py:33"),
                          valid=non_negative, valid_text=">= 0"),
    })
