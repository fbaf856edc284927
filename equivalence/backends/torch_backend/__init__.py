"""PyTorch backend: the only module that imports torch.

Layout: ``torch.nn.Linear.weight`` is [out, in]; the canonical layout is [in, out], so weights are
transposed on the way in and on the way out (``to_canonical`` / ``from_canonical``).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from ... import data
from ...record import Trajectory
from ...spec import Case
from .. import common
from ..common import NotApplicable, optimizer_decay
from . import optimizers

NAME = "torch"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


def run(case: Case, route: str) -> Trajectory:
    return common.run(case, route, sys.modules[__name__])


def from_canonical(name: str, value: np.ndarray) -> np.ndarray:
    return value.T if name.endswith(".weight") else value


def to_canonical(name: str, tensor: torch.Tensor) -> np.ndarray:
    value = tensor.detach().numpy()
    return (value.T if name.endswith(".weight") else value).copy()


def _no_l1(case: Case, route: str) -> None:
    if any(c.l1 for c in case.coefficients().values()):
        raise NotApplicable(f"torch.optim weight_decay is L2 only (torch/optim/sgd.py, _single_tensor_sgd: "
                            f"grad.add(param, alpha=weight_decay)); the {route} route cannot express L1")


def _param_groups(case: Case, params: dict[str, torch.nn.Parameter], route: str):
    """One group per distinct L2 coefficient (the param_group route), or a single group carrying the
    optimizer's weight_decay (the optimizer route), or no decay at all (loss_penalty)."""
    if case.regularization is None or route == "loss_penalty":
        return [{"params": list(params.values()), "weight_decay": 0.0}]
    _no_l1(case, route)
    if route == "optimizer":
        c = optimizer_decay(case)
        return [{"params": list(params.values()), "weight_decay": c.l2 if c else 0.0}]
    groups: dict[float, list] = {}
    for name, c in case.coefficients().items():
        groups.setdefault(c.l2, []).append(params[name])
    return [{"params": ps, "weight_decay": l2} for l2, ps in groups.items()]


def build(case: Case, route: str):
    init = data.initial_params(case)
    dtype = _DTYPES[case.dtype]
    layers, params = [], {}
    for i, (fan_in, fan_out) in enumerate(zip(case.model.sizes[:-1], case.model.sizes[1:])):
        layer = torch.nn.Linear(fan_in, fan_out, bias=case.model.bias, dtype=dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(from_canonical(f"linear{i}.weight", init[f"linear{i}.weight"])))
            params[f"linear{i}.weight"] = layer.weight
            if case.model.bias:
                layer.bias.copy_(torch.from_numpy(init[f"linear{i}.bias"]))
                params[f"linear{i}.bias"] = layer.bias
        layers.append(layer)
    names = {p: n for n, p in params.items()}
    return layers, params, optimizers.create(case, _param_groups(case, params, route), names=names)


# ------------------------------------------------------------------ primitives for the shared loops (common.py)

_ACTIVATIONS = {"identity": lambda z: z, "relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}

seed = torch.manual_seed
state = optimizers.state
hyper = optimizers.hyper
canonical = to_canonical


def tensor(array: np.ndarray, dtype: str):
    return torch.from_numpy(array.astype(dtype))


def backward(value) -> None:
    value.backward()


def activation(name: str, z):
    return _ACTIVATIONS[name](z)


def dropout(a, p: float):
    return F.dropout(a, p=p, training=True)


def loss(case: Case, out, y):
    if case.loss == "mean":
        return out.mean()
    if case.loss == "mse":
        return F.mse_loss(out, torch.from_numpy(y.astype(case.dtype)))
    return F.cross_entropy(out, torch.from_numpy(y))


def penalty(kind: str, form: str, w, c: float):
    if kind == "l1":
        return c * w.abs().sum()
    if form == "norm":
        return c * torch.linalg.vector_norm(w)
    return 0.5 * c * (w * w).sum()


def lr(optimizer) -> float:
    return optimizer.param_groups[0]["lr"]


def step(optimizer) -> None:
    optimizer.step()
    optimizer.zero_grad()


def dropout_probe(case: Case, route: str, x_np: np.ndarray, upstream: np.ndarray):
    d = case.dropout
    if d.mode != "upscale_in_train":
        raise NotApplicable(f"torch dropout has no mode {d.mode!r}: it always scales kept elements by 1/(1-p) "
                            "in training and is the identity in eval (torch/nn/functional.py:1467, dropout)")
    x = torch.from_numpy(x_np.astype(case.dtype)).requires_grad_()
    if route == "layer":
        layer = torch.nn.Dropout(p=d.p)
        layer.train()
        out = layer(x)
        layer.eval()
        evaluated = layer(x)
    else:
        out = F.dropout(x, p=d.p, training=True)
        evaluated = F.dropout(x, p=d.p, training=False)
    (out * torch.from_numpy(upstream.astype(case.dtype))).sum().backward()
    return out.detach().numpy(), x.grad.numpy(), evaluated.detach().numpy()
