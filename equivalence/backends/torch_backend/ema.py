"""Torch EMA of the parameters: torch.optim.swa_utils.AveragedModel (route ema_module) and the documented
rule in Torch ops (route ema_manual)."""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ...spec import Case
from ..common import ManualEma


class AveragedModelEma:
    """AveragedModel with get_ema_multi_avg_fn(decay): its first update copies the parameters
    (n_averaged == 0, torch/optim/swa_utils.py:310-316), later ones lerp towards them (swa_utils.py:77)."""

    def __init__(self, case: Case, layers, params: dict):
        self.model = torch.nn.ModuleList(layers)
        self.averaged = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(case.ema.decay))
        averaged = dict(self.averaged.module.named_parameters())
        # ModuleList names its children 0, 1, ...: "0.weight" is linear0.weight.
        self.names = {n: averaged[n.replace("linear", "", 1)] for n in params}

    def update(self, step: int, params: dict) -> dict:
        self.averaged.update_parameters(self.model)
        return dict((n, p.detach()) for n, p in self.names.items())


def create(case: Case, route: str, layers, params: dict):
    return AveragedModelEma(case, layers, params) if route == "ema_module" else ManualEma(case, params, torch.zeros_like, torch.no_grad)


def update(ema, step: int, params: dict) -> dict:
    """The EMA after step ``step`` (from 1), per parameter name."""
    return ema.update(step, params)
