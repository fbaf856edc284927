"""Paddle optimizers: construction from the case and their state under neutral names."""

from __future__ import annotations

import paddle

from ...spec import Case


def create(case: Case, params: dict, weight_decay):
    """The case's optimizer over ``params`` (name -> parameter), with ``weight_decay`` a Paddle regularizer
    or None. Built under the case's default dtype (see ``build``)."""
    opt = case.optimizer
    plist = list(params.values())
    if opt.name == "sgd":
        return paddle.optimizer.SGD(learning_rate=opt.lr, parameters=plist, weight_decay=weight_decay)
    return paddle.optimizer.Momentum(learning_rate=opt.lr, momentum=opt.momentum, parameters=plist,
                                     use_nesterov=opt.nesterov, weight_decay=weight_decay)


def state(optimizer, param) -> dict:
    """Optimizer state under neutral names: Momentum's ``velocity`` accumulator."""
    velocity = getattr(optimizer, "_accumulators", {}).get("velocity", {}).get(param.name)
    return {} if velocity is None else {"velocity": velocity}
