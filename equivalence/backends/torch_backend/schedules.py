"""Torch learning-rate schedulers (torch.optim.lr_scheduler) for the case's [schedule].

mapping = 'parity' sets every argument so the scheduler computes the neutral schedule; 'defaults' passes only
the arguments the case gives and leaves the rest at Torch's defaults (a direct port from Paddle).
"""

from __future__ import annotations

import copy
import warnings

from torch.optim import lr_scheduler as lrs

from ...spec import Case, ScheduleSpec
from ..common import NotApplicable


def _kwargs(sch: ScheduleSpec, names: dict[str, str]) -> dict:
    """neutral name -> Torch name, for the parameters this mapping passes."""
    out = {}
    for neutral, torch_name in names.items():
        if sch.mapping == "defaults" and not sch.given(neutral):
            continue
        value = sch.get(neutral)
        if value is not None:
            out[torch_name] = list(value) if isinstance(value, tuple) else value
    return out


def _construct(cls, optimizer, *args, **kwargs):
    try:
        return cls(optimizer, *args, **kwargs)
    except (ValueError, TypeError, AssertionError) as exc:
        raise NotApplicable(f"torch.optim.lr_scheduler.{cls.__name__} refuses {kwargs}: "
                            f"{type(exc).__name__}: {exc}") from None


def _linear_warmup(case: Case, sch: ScheduleSpec, optimizer, **extra):
    if extra:
        raise NotApplicable("the linear_warmup port is a LambdaLR or LinearLR inside a SequentialLR here; it is not "
                            "resumed from last_epoch")
    base, warmup = case.optimizer.lr, sch.warmup_steps
    end = sch.end_lr if sch.given("end_lr") else base
    if sch.mapping == "defaults":
        # The port of Paddle's LinearWarmup: LinearLR from start_lr/lr to end_lr/lr (lr_scheduler.py:877).
        warm = _construct(lrs.LinearLR, optimizer, start_factor=sch.start_lr / base, end_factor=end / base,
                          total_iters=warmup)
    else:
        # LinearLR needs start_factor > 0 (lr_scheduler.py:921), so parity writes the ramp as a LambdaLR.
        def ramp(epoch: int) -> float:
            return (sch.start_lr + (end - sch.start_lr) * epoch / warmup) / base if epoch < warmup else 1.0
        warm = _construct(lrs.LambdaLR, optimizer, lr_lambda=ramp)
    if sch.get("after") != "cosine":
        return warm
    cosine = _construct(lrs.CosineAnnealingLR, optimizer, T_max=sch.t_max, eta_min=sch.get("eta_min"))
    return _construct(lrs.SequentialLR, optimizer, schedulers=[warm, cosine], milestones=[warmup])


_MOMENTUM = {"cycle_momentum": "cycle_momentum", "base_momentum": "base_momentum", "max_momentum": "max_momentum"}


def _momentum_kwargs(sch: ScheduleSpec) -> dict:
    """Torch cycles SGD's momentum / Adam's beta1 by default (lr_scheduler.py:1961, 2498); parity passes
    cycle_momentum as the case says (neutral default false) and the bounds only when it cycles."""
    if sch.mapping == "defaults":
        return _kwargs(sch, _MOMENTUM)
    if not sch.get("cycle_momentum"):
        return {"cycle_momentum": False}
    return _kwargs(sch, _MOMENTUM)


def _one_cycle(case: Case, sch: ScheduleSpec, optimizer, **extra):
    kwargs = _kwargs(sch, {"total_steps": "total_steps", "pct_start": "pct_start", "anneal": "anneal_strategy",
                           "div_factor": "div_factor", "three_phase": "three_phase"})
    if sch.mapping == "parity":
        # Torch's final lr is initial_lr / final_div_factor (lr_scheduler.py:2494), Paddle's an absolute
        # end_learning_rate.
        initial = case.optimizer.lr / sch.get("div_factor")
        kwargs.update(final_div_factor=initial / sch.end_lr if sch.end_lr else float("inf"))
    kwargs.update(_momentum_kwargs(sch))
    return _construct(lrs.OneCycleLR, optimizer, max_lr=case.optimizer.lr, **kwargs, **extra)


def _cyclic(case: Case, sch: ScheduleSpec, optimizer, **extra):
    kwargs = _kwargs(sch, {"max_lr": "max_lr", "step_size_up": "step_size_up", "step_size_down": "step_size_down",
                           "mode": "mode", "gamma": "gamma"})
    kwargs.update(_momentum_kwargs(sch))
    return _construct(lrs.CyclicLR, optimizer, base_lr=case.optimizer.lr, **kwargs, **extra)


def _polynomial(case: Case, sch: ScheduleSpec, optimizer, **extra):
    if sch.mapping == "parity" and sch.get("end_lr") != 0:
        raise NotApplicable("torch.optim.lr_scheduler.PolynomialLR decays to 0: lr = base_lr * (1 - t/total_iters)"
                            "**power, with no end learning rate (lr_scheduler.py:1237, PolynomialLR)")
    return _construct(lrs.PolynomialLR, optimizer, **_kwargs(sch, {"total_steps": "total_iters", "power": "power"}),
                      **extra)


