"""Torch optimizers: construction from the case, and read-back of their state and hyper-parameters under
the registry's neutral names (equivalence/reference/optimizers). Adding an optimizer: one OPTIMIZERS entry."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ...reference.optimizers import REGISTRY
from ...reference.optimizers.base import matches, ratio_for
from ...spec import Case
from ..common import NotApplicable, framework_arguments, optimizer_kwargs, per_parameter, split_index


@dataclass(frozen=True)
class TorchOptimizer:
    """``state``: key in ``optimizer.state[param]`` -> neutral state name. ``decay``: what a param group's
    ``weight_decay`` means: "coupled" (L2 added to the gradient), "decoupled" (AdamW's own coefficient,
    the registry's weight_decay hyper-parameter) or None (the optimizer has none)."""

    state: dict[str, str] = field(default_factory=dict)
    decay: str | None = "coupled"
    read: Callable | None = None  # (optimizer, param) -> neutral state, where the state is not per parameter


def _lbfgs_state(optimizer, param) -> dict:
    """LBFGS keeps one state, under its first parameter (torch/optim/lbfgs.py:352)."""
    if param is not optimizer._params[0]:
        return {}
    kept = optimizer.state.get(param, {})
    out = {key: kept[key] for key in ("func_evals", "n_iter") if key in kept}
    if "old_dirs" in kept:
        out["history"] = len(kept["old_dirs"])
        out["h_diag"] = kept["H_diag"]
    if kept.get("t") is not None:
        out["step_size"] = kept["t"]
    return {key: torch.as_tensor(value, dtype=torch.float64) for key, value in out.items()}


_ADAM_STATE = {"step": "step", "exp_avg": "moment1", "exp_avg_sq": "moment2", "max_exp_avg_sq": "moment2_max"}

OPTIMIZERS: dict[str, TorchOptimizer] = {
    "sgd": TorchOptimizer(),
    "momentum": TorchOptimizer(state={"momentum_buffer": "velocity"}),
    "adam": TorchOptimizer(state=_ADAM_STATE),
    "adamw": TorchOptimizer(state=_ADAM_STATE, decay="decoupled"),
    "adagrad": TorchOptimizer(state={"step": "step", "sum": "accumulator"}),
    "rmsprop": TorchOptimizer(state={"step": "step", "square_avg": "mean_square", "grad_avg": "mean_grad",
                                     "momentum_buffer": "velocity"}),
    "adadelta": TorchOptimizer(state={"step": "step", "square_avg": "mean_square", "acc_delta": "mean_square_update"}),
    "adamax": TorchOptimizer(state={"step": "step", "exp_avg": "moment1", "exp_inf": "inf_norm"}),
    "nadam": TorchOptimizer(state={"step": "step", "mu_product": "mu_product", "exp_avg": "moment1",
                                   "exp_avg_sq": "moment2"}),
    "radam": TorchOptimizer(state={"step": "step", "exp_avg": "moment1", "exp_avg_sq": "moment2"}),
    "rprop": TorchOptimizer(state={"step": "step", "prev": "prev_grad", "step_size": "step_size"}, decay=None),
    "asgd": TorchOptimizer(state={"step": "step", "eta": "eta", "mu": "mu", "ax": "average"}),
    "lbfgs": TorchOptimizer(decay=None, read=_lbfgs_state),
}


def create(case: Case, groups: list[dict], names: dict | None = None, variant: str | None = None):
    """The case's optimizer over param ``groups``, each with its coupled L2 ``weight_decay`` (from
    [regularization]). ``names`` maps each parameter to its canonical name, for per-parameter settings,
    which split the groups further (one group per learning-rate ratio and decay exclusion). ``variant``:
    'foreach' or 'fused', Torch's other implementations of the same update (foreach=True, fused=True)."""
    info = REGISTRY[case.optimizer.name]
    if info.torch is None:
        raise NotApplicable(f"torch.optim has no {info.paddle or info.name}")
    entry = OPTIMIZERS[info.name]
    kwargs = optimizer_kwargs(case, "torch", tensor=torch.tensor)
    groups = [_with_decay(info, entry, dict(g)) for g in groups]
    settings = per_parameter(case)
    if settings:
        if names is None:
            raise NotApplicable(f"torch.optim.{info.torch} cannot take {', '.join(settings)} per parameter here")
        groups = _split(case, groups, names, settings)
    cls = getattr(torch.optim, info.torch)
    kwargs.update(framework_arguments(case, "torch", cls))
    if variant is not None:
        if variant not in inspect.signature(cls.__init__).parameters:
            raise NotApplicable(f"torch.optim.{info.torch} has no {variant} implementation (no {variant}= argument)")
        kwargs[variant] = True
    try:
        optimizer = cls(groups, **kwargs)
    except (ValueError, RuntimeError) as exc:
        raise NotApplicable(f"torch.optim.{info.torch} refuses this configuration: {type(exc).__name__}: {exc}") from None
    optimizer.equivalence_name = info.name  # which registry entry state() and hyper() read it by
    return optimizer


def _with_decay(info, entry: TorchOptimizer, group: dict) -> dict:
    """A group's coupled L2 coefficient as this optimizer takes it, or NotApplicable."""
    l2 = group.pop("weight_decay", 0.0)
    if entry.decay == "coupled":
        group["weight_decay"] = l2
    elif l2:
        decoupled = info.hypers.get("weight_decay")
        why = (f"its weight_decay is the decoupled coefficient ({decoupled.torch.source})"
               if entry.decay == "decoupled" and decoupled else "it takes no weight_decay")
        raise NotApplicable(f"torch.optim.{info.torch} cannot add L2 to the gradient: {why}; coupled L2 needs a "
                            "loss penalty")
    return group


def _split(case: Case, groups: list[dict], names: dict, settings: dict) -> list[dict]:
    """One param group per (group, lr ratio, decay excluded): Torch's way to give parameters their own lr
    and weight_decay (torch/optim/optimizer.py:1157-1163 fills what a group leaves out from the defaults)."""
    lr = case.optimizer.lr if case.optimizer.lr is not None else REGISTRY[case.optimizer.name].hypers["lr"].torch.default
    ratios, excluded = settings.get("lr_ratio", {}), settings.get("decay_exclude", ())
    split: dict[tuple, dict] = {}
    for index, group in enumerate(groups):
        for p in group["params"]:
            ratio, skip = ratio_for(names[p], ratios), matches(names[p], excluded)
            key = (index, ratio, skip)
            if key not in split:
                split[key] = {**group, "params": []}
                if ratio != 1.0:  # lr_multiplier: the optimizer's own lr stays readable (torch_backend.lr)
                    m = group.get("lr_multiplier", 1.0)
                    split[key].update(lr=group.get("lr", lr) * ratio, lr_multiplier=m * ratio)
                if skip:
                    split[key]["weight_decay"] = 0.0
            split[key]["params"].append(p)
    return list(split.values())


def state(optimizer, param) -> dict:
    """Optimizer state under neutral names."""
    entry = OPTIMIZERS[optimizer.equivalence_name]
    if entry.read is not None:
        return entry.read(optimizer, param)
    kept = optimizer.state.get(param, {})
    return {neutral: kept[key] for key, neutral in entry.state.items() if kept.get(key) is not None}


def hyper(optimizer) -> dict:
    """The scalar hyper-parameters of the first param group, under neutral names."""
    info = REGISTRY[optimizer.equivalence_name]
    group = optimizer.param_groups[0]
    result = {}
    for key, h in info.hypers.items():
        if not h.recorded or key == "lr" or h.torch.name is None:
            continue
        name, index = split_index(h.torch.name)
        value = group[name] if index is None else group[name][index]
        result[key] = float(value)
    return result
