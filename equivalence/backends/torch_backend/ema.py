"""Torch EMA of the parameters: torch.optim.swa_utils.AveragedModel (route ema_module) and the documented
rule in Torch ops (route ema_manual)."""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ...spec import Case


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


class ManualEma:
    """S_t = beta_t*S_(t-1) + (1-beta_t)*W_t written in Torch ops, with the case's start and correction."""

    def __init__(self, case: Case, params: dict):
        self.spec = case.ema
        with torch.no_grad():
            if self.spec.init == "initial_params":
                self.average = {n: p.detach().clone() for n, p in params.items()}
            elif self.spec.init == "zero":
                self.average = {n: torch.zeros_like(p) for n, p in params.items()}
            else:
                self.average = {}

    @torch.no_grad()
    def update(self, step: int, params: dict) -> dict:
        if not self.average:
            self.average = {n: p.detach().clone() for n, p in params.items()}
        else:
            beta = self.spec.decay_at(step)
            self.average = {n: beta * self.average[n] + (1 - beta) * p.detach() for n, p in params.items()}
        if not self.spec.bias_correction:
            return dict(self.average)
        correction = 1 - self.spec.decay_at(step) ** step
        return {n: s / correction for n, s in self.average.items()}


def create(case: Case, route: str, layers, params: dict):
    return AveragedModelEma(case, layers, params) if route == "ema_module" else ManualEma(case, params)


def update(ema, step: int, params: dict) -> dict:
    """The EMA after step ``step`` (from 1), per parameter name."""
    return ema.update(step, params)
