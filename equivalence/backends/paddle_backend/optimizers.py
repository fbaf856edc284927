"""Paddle optimizers: construction from the case, and read-back of their state and hyper-parameters under
the registry's neutral names (equivalence/reference/optimizers). Adding an optimizer: one OPTIMIZERS entry."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import paddle

from ...reference.optimizers import REGISTRY
from ...reference.optimizers.base import matches, ratio_for
from ...spec import Case
from ..common import NotApplicable, framework_arguments, optimizer_kwargs, per_parameter, scalar_state, split_index


@dataclass(frozen=True)
class PaddleOptimizer:
    """``attributes``: neutral hyper-parameter -> the attribute holding the value the optimizer uses, where
    it is not ``_`` + the argument name. ``state``: accumulator -> neutral state name; ``scalars``: those
    that hold one number per parameter. ``keep``: state kept only when the predicate holds for the
    optimizer (an accumulator Paddle allocates but does not use). ``regularizer``: takes an L2Decay /
    L1Decay as ``weight_decay``."""

    attributes: dict[str, str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    scalars: tuple[str, ...] = ()
    keep: dict[str, object] = field(default_factory=dict)
    regularizer: bool = True
    read: object = None  # (optimizer, param) -> neutral state, where the state is not per parameter


def _lbfgs_state(optimizer, param) -> dict:
    """Paddle's LBFGS keeps one state dict for all parameters (paddle/optimizer/lbfgs.py:481): recorded under
    the first parameter, as Torch keeps it."""
    if param is not optimizer._params[0]:
        return {}
    kept = optimizer.state
    out = {key: np.asarray(float(kept[key])) for key in ("func_evals", "n_iter") if key in kept}
    if "old_yk" in kept:
        out["history"] = np.asarray(float(len(kept["old_yk"])))
        out["h_diag"] = np.asarray(float(kept["H_diag"]))
    if kept.get("alpha") is not None:
        out["step_size"] = np.asarray(float(kept["alpha"]))
    return out


OPTIMIZERS: dict[str, PaddleOptimizer] = {
    "sgd": PaddleOptimizer(),
    "momentum": PaddleOptimizer(state={"velocity": "velocity"}),
    "adam": PaddleOptimizer(
        state={"moment1": "moment1", "moment2": "moment2", "moment2_max": "moment2_max",
               "beta1_pow_acc": "beta1_power", "beta2_pow_acc": "beta2_power"},
        scalars=("beta1_pow_acc", "beta2_pow_acc")),
    "adamw": PaddleOptimizer(
        state={"moment1": "moment1", "moment2": "moment2", "moment2_max": "moment2_max",
               "beta1_pow_acc": "beta1_power", "beta2_pow_acc": "beta2_power"},
        scalars=("beta1_pow_acc", "beta2_pow_acc"), regularizer=False),
    "adagrad": PaddleOptimizer(attributes={"initial_accumulator_value": "initial_accumulator_value"},
                               state={"moment": "accumulator"}),
    "rmsprop": PaddleOptimizer(state={"mean_square": "mean_square", "mean_grad": "mean_grad",
                                      "momentum": "lr_velocity"},
                               keep={"mean_grad": lambda optimizer: optimizer._centered}),
    "adadelta": PaddleOptimizer(state={"_avg_squared_grad": "mean_square",
                                       "_avg_squared_update": "mean_square_update"}),
    "adamax": PaddleOptimizer(state={"moment": "moment1", "inf_norm": "inf_norm", "beta1_pow_acc": "beta1_power"},
                              scalars=("beta1_pow_acc",)),
    "nadam": PaddleOptimizer(state={"momentum_decay_pow": "momentum_decay_power", "beta2_pow": "beta2_power",
                                    "mu_product": "mu_product", "moment1": "moment1", "moment2": "moment2"},
                             scalars=("momentum_decay_pow", "beta2_pow", "mu_product")),
    "radam": PaddleOptimizer(state={"beta1_pow": "beta1_power", "beta2_pow": "beta2_power", "rho": "rho_term",
                                    "moment1": "moment1", "moment2": "moment2"},
                             scalars=("beta1_pow", "beta2_pow", "rho")),
    "rprop": PaddleOptimizer(state={"prevs": "prev_grad", "learning_rates": "step_size"}, regularizer=False),
    "asgd": PaddleOptimizer(attributes={"batch_num": "_n"}, state={"d": "grad_sum", "y": "grad_table", "m": "step"},
                            scalars=("m",)),
    "lamb": PaddleOptimizer(attributes={"always_adapt": "always_adapt"},
                            state={"moment1": "moment1", "moment2": "moment2", "beta1_pow_acc": "beta1_power",
                                   "beta2_pow_acc": "beta2_power"},
                            scalars=("beta1_pow_acc", "beta2_pow_acc"), regularizer=False),
    # LBFGS keeps its arguments under their own names (paddle/optimizer/lbfgs.py:467-474) and its lr aside:
    # it passes learning_rate=1.0 to the base Optimizer (lbfgs.py:484).
    "lbfgs": PaddleOptimizer(attributes={k: k for k in ("max_iter", "max_eval", "tolerance_grad",
                                                        "tolerance_change", "history_size")},
                             read=_lbfgs_state),
}

# Paddle's per-parameter arguments, built from the case's patterns or ratios and the canonical names.
_PER_PARAMETER = {
    "apply_decay_param_fun": lambda patterns, names: (lambda pname: not matches(names[pname], patterns)),
    "exclude_from_weight_decay_fn": lambda patterns, names: (lambda p: matches(names[p.name], patterns)),
    "lr_ratio": lambda ratios, names: (lambda p: ratio_for(names[p.name], ratios)),
}


def create(case: Case, parameters: list, weight_decay, grad_clip=None, names: dict[str, str] | None = None,
           learning_rate=None, variant: str | None = None):
    """The case's optimizer. ``parameters`` is what Paddle's ``parameters=`` takes (a list of parameters or
    of parameter-group dicts), ``weight_decay`` a Paddle regularizer, a float or None, ``grad_clip`` a Paddle
    ClipGrad* or None, ``names`` Paddle's parameter names -> canonical names (for per-parameter settings),
    ``learning_rate`` an LRScheduler that replaces the case's constant lr, or None.
    Built under the case's default dtype (see ``build``). A configuration Paddle refuses is NotApplicable
    with Paddle's message. ``variant``: 'foreach' is Paddle's use_multi_tensor=True where the optimizer has it;
    Paddle has no fused argument."""
    info = REGISTRY[case.optimizer.name]
    entry = OPTIMIZERS[info.name]
    if info.paddle is None:
        raise NotApplicable(f"paddle.optimizer has no {info.name}")
    cls = getattr(paddle.optimizer, info.paddle, None)
    if cls is None:  # an optimizer newer than the installed Paddle (NAdam, RAdam, ASGD, Rprop after 2.6)
        raise NotApplicable(f"paddle.optimizer.{info.paddle} does not exist in paddle {paddle.__version__}")
    kwargs = optimizer_kwargs(case, "paddle", tensor=paddle.to_tensor)
    kwargs.update(framework_arguments(case, "paddle", cls))
    if variant == "fused":
        raise NotApplicable(f"paddle.optimizer.{info.paddle} has no fused argument (its arguments: "
                            f"{', '.join(inspect.signature(cls.__init__).parameters)})")
    if variant == "foreach":
        if "use_multi_tensor" not in inspect.signature(cls.__init__).parameters:
            raise NotApplicable(f"paddle.optimizer.{info.paddle} has no use_multi_tensor, Paddle's counterpart of "
                                "Torch's foreach (Momentum, Adam and AdamW have it)")
        kwargs["use_multi_tensor"] = True
    if learning_rate is not None:
        kwargs["learning_rate"] = learning_rate
    if weight_decay is not None:
        if not entry.regularizer and not isinstance(weight_decay, float):  # a float is its own coefficient
            _refuse_regularizer(info, cls, parameters, weight_decay)
        kwargs["weight_decay"] = weight_decay
    for key, value in per_parameter(case).items():
        arg = info.hypers[key].paddle.name
        if arg not in _PER_PARAMETER or names is None:
            raise NotApplicable(f"paddle.optimizer.{info.paddle} cannot take {key} per parameter here")
        kwargs[arg] = _PER_PARAMETER[arg](value, names)
    try:
        optimizer = cls(parameters=parameters, grad_clip=grad_clip, **kwargs)
    except (ValueError, NotImplementedError) as exc:
        raise NotApplicable(f"paddle.optimizer.{info.paddle} refuses this configuration: "
                            f"{type(exc).__name__}: {exc}") from None
    except TypeError as exc:
        # A missing required argument (no default learning rate), or an argument this Paddle version does not
        # have. The registry's argument names are checked against the installed source by the tests, so an
        # unexpected keyword here is a version without it, not a misspelling.
        if "required" not in str(exc) and "unexpected keyword" not in str(exc):
            raise
        raise NotApplicable(f"paddle.optimizer.{info.paddle} (paddle {paddle.__version__}): {exc}") from None
    optimizer.equivalence_name = info.name  # which registry entry state() and hyper() read it by
    return optimizer


def _refuse_regularizer(info, cls, parameters, regularizer) -> None:
    """NotApplicable with Paddle's own message for an optimizer whose weight_decay is no regularizer."""
    try:
        cls(parameters=parameters, weight_decay=regularizer)
    except (TypeError, ValueError) as exc:
        raise NotApplicable(f"paddle.optimizer.{info.paddle} refuses weight_decay={regularizer}: "
                            f"{type(exc).__name__}: {exc}") from None
    arg = info.hypers.get("weight_decay")
    raise NotApplicable(f"paddle.optimizer.{info.paddle}'s weight_decay is not a regularizer"
                        + (f" but its decoupled coefficient ({arg.paddle.source})" if arg else ""))


