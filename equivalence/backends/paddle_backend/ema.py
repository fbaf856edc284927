"""Paddle EMA of the parameters.

Route ema_module: paddle.static.ExponentialMovingAverage is Paddle's EMA, and it refuses dygraph in its
constructor (paddle/static/nn/common.py:3940-3943); Paddle 3.3.1 has no dygraph EMA of parameters
(paddle.incubate.ModelAverage averages over a sliding window, paddle/incubate/optimizer/modelaverage.py:46-58),
so the route is not applicable with Paddle's own message. Route ema_manual: the documented rule in Paddle ops.
"""

from __future__ import annotations

import paddle

from ...spec import Case
from ..common import ManualEma, NotApplicable


def _static_ema_refusal(case: Case) -> NotApplicable:
    try:
        paddle.static.ExponentialMovingAverage(case.ema.decay)
    except Exception as exc:  # Paddle raises a bare Exception here
        return NotApplicable(f"paddle.static.ExponentialMovingAverage refuses dygraph: {exc} "
                             "(paddle/static/nn/common.py:3940); Paddle has no dygraph EMA of parameters "
                             "(paddle.incubate.ModelAverage is a sliding-window average)")
    return NotApplicable("paddle.static.ExponentialMovingAverage was built in dygraph, but its update() "
                         "and apply() are static-graph programs this dygraph loop cannot run")


def create(case: Case, route: str, layers, params: dict):
    if route == "ema_module":
        raise _static_ema_refusal(case)
    return ManualEma(case, params, paddle.zeros_like, paddle.no_grad)


def update(ema, step: int, params: dict) -> dict:
    """The EMA after step ``step`` (from 1), per parameter name."""
    return ema.update(step, params)
