"""PyTorch backend: the only module that imports torch.

Layout: ``torch.nn.Linear.weight`` is [out, in]; the canonical layout is [in, out], so weights are
transposed on the way in and on the way out (``to_canonical`` / ``from_canonical``).
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import torch
import torch.nn.functional as F

try:  # torch.optim's first optimizer imports torch._dynamo (1.7 s); here it happens while Paddle's worker starts
    import torch._dynamo  # noqa: F401
except ImportError:
    pass

from ... import data
from ...record import SCALAR, Trajectory
from ...spec import VARIANT_ROUTES, Case, ClipSpec, split_route
from .. import common
from ..common import DEVICE, NotApplicable, optimizer_decay
from . import dropout_family, ema, losses, network, normalization, optimizers, scaling, schedules

NAME = "torch"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


def run(case: Case, route: str) -> Trajectory:
    if route == "pair":  # a user's own model (equivalence/pair); ``case`` is its PairRequest
        from . import pair
        return pair.run(case)
    return common.run(case, route, sys.modules[__name__])


def stream(case: Case, route: str):
    """The run one step at a time (initial parameters first); see common.stream. A user's model pair writes
    its steps to files and returns one result, passed on whole."""
    if route == "pair":
        return common.whole(run(case, route))
    return common.stream(case, route, sys.modules[__name__])


def from_canonical(name: str, value: np.ndarray) -> np.ndarray:
    return value.T if name.endswith(".weight") else value


def to_canonical(name: str, tensor: torch.Tensor) -> np.ndarray:
    value = tensor.detach().cpu().numpy()
    return (value.T if name.endswith(".weight") else value).copy()


def _no_l1(case: Case, route: str) -> None:
    if any(c.l1 for c in case.coefficients().values()):
        raise NotApplicable(f"torch.optim weight_decay is L2 only (torch/optim/sgd.py, _single_tensor_sgd: "
                            f"grad.add(param, alpha=weight_decay)); the {route} route cannot express L1")


def _weight_decays(case: Case, base: str) -> dict[str, float]:
    """weight_decay per parameter: the per-parameter coefficients (per-parameter routes), the optimizer's
    single one (optimizer), or none (loss_penalty, whose decay is in the loss)."""
    names = case.parameter_names()
    if case.regularization is None or base == "loss_penalty":
        return dict.fromkeys(names, 0.0)
    _no_l1(case, base)
    if base == "optimizer":
        c = optimizer_decay(case)
        return dict.fromkeys(names, c.l2 if c else 0.0)
    return {name: c.l2 for name, c in case.coefficients().items()}


def _param_groups(case: Case, params: dict[str, torch.nn.Parameter], route: str):
    """One param group per distinct (weight_decay, lr multiplier), in model order. A group with a multiplier
    takes the absolute lr = optimizer.lr * m and keeps m, so the optimizer's own lr can be read back."""
    base, _ = split_route(route)
    multipliers = common.lr_multipliers(case, base)
    decays = _weight_decays(case, base)
    groups: dict[tuple, dict] = {}
    for name, p in params.items():
        m = multipliers[name]
        group = groups.setdefault((decays[name], m), {"params": [], "weight_decay": decays[name]})
        if m != 1.0:
            group.update(lr=case.optimizer.lr * m, lr_multiplier=m)
        group["params"].append(p)
    return list(groups.values())


def build(case: Case, route: str):
    variant = route if route in VARIANT_ROUTES else None  # the optimizer route, another implementation
    route = "optimizer" if variant else route
    if split_route(route)[1] == "clip_argument":
        raise NotApplicable("torch.optim optimizers take no clipping argument (torch/optim/sgd.py:29, SGD.__init__); "
                            "Torch clips only with torch.nn.utils.clip_grad_norm_ / clip_grad_value_ before step()")
    init = data.initial_params(case)
    dtype = _DTYPES[case.dtype]
    if case.model.layers:
        layers = network.build(case, dtype, DEVICE, sys.modules[__name__])
        if case.model.init == "seeded":
            layers.load(init)
        params = layers.params
        names = {p: n for n, p in params.items()}
        return layers, params, optimizers.create(case, _param_groups(case, params, route), names=names, variant=variant)
    layers, params = [], {}
    for i, (fan_in, fan_out) in enumerate(zip(case.model.sizes[:-1], case.model.sizes[1:])):
        layer = torch.nn.Linear(fan_in, fan_out, bias=case.model.bias, dtype=dtype, device=DEVICE)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(from_canonical(f"linear{i}.weight", init[f"linear{i}.weight"])))
            params[f"linear{i}.weight"] = layer.weight
            if case.model.bias:
                layer.bias.copy_(torch.from_numpy(init[f"linear{i}.bias"]))
                params[f"linear{i}.bias"] = layer.bias
        layers.append(layer)
    names = {p: n for n, p in params.items()}
    return layers, params, optimizers.create(case, _param_groups(case, params, route), names=names, variant=variant)


def fresh_optimizer(case: Case, params: dict, *_):
    """A new optimizer of the case over the same parameters (a rebuild: route optimizer, no regularization)."""
    names = {p: n for n, p in params.items()}
    return optimizers.create(case, [{"params": list(params.values()), "weight_decay": 0.0}], names=names)


# ------------------------------------------------------------------ primitives for the shared loops (common.py)