def _entry(optimizer):
    return REGISTRY[optimizer.equivalence_name], OPTIMIZERS[optimizer.equivalence_name]


def state(optimizer, param) -> dict:
    """Optimizer state under neutral names, as NumPy arrays (per-parameter numbers as 0-d arrays)."""
    _, entry = _entry(optimizer)
    if entry.read is not None:
        return entry.read(optimizer, param)
    accumulators = getattr(optimizer, "_accumulators", {})
    result = {}
    for acc, neutral in entry.state.items():
        value = accumulators.get(acc, {}).get(param.name)
        if value is None or (acc in entry.keep and not entry.keep[acc](optimizer)):
            continue
        array = np.array(value.numpy(), copy=True)
        result[neutral] = scalar_state(array) if acc in entry.scalars else array
    return result


def hyper(optimizer) -> dict:
    """The scalar hyper-parameters the optimizer object holds, under neutral names."""
    info, entry = _entry(optimizer)
    result = {}
    for key, h in info.hypers.items():
        if not h.recorded or key == "lr" or h.paddle.name is None:
            continue
        name, index = split_index(h.paddle.name)
        if name not in inspect.signature(type(optimizer).__init__).parameters:
            continue  # a Paddle version without this argument
        value = getattr(optimizer, entry.attributes.get(key, f"_{name}"))
        if index is not None:
            value = np.array(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64).reshape(-1)[index]
        result[key] = float(value)
    return result
