"""Paddle EMA of the parameters.

Route ema_module: paddle.static.ExponentialMovingAverage is Paddle's EMA, and it refuses dygraph in its
constructor (paddle/static/nn/common.py:3940-3943); Paddle 3.3.1 has no dygraph EMA of parameters
(paddle.incubate.ModelAverage averages over a sliding window, paddle/incubate/optimizer/modelaverage.py:46-58),
so the route is not applicable with Paddle's own message. Route ema_manual: the documented rule in Paddle ops.
"""

from __future__ import annotations

import paddle

from ...spec import Case
from ..common import NotApplicable


def _static_ema_refusal(case: Case) -> NotApplicable:
    try:
        paddle.static.ExponentialMovingAverage(case.ema.decay)
    except Exception as exc:  # Paddle raises a bare Exception here
        return NotApplicable(f"paddle.static.ExponentialMovingAverage refuses dygraph: {exc} "
                             "(paddle/static/nn/common.py:3940); Paddle has no dygraph EMA of parameters "
                             "(paddle.incubate.ModelAverage is a sliding-window average)")
    return NotApplicable("paddle.static.ExponentialMovingAverage was built in dygraph, but its update() "
                         "and apply() are static-graph programs this dygraph loop cannot run")


class ManualEma:
    """S_t = beta_t*S_(t-1) + (1-beta_t)*W_t written in Paddle ops, with the case's start and correction."""

    def __init__(self, case: Case, params: dict):
        self.spec = case.ema
        if self.spec.init == "initial_params":
            self.average = {n: p.detach().clone() for n, p in params.items()}
        elif self.spec.init == "zero":
            self.average = {n: paddle.zeros_like(p) for n, p in params.items()}
        else:
            self.average = {}

    @paddle.no_grad()
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
    if route == "ema_module":
        raise _static_ema_refusal(case)
    return ManualEma(case, params)


def update(ema, step: int, params: dict) -> dict:
    """The EMA after step ``step`` (from 1), per parameter name."""
    return ema.update(step, params)
