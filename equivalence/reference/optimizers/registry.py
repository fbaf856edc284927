"""Every optimizer the suite knows, by its neutral name. Adding one: a module here with its
``OptimizerInfo`` (hyper-parameters, defaults with source lines, reference update), its entry below,
an entry in each backend's optimizer table, and a case file."""

from __future__ import annotations

from .adadelta import ADADELTA
from .adagrad import ADAGRAD
from .adam import ADAM, ADAMW
from .adamax import ADAMAX
from .asgd import ASGD
from .base import OptimizerInfo
from .lamb import LAMB
from .lbfgs import LBFGS
from .nadam import NADAM
from .radam import RADAM
from .rmsprop import RMSPROP
from .rprop import RPROP
from .sgd import MOMENTUM, SGD

REGISTRY: dict[str, OptimizerInfo] = {info.name: info for info in (
    SGD, MOMENTUM, ADAM, ADAMW, ADAGRAD, RMSPROP, ADADELTA, ADAMAX, NADAM, RADAM, RPROP, ASGD, LAMB, LBFGS,
)}
