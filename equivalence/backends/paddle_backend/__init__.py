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
from ...record import SCALAR, Trajectory
from ...spec import GROUP_ROUTES, VARIANT_ROUTES, Case, ClipSpec, split_route
from .. import common
from . import dropout_family, ema, losses, network, normalization, optimizers, scaling, schedules
from ..common import NotApplicable, optimizer_decay

NAME = "paddle"
paddle.set_device("gpu" if common.DEVICE == "cuda" else "cpu")


def versions() -> dict[str, str]:
    return {"paddle": paddle.__version__}


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


def _regularization_plan(case: Case, base: str):
    """(optimizer weight_decay, {parameter: regularizer}) of a route."""
    if case.regularization is None or base == "loss_penalty":
        return None, {}
    if base == "optimizer":
        c = optimizer_decay(case)
        if c and case.regularization.paddle_argument == "float":
            if c.l1:
                raise NotApplicable("a float weight_decay is an L2 coefficient (paddle/optimizer/optimizer.py:269-270)")
            return float(c.l2), {}
        return (_regularizer(c.l1, c.l2) if c else None), {}
    return _param_attr_plan(case)


def _group_dicts(case: Case, base: str, params: dict, regularizers: dict, multipliers: dict) -> list[dict]:
    """Paddle's parameters= as group dicts, one per distinct (regularizer, lr multiplier), in model order.
    parameter_groups puts both in the dict (a group without weight_decay inherits the optimizer's,
    paddle/optimizer/optimizer.py:2117); param_attr_in_groups passes plain dicts and leaves both to ParamAttr."""
    coefficients = case.coefficients()
    groups: dict[tuple, dict] = {}
    for name, p in params.items():
        key = (name in regularizers, coefficients[name], multipliers[name])
        group = groups.setdefault(key, {"params": []})
        group["params"].append(p)
        if base == "parameter_groups":
            group["learning_rate"] = multipliers[name]
            if name in regularizers:
                group["weight_decay"] = regularizers[name]
    return list(groups.values())


def _grad_clip(spec: ClipSpec):
    """The optimizer's grad_clip= object for the case's clip."""
    if spec.kind == "value":
        low, high = spec.bounds
        return paddle.nn.ClipGradByValue(max=high, min=low)
    if spec.norm != "2":
        raise NotApplicable(f"paddle.nn.ClipGradByGlobalNorm and ClipGradByNorm clip by the L2 norm only "
                            f"(paddle/nn/clip.py:741 _squared_l2_norm, clip_by_norm_kernel_impl.h:37); norm_type "
                            f"{spec.norm!r} needs paddle.nn.utils.clip_grad_norm_ (the clip_function route)")
    if spec.kind == "global_norm":
        return paddle.nn.ClipGradByGlobalNorm(clip_norm=spec.max_norm)
    return paddle.nn.ClipGradByNorm(clip_norm=spec.max_norm)


def _build(case: Case, route: str):
    variant = route if route in VARIANT_ROUTES else None  # the optimizer route, another implementation
    route = "optimizer" if variant else route
    base, clip = split_route(route)
    init = data.initial_params(case)
    multipliers = common.lr_multipliers(case, base)
    weight_decay, regularizers = _regularization_plan(case, base)
    with_attrs = base in ("per_parameter", "param_attr_in_groups")

    no_clip = case.clip.excluded(case.parameter_names()) if clip == "clip_argument" else set()

    def attr(name):
        options = {"need_clip": False} if name in no_clip else {}  # grad_clip= leaves it out
        if with_attrs and (name in regularizers or multipliers[name] != 1.0):
            options.update(regularizer=regularizers.get(name), learning_rate=multipliers[name])
        return paddle.ParamAttr(**options) if options else None

    if case.model.layers:
        layers = network.build(case, attr, sys.modules[__name__])
        if case.model.init == "seeded":
            layers.load(init)
        params = layers.params
    else:
        layers, params = _mlp(case, init, attr)
    parameters = (_group_dicts(case, base, params, regularizers, multipliers) if base in GROUP_ROUTES
                  else list(params.values()))
    grad_clip = _grad_clip(case.clip) if clip == "clip_argument" else None
    names = {p.name: n for n, p in params.items()}
    return layers, params, optimizers.create(case, parameters, weight_decay, grad_clip, names=names,
                                             learning_rate=schedules.learning_rate(case), variant=variant)


def _mlp(case: Case, init: dict, attr):
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
    return layers, params


def fresh_optimizer(case: Case, params: dict, scheduler=None):
    """A new optimizer of the case over the same parameters on ``scheduler`` (a rebuild: route optimizer, no
    regularization), under the case's default dtype like ``build``."""
    names = {p.name: n for n, p in params.items()}
    with _default_dtype(case.dtype):
        return optimizers.create(case, list(params.values()), None, names=names, learning_rate=scheduler)


# ------------------------------------------------------------------ primitives for the shared loops (common.py)

_ACTIVATIONS = {"identity": lambda z: z, "relu": F.relu, "tanh": paddle.tanh, "sigmoid": F.sigmoid}

seed = paddle.seed
state = optimizers.state
hyper = optimizers.hyper


def tensor(array: np.ndarray, dtype: str):
    return paddle.to_tensor(array.astype(dtype))


