"""PaddlePaddle backend: the only module that imports paddle.

Layout: ``paddle.nn.Linear.weight`` is [in, out], the canonical layout, so weights pass unchanged.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # paddle warns about a missing ccache on import
    import paddle
    import paddle.nn.functional as F
    from paddle.regularizer import L1Decay, L2Decay

from ... import data
from ...record import Trajectory
from ...spec import Case
from .. import common
from . import optimizers
from ..common import NotApplicable, optimizer_decay

NAME = "paddle"
paddle.set_device("cpu")


def versions() -> dict[str, str]:
    return {"paddle": paddle.__version__}


def run(case: Case, route: str) -> Trajectory:
    return common.run(case, route, sys.modules[__name__])


@contextlib.contextmanager
def _default_dtype(dtype: str):
    previous = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        paddle.set_default_dtype(previous)


def _regularizer(l1: float, l2: float):
    if l1 and l2:
        raise NotApplicable("a Paddle regularizer is either L1Decay or L2Decay (paddle/regularizer.py); "
                            "elastic net needs a loss penalty")
    if l1:
        return L1Decay(l1)
    return L2Decay(l2) if l2 else None


def _param_attr_plan(case: Case):
    """(optimizer weight_decay, {parameter: regularizer}) for the param_attr route: the case-wide
    coefficients go to the optimizer, overrides to ParamAttr, which takes priority
    (paddle/optimizer/optimizer.py, _create_regularization_of_grad). Without overrides, every regularized
    parameter carries its own ParamAttr regularizer."""
    reg = case.regularization
    coeffs = case.coefficients()
    if reg.overrides and not reg.parameters:
        # An override of 0 still needs its ParamAttr (L2Decay(0.0)) to shield it from the optimizer's.
        return (_regularizer(reg.l1, reg.l2),
                {n: _regularizer(coeffs[n].l1, coeffs[n].l2) or L2Decay(0.0) for n in case.overridden()})
    return None, {n: _regularizer(c.l1, c.l2) for n, c in coeffs.items() if c.l1 or c.l2}


def _build(case: Case, route: str):
    init = data.initial_params(case)
    weight_decay, attrs = None, {}
    if case.regularization is not None:
        if route == "optimizer":
            c = optimizer_decay(case)
            weight_decay = _regularizer(c.l1, c.l2) if c else None
        elif route == "per_parameter":
            weight_decay, attrs = _param_attr_plan(case)

    def attr(name):
        return paddle.ParamAttr(regularizer=attrs[name]) if name in attrs else None

    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(case.model.sizes[:-1], case.model.sizes[1:])):
        bias_attr = attr(f"linear{i}.bias") if case.model.bias else False
        layer = paddle.nn.Linear(fan_in, fan_out, weight_attr=attr(f"linear{i}.weight"), bias_attr=bias_attr)
        layer.weight.set_value(init[f"linear{i}.weight"].astype(case.dtype))
        if case.model.bias:
            layer.bias.set_value(init[f"linear{i}.bias"].astype(case.dtype))
        layers.append(layer)
    params = {}
    for i, layer in enumerate(layers):
        params[f"linear{i}.weight"] = layer.weight
        if case.model.bias:
            params[f"linear{i}.bias"] = layer.bias
    names = {p.name: n for n, p in params.items()}
    return layers, params, optimizers.create(case, list(params.values()), weight_decay, names=names)


# ------------------------------------------------------------------ primitives for the shared loops (common.py)

_ACTIVATIONS = {"identity": lambda z: z, "relu": F.relu, "tanh": paddle.tanh, "sigmoid": F.sigmoid}

seed = paddle.seed
state = optimizers.state
hyper = optimizers.hyper


def tensor(array: np.ndarray, dtype: str):
    return paddle.to_tensor(array.astype(dtype))


def canonical(name: str, value) -> np.ndarray:
    return np.array(value.numpy() if hasattr(value, "numpy") else value, copy=True)


def backward(value) -> None:
    value.backward()


def build(case: Case, route: str):
    # A float64 run in Paddle is a run under set_default_dtype("float64"): the optimizer's learning-rate
    # tensor takes the default dtype when it is created (paddle/optimizer/optimizer.py:523).
    with _default_dtype(case.dtype):
        return _build(case, route)


def activation(name: str, z):
    return _ACTIVATIONS[name](z)


def dropout(a, p: float):
    return F.dropout(a, p=p, training=True)


def loss(case: Case, out, y):
    if case.loss == "mean":
        return paddle.mean(out)
    if case.loss == "mse":
        return F.mse_loss(out, paddle.to_tensor(y.astype(case.dtype)))
    return F.cross_entropy(out, paddle.to_tensor(y))


def penalty(kind: str, form: str, w, c: float):
    if kind == "l1":
        return c * paddle.sum(paddle.abs(w))
    if form == "norm":
        return c * paddle.linalg.norm(w.flatten(), p=2)
    return 0.5 * c * paddle.sum(w * w)


def lr(optimizer) -> float:
    return optimizer.get_lr()


def step(optimizer) -> None:
    optimizer.step()
    optimizer.clear_grad()


def dropout_probe(case: Case, route: str, x_np: np.ndarray, upstream: np.ndarray):
    d = case.dropout
    x = paddle.to_tensor(x_np.astype(case.dtype), stop_gradient=False)
    if route == "layer":
        layer = paddle.nn.Dropout(p=d.p, mode=d.mode)
        layer.train()
        out = layer(x)
        layer.eval()
        evaluated = layer(x)
    else:
        out = F.dropout(x, p=d.p, training=True, mode=d.mode)
        evaluated = F.dropout(x, p=d.p, training=False, mode=d.mode)
    paddle.sum(out * paddle.to_tensor(upstream.astype(case.dtype))).backward()
    return out.numpy(), x.grad.numpy(), evaluated.numpy()