_ACTIVATIONS = {"identity": lambda z: z, "relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}

seed = torch.manual_seed
state = optimizers.state
hyper = optimizers.hyper
canonical = to_canonical


def tensor(array: np.ndarray, dtype: str):
    return torch.from_numpy(array.astype(dtype)).to(DEVICE)


def array(value) -> np.ndarray:
    return value.detach().cpu().numpy().copy() if isinstance(value, torch.Tensor) else np.array(value, copy=True)


no_grad = torch.no_grad
set_parameter = network.set_parameter


def backward(value) -> None:
    value.backward()


def autocast(case: Case):
    """torch.autocast(device, dtype=case.autocast): Linear in the lower precision, mse_loss and cross_entropy
    in float32 (torch/include/ATen/autocast_mode.h:840, 884-891)."""
    if case.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(DEVICE, dtype=getattr(torch, case.autocast))


def freeze(param) -> None:
    param.requires_grad_(False)


def linear(layer, h, detached: set[str]):
    """The layer's forward with the named parts ('weight', 'bias') detached."""
    weight = layer.weight.detach() if "weight" in detached else layer.weight
    bias = layer.bias
    if bias is not None and "bias" in detached:
        bias = bias.detach()
    return F.linear(h, weight, bias)


def activation(name: str, z):
    return _ACTIVATIONS[name](z)


def dropout(a, p: float):
    return F.dropout(a, p=p, training=True)


def loss(case: Case, out, y):
    if case.loss == "mean":
        return out.mean()
    if case.loss == "mse":
        return F.mse_loss(out, torch.from_numpy(y.astype(case.dtype)).to(out.device))
    axis = case.model.class_axis % out.ndim
    if axis != 1:  # Torch's class axis is 1
        out = out.movedim(axis, 1)
    return F.cross_entropy(out, torch.from_numpy(y).to(out.device))


def penalty(kind: str, form: str, w, c: float):
    if kind == "l1":
        return c * w.abs().sum()
    if form == "norm":
        return c * torch.linalg.vector_norm(w)
    if form == "squared":
        return c * (w * w).sum()
    return 0.5 * c * (w * w).sum()


def lr(optimizer) -> float:
    # The optimizer's own lr: a group with a per-parameter multiplier m holds lr * m (see _param_groups), so
    # read a group without one, else divide (to within an ulp); dividing, not keeping a copy, follows any
    # change of the groups' lr.
    groups = sorted(optimizer.param_groups, key=lambda g: "lr_multiplier" in g)
    for group in groups:
        if group.get("lr_multiplier", 1.0) != 0.0:
            return group["lr"] / group.get("lr_multiplier", 1.0)
    return optimizer.defaults["lr"]


def param_lr(optimizer, param) -> float:
    return next(g["lr"] for g in optimizer.param_groups if any(p is param for p in g["params"]))


def clip_gradients(spec: ClipSpec, params: dict) -> dict:
    """torch.nn.utils.clip_grad_norm_ / clip_grad_value_ on the .grad of every parameter, in place; returns
    the norms clip_grad_norm_ returns (one global, or one per parameter for kind = 'norm')."""
    norm_type = float(spec.norm)
    if spec.kind == "global_norm":
        return {SCALAR: torch.nn.utils.clip_grad_norm_(list(params.values()), spec.max_norm, norm_type=norm_type)}
    if spec.kind == "norm":
        return {n: torch.nn.utils.clip_grad_norm_(p, spec.max_norm, norm_type=norm_type) for n, p in params.items()}
    bound = common.symmetric_clip_value(spec, "torch.nn.utils.clip_grad_value_", "torch/nn/utils/clip_grad.py:290")
    torch.nn.utils.clip_grad_value_(list(params.values()), bound)
    return {}


def step(optimizer, closure=None, reset: str | None = None) -> None:
    """optimizer.step() (with L-BFGS's closure), then zero_grad(): set_to_none=True (Torch's default) unless
    ``reset`` is 'zero'."""
    try:
        optimizer.step(*(() if closure is None else (closure,)))
    except RuntimeError as exc:
        # differentiable=True keeps the update in the autograd graph: on ordinary leaf parameters that require
        # grad its in-place update is refused (torch/optim/optimizer.py:59, _use_grad_for_differentiable).
        if not optimizer.defaults.get("differentiable") or "leaf Variable" not in str(exc):
            raise
        raise NotApplicable(f"torch.optim.{type(optimizer).__name__}(differentiable=True) refuses to step leaf "
                            f"parameters that require grad: {exc}") from None
    except AssertionError as exc:
        # capturable=True (for CUDA graphs) checks the device when it steps (e.g. torch/optim/adam.py:403-411, single-tensor Adam).
        if not optimizer.defaults.get("capturable") or "capturable" not in str(exc):
            raise
        raise NotApplicable(f"torch.optim.{type(optimizer).__name__}(capturable=True) refuses this device: "
                            f"{exc}") from None
    optimizer.zero_grad(set_to_none=reset != "zero")


def zero_grad(optimizer) -> None:
    optimizer.zero_grad()


def normalization_layer(case: Case, route: str, inputs: dict):
    return normalization.create(case, route, inputs)


dropout_probe = dropout_family.probe


def loss_probe(case: Case, route: str, inputs: dict):
    return losses.probe(case, route, inputs)
