"""Paddle optimizers: construction from the case and their state under neutral names."""

from __future__ import annotations

import paddle

from ...spec import Case


def create(case: Case, parameters: list, weight_decay, grad_clip=None, learning_rate=None):
    """The case's optimizer. ``parameters`` is what Paddle's ``parameters=`` takes (a list of parameters or
    of parameter-group dicts), ``weight_decay`` a Paddle regularizer or None, ``grad_clip`` a Paddle
    ClipGrad* or None, ``learning_rate`` an LRScheduler or None for the constant optimizer.lr. Built under
    the case's default dtype (see ``build``)."""
    opt = case.optimizer
    lr = opt.lr if learning_rate is None else learning_rate
    if opt.name == "sgd":
        return paddle.optimizer.SGD(learning_rate=lr, parameters=parameters, weight_decay=weight_decay,
                                    grad_clip=grad_clip)
    return paddle.optimizer.Momentum(learning_rate=lr, momentum=opt.momentum, parameters=parameters,
                                     use_nesterov=opt.nesterov, weight_decay=weight_decay, grad_clip=grad_clip)


def state(optimizer, param) -> dict:
    """Optimizer state under neutral names: Momentum's ``velocity`` accumulator."""
    velocity = getattr(optimizer, "_accumulators", {}).get("velocity", {}).get(param.name)
    return {} if velocity is None else {"velocity": velocity}
