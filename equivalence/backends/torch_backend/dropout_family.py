"""Torch's dropout family for the shared dropout probe (``common._run_dropout_probe``): the layer and the
functional form of each variant, in training and in eval mode."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...spec import Case
from ..common import NotApplicable

# variant -> (layer class, functional); the layer takes p, the functional (x, p, training=...).
_DROPOUTS = {
    "dropout": (torch.nn.Dropout, F.dropout),
    "dropout1d": (torch.nn.Dropout1d, F.dropout1d),
    "dropout2d": (torch.nn.Dropout2d, F.dropout2d),
    "dropout3d": (torch.nn.Dropout3d, F.dropout3d),
    "alpha_dropout": (torch.nn.AlphaDropout, F.alpha_dropout),
    "feature_alpha_dropout": (torch.nn.FeatureAlphaDropout, F.feature_alpha_dropout),
}


def _torch_variant(case: Case) -> str:
    """Paddle's dropout `axis` as the Torch class drawing the same mask shape: every axis is Dropout, the
    (sample, channel) axes of a 3-D to 5-D input are Dropout1d/2d/3d (feature_dropout draws [N, C, 1, ...],
    torch/nn/functional.py:1518-1680); nothing else has a Torch class."""
    d = case.dropout
    if d.variant != "dropout" or d.axis is None or d.mask_shape() == d.shape:
        return d.variant
    feature = {3: "dropout1d", 4: "dropout2d", 5: "dropout3d"}.get(len(d.shape))
    if feature is not None and d.mask_shape() == d.shape[:2] + (1,) * (len(d.shape) - 2):
        return feature
    raise NotApplicable(f"no Torch dropout draws a mask of shape {list(d.mask_shape())} for input "
                        f"{list(d.shape)} (Paddle axis={list(d.axis)}): Dropout draws per element, "
                        "Dropout1d/2d/3d per (sample, channel) (torch/nn/functional.py:1518-1680)")


def _dropout_calls(case: Case, route: str):
    """(training-mode call, eval call), each taking a tensor."""
    d = case.dropout
    if d.mode != "upscale_in_train":
        raise NotApplicable(f"torch dropout has no mode {d.mode!r}: it always scales kept elements by 1/(1-p) "
                            "in training and is the identity in eval (torch/nn/functional.py:1467, dropout)")
    layer_cls, functional = _DROPOUTS[_torch_variant(case)]
    if route == "layer":
        layer = layer_cls(p=d.p)

        def call(x, training):
            layer.train(training)
            return layer(x)
        return (lambda x: call(x, d.training)), (lambda x: call(x, False))
    if d.omit_training:
        train_call = lambda x: functional(x, p=d.p)  # noqa: E731 (Torch's default training flag)
    else:
        train_call = lambda x: functional(x, p=d.p, training=d.training)  # noqa: E731
    return train_call, (lambda x: functional(x, p=d.p, training=False))


def probe(case: Case, route: str, x_np: np.ndarray, upstream: np.ndarray):
    train_call, eval_call = _dropout_calls(case, route)
    x = torch.from_numpy(x_np.astype(case.dtype)).requires_grad_()
    try:
        out = train_call(x)
        evaluated = eval_call(x)
    except (ValueError, RuntimeError) as exc:  # Torch refusing the configuration is a result
        raise NotApplicable(f"torch refuses it: {type(exc).__name__}: {exc}") from None
    (out * torch.from_numpy(upstream.astype(case.dtype))).sum().backward()
    return out.detach().numpy(), x.grad.numpy(), evaluated.detach().numpy()