def array(value) -> np.ndarray:
    return np.array(value.numpy() if hasattr(value, "numpy") else value, copy=True)


no_grad = paddle.no_grad
set_parameter = network.set_parameter


def canonical(name: str, value) -> np.ndarray:
    return np.array(value.numpy() if hasattr(value, "numpy") else value, copy=True)


def backward(value) -> None:
    value.backward()


def build(case: Case, route: str):
    # A float64 run in Paddle is a run under set_default_dtype("float64"): the optimizer's learning-rate
    # tensor takes the default dtype when it is created (paddle/optimizer/optimizer.py:523).
    with _default_dtype(case.dtype):
        return _build(case, route)


def autocast(case: Case):
    """paddle.amp.auto_cast(dtype=case.autocast) as documented; on a CPU place it warns and does nothing
    (paddle/amp/auto_cast.py:594-601)."""
    if case.autocast is None:
        return contextlib.nullcontext()
    return _quiet(paddle.amp.auto_cast(dtype=case.autocast))


@contextlib.contextmanager
def _quiet(context):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CPU place's "amp_guard ... makes no effect": the results show it
        with context:
            yield


def freeze(param) -> None:
    param.stop_gradient = True


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
        return paddle.mean(out)
    if case.loss == "mse":
        return F.mse_loss(out, paddle.to_tensor(y.astype(case.dtype)))
    return F.cross_entropy(out, paddle.to_tensor(y), axis=case.model.class_axis)


def penalty(kind: str, form: str, w, c: float):
    if kind == "l1":
        return c * paddle.sum(paddle.abs(w))
    if form == "norm":
        return c * paddle.linalg.norm(w.flatten(), p=2)
    if form == "squared":
        return c * paddle.sum(w * w)
    return 0.5 * c * paddle.sum(w * w)


def lr(optimizer) -> float:
    if isinstance(optimizer, paddle.optimizer.LBFGS):
        # LBFGS steps with its own learning_rate attribute and hands the base Optimizer 1.0, which get_lr()
        # reports whatever learning_rate is (paddle/optimizer/lbfgs.py:467, 484).
        return optimizer.learning_rate
    return optimizer.get_lr()


def param_lr(optimizer, param) -> float:
    # What _create_param_lr multiplies the global learning rate by (paddle/optimizer/optimizer.py:881),
    # times AdamW's lr_ratio(param) where one is set (paddle/optimizer/adamw.py:517-520).
    ratio = getattr(optimizer, "_lr_ratio", None)
    return optimizer.get_lr() * param.optimize_attr["learning_rate"] * (ratio(param) if ratio is not None else 1.0)


def clip_gradients(spec: ClipSpec, params: dict) -> dict:
    """paddle.nn.utils.clip_grad_norm_ / clip_grad_value_ on the .grad of every parameter, in place; returns
    the norms clip_grad_norm_ returns (one global, or one per parameter for kind = 'norm')."""
    norm_type = float(spec.norm)
    if spec.kind == "global_norm":
        return {SCALAR: paddle.nn.utils.clip_grad_norm_(list(params.values()), spec.max_norm, norm_type=norm_type)}
    if spec.kind == "norm":
        return {n: paddle.nn.utils.clip_grad_norm_(p, spec.max_norm, norm_type=norm_type) for n, p in params.items()}
    bound = common.symmetric_clip_value(spec, "paddle.nn.utils.clip_grad_value_",
                                        "paddle/nn/utils/clip_grad_value_.py:70")
    paddle.nn.utils.clip_grad_value_(list(params.values()), bound)
    return {}


def step(optimizer, closure=None, reset: str | None = None) -> None:
    """optimizer.step() (with L-BFGS's closure), then clear_grad(): set_to_zero=True (Paddle's default) unless
    ``reset`` is 'none'."""
    arguments = () if closure is None else (closure,)
    try:
        if getattr(optimizer, "equivalence_restarted", False):  # see schedules.after_step
            optimizer.equivalence_restarted = False
            with paddle.utils.unique_name.guard():
                optimizer.step(*arguments)
        else:
            optimizer.step(*arguments)
    except ValueError as exc:
        # use_multi_tensor refuses float64 parameters only when it steps (paddle/optimizer/momentum.py:425).
        if "multi_tensor" not in str(exc):
            raise
        raise NotApplicable(f"paddle.optimizer.{type(optimizer).__name__}(use_multi_tensor=True) refuses this "
                            f"configuration: {exc}") from None
    except RuntimeError as exc:
        # A kernel Paddle does not register for this device and dtype (ClipGradByNorm's clip_by_norm has
        # float32 only on CPU) is the framework refusing the configuration, in its own words.
        message = str(exc)
        if "(NotFound) The kernel with key" not in message:
            raise
        raise NotApplicable("Paddle refuses this configuration on CPU: " + message.split("[Hint")[0].strip()) from None
    optimizer.clear_grad(set_to_zero=reset != "none")


def zero_grad(optimizer) -> None:
    optimizer.clear_grad()


def normalization_layer(case: Case, route: str, inputs: dict):
    with _default_dtype(case.dtype):  # BatchNorm/LayerNorm parameters take the default dtype
        return normalization.create(case, route, inputs)


dropout_probe = dropout_family.probe


def loss_probe(case: Case, route: str, inputs: dict):
    return losses.probe(case, route, inputs)
