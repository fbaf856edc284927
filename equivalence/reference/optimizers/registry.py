"""Every optimizer the suite knows, by its neutral name. Adding one: a module here with its
``OptimizerInfo`` (hyper-parameters, defaults with source lines, reference update), its entry below,
an entry in each backend's optimizer table, and a case file."""

from __future__ import annotations

import dataclasses

from .adadelta import ADADELTA
from .adagrad import ADAGRAD
from .adam import ADAM, ADAMW
from .adamax import ADAMAX
from .asgd import ASGD
from .base import Arg, Hyper, OptimizerInfo
from .lamb import LAMB
from .lbfgs import LBFGS
from .nadam import NADAM
from .radam import RADAM
from .rmsprop import RMSPROP
from .rprop import RPROP
from .sgd import MOMENTUM, SGD

# Torch's maximize=True (ascend the loss: the optimizer negates the gradient before anything else) has no
# Paddle counterpart; the line of its argument in each Torch optimizer.
_MAXIMIZE_LINES = {"sgd": ("sgd", 38), "momentum": ("sgd", 38), "adam": ("adam", 45), "adamw": ("adamw", 30),
                   "adagrad": ("adagrad", 39), "rmsprop": ("rmsprop", 42), "adadelta": ("adadelta", 39),
                   "adamax": ("adamax", 39), "nadam": ("nadam", 44), "radam": ("radam", 42), "rprop": ("rprop", 40),
                   "asgd": ("asgd", 39)}


def _with_maximize(info: OptimizerInfo) -> OptimizerInfo:
    if info.name not in _MAXIMIZE_LINES:
        return info
    module, line = _MAXIMIZE_LINES[info.name]
    maximize = Hyper("Maximize the loss: the update uses -grad (Torch only).", Arg(None, False),
                     Arg("maximize", False, f"torch/optim/{module}.py:{line}"), kind="boolean")
    return dataclasses.replace(info, hypers={**info.hypers, "maximize": maximize})


REGISTRY: dict[str, OptimizerInfo] = {info.name: _with_maximize(info) for info in (
    SGD, MOMENTUM, ADAM, ADAMW, ADAGRAD, RMSPROP, ADADELTA, ADAMAX, NADAM, RADAM, RPROP, ASGD, LAMB, LBFGS,
)}
