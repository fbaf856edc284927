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

# variant -> (layer class name or None, functional name), looked up at call time: an older Paddle without one
# (F.dropout1d and FeatureAlphaDropout are newer than 3.1) makes those cases not applicable, not the backend.
_DROPOUTS = {
    "dropout": ("Dropout", "dropout"),
    "dropout1d": (None, "dropout1d"),
    "dropout2d": ("Dropout2D", "dropout2d"),
    "dropout3d": ("Dropout3D", "dropout3d"),
    "alpha_dropout": ("AlphaDropout", "alpha_dropout"),
    "feature_alpha_dropout": ("FeatureAlphaDropout", "feature_alpha_dropout"),
}


def _api(module, name: str, where: str):
    if not hasattr(module, name):
        raise NotApplicable(f"{where}.{name} does not exist in paddle {paddle.__version__}")
    return getattr(module, name)


def _dropout_calls(case: Case, route: str):
    """(training-mode call, eval call), each taking a tensor."""
    d = case.dropout
    layer_name, functional_name = _DROPOUTS[d.variant]
    functional = _api(F, functional_name, "paddle.nn.functional")
    extra = {"axis": list(d.axis) if d.axis is not None else None, "mode": d.mode} if d.variant == "dropout" else {}
    if route == "layer":
        if layer_name is None:
            raise NotApplicable(f"paddle.nn has no layer for {d.variant} (only paddle.nn.functional.{d.variant}, "
                                "paddle/nn/functional/common.py:1537)")
        layer = _api(paddle.nn, layer_name, "paddle.nn")(p=d.p, **extra)

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
