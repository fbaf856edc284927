"""Paddle's dropout family for the shared dropout probe (``common._run_dropout_probe``): the layer and the
functional form of each variant, in training and in eval mode."""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F

from ...spec import Case
from ..common import NotApplicable

# variant -> (layer class or None, functional); the layer takes p, the functional (x, p, training=...).
_DROPOUTS = {
    "dropout": (paddle.nn.Dropout, F.dropout),
    "dropout1d": (None, F.dropout1d),
    "dropout2d": (paddle.nn.Dropout2D, F.dropout2d),
    "dropout3d": (paddle.nn.Dropout3D, F.dropout3d),
    "alpha_dropout": (paddle.nn.AlphaDropout, F.alpha_dropout),
    "feature_alpha_dropout": (paddle.nn.FeatureAlphaDropout, F.feature_alpha_dropout),
}


def _dropout_calls(case: Case, route: str):
    """(training-mode call, eval call), each taking a tensor."""
    d = case.dropout
    layer_cls, functional = _DROPOUTS[d.variant]
    extra = {"axis": list(d.axis) if d.axis is not None else None, "mode": d.mode} if d.variant == "dropout" else {}
    if route == "layer":
        if layer_cls is None:
            raise NotApplicable(f"paddle.nn has no layer for {d.variant} (only paddle.nn.functional.{d.variant}, "
                                "paddle/nn/functional/common.py:1537)")
        layer = layer_cls(p=d.p, **extra)

        def call(x, training):
            layer.train() if training else layer.eval()
            return layer(x)
        return (lambda x: call(x, d.training)), (lambda x: call(x, False))
    if d.omit_training:
        train_call = lambda x: functional(x, p=d.p, **extra)  # noqa: E731 (Paddle's default training flag)
    else:
        train_call = lambda x: functional(x, p=d.p, training=d.training, **extra)  # noqa: E731
    return train_call, (lambda x: functional(x, p=d.p, training=False, **extra))


def probe(case: Case, route: str, x_np: np.ndarray, upstream: np.ndarray):
    train_call, eval_call = _dropout_calls(case, route)
    x = paddle.to_tensor(x_np.astype(case.dtype), stop_gradient=False)
    try:
        out = train_call(x)
        evaluated = eval_call(x)
    except (ValueError, RuntimeError) as exc:  # Paddle refusing the configuration is a result
        raise NotApplicable(f"paddle refuses it: {type(exc).__name__}: {exc}") from None
    paddle.sum(out * paddle.to_tensor(upstream.astype(case.dtype))).backward()
    return out.numpy(), x.grad.numpy(), evaluated.numpy()
