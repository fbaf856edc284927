"""Torch optimizers: construction from the case and their state under neutral names."""

from __future__ import annotations

import torch

from ...spec import Case


def create(case: Case, groups: list[dict]):
    """The case's optimizer over param ``groups`` (each with its own weight_decay)."""
    opt = case.optimizer
    return torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)


def state(optimizer, param) -> dict:
    """Optimizer state under neutral names: SGD's ``momentum_buffer`` is the velocity."""
    velocity = optimizer.state.get(param, {}).get("momentum_buffer")
    return {} if velocity is None else {"velocity": velocity}