def _sequential(case: Case, sch: ScheduleSpec, optimizer, **extra):
    parts = [_create(case, sub, optimizer) for sub in sch.schedules]
    return _construct(lrs.SequentialLR, optimizer, schedulers=parts, milestones=list(sch.milestones), **extra)


def _chained(case: Case, sch: ScheduleSpec, optimizer, **extra):
    parts = [_create(case, sub, optimizer) for sub in sch.schedules]
    return lrs.ChainedScheduler(parts, optimizer=optimizer)


_SIMPLE = {  # schedule -> (Torch class, neutral -> Torch argument names)
    "step": (lrs.StepLR, {"step_size": "step_size", "gamma": "gamma"}),
    "multi_step": (lrs.MultiStepLR, {"milestones": "milestones", "gamma": "gamma"}),
    "exponential": (lrs.ExponentialLR, {"gamma": "gamma"}),
    "cosine": (lrs.CosineAnnealingLR, {"t_max": "T_max", "eta_min": "eta_min"}),
    "cosine_warm_restarts": (lrs.CosineAnnealingWarmRestarts, {"t_0": "T_0", "t_mult": "T_mult",
                                                                "eta_min": "eta_min"}),
    "linear": (lrs.LinearLR, {"total_steps": "total_iters", "start_factor": "start_factor",
                              "end_factor": "end_factor"}),
    "constant": (lrs.ConstantLR, {"factor": "factor", "total_steps": "total_iters"}),
    "reduce_on_plateau": (lrs.ReduceLROnPlateau, {"mode": "mode", "factor": "factor", "patience": "patience",
                                                  "threshold": "threshold", "threshold_mode": "threshold_mode",
                                                  "cooldown": "cooldown", "min_lr": "min_lr", "eps": "eps"}),
}

_SPECIAL = {"linear_warmup": _linear_warmup, "one_cycle": _one_cycle, "cyclic": _cyclic, "polynomial": _polynomial,
            "sequential": _sequential, "chained": _chained}


def create(case: Case, optimizer):
    """The scheduler wrapping the optimizer; it sets the optimizer's lr for the first step."""
    return _create(case, case.schedule, optimizer)


def _create(case: Case, sch: ScheduleSpec, optimizer, last_epoch: int = -1):
    extra = {} if last_epoch == -1 else {"last_epoch": last_epoch}
    if sch.name in _SPECIAL:
        return _SPECIAL[sch.name](case, sch, optimizer, **extra)
    if sch.name == "lambda":
        return _construct(lrs.LambdaLR, optimizer, lr_lambda=sch.factor_at, **extra)
    if sch.name == "multiplicative":
        return _construct(lrs.MultiplicativeLR, optimizer, lr_lambda=sch.factor_at, **extra)
    cls, names = _SIMPLE[sch.name]
    if sch.name == "reduce_on_plateau" and extra:
        raise NotApplicable("torch.optim.lr_scheduler.ReduceLROnPlateau takes no last_epoch "
                            "(lr_scheduler.py:1648); it resumes only from a state_dict")
    return _construct(cls, optimizer, **_kwargs(sch, names), **extra)


def step(scheduler, loss, epoch: int | None = None) -> None:
    """After the optimizer step; reduce-on-plateau watches the step's loss. ``epoch``: scheduler.step(epoch),
    deprecated in Torch (its warning is silenced; lr_scheduler.py uses the closed form where there is one)."""
    if isinstance(scheduler, lrs.ReduceLROnPlateau):
        scheduler.step(loss.detach())
    elif epoch is None:
        scheduler.step()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler.step(epoch)


def after_step(case: Case, step_index: int, optimizer, scheduler, rebuild_optimizer):
    """(optimizer, scheduler) for the next step: a second scheduler taking over ([schedule.then]), or both
    rebuilt from the old ones (schedule.rebuild_at) as a restarted script does: optimizer and scheduler
    constructed, then their state dicts loaded (torch/optim/optimizer.py load_state_dict restores each group's
    lr; lr_scheduler.py:188-197 the scheduler's last_epoch). ``rebuild_optimizer()`` builds a fresh optimizer."""
    sch = case.schedule
    if sch.then is not None and step_index == sch.then.at_step:
        last = -1 if sch.then.name == "reduce_on_plateau" else scheduler.last_epoch
        return optimizer, _create(case, sch.then, optimizer, last_epoch=last)
    if sch.rebuild_at != step_index:
        return optimizer, scheduler
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_scheduler = copy.deepcopy(scheduler.state_dict())
    fresh = rebuild_optimizer()
    if sch.rebuild_from == "state_dict":
        rebuilt = _create(case, sch, fresh)
        fresh.load_state_dict(saved_optimizer)
        rebuilt.load_state_dict(saved_scheduler)
        return fresh, rebuilt
    fresh.load_state_dict(saved_optimizer)  # the groups' initial_lr, which last_epoch >= 0 requires
    last = scheduler.last_epoch - (1 if sch.rebuild_from == "last_epoch_minus_one" else 0)
    return fresh, _create(case, sch, fresh, last_epoch=last)
