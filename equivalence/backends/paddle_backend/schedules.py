"""Paddle learning-rate schedulers (paddle.optimizer.lr) for the case's [schedule].

A Paddle scheduler is the optimizer's ``learning_rate`` (built before the optimizer, see ``learning_rate``);
mapping = 'parity' sets every argument, 'defaults' only the ones the case gives (a direct port from Torch).
"""

from __future__ import annotations

from paddle.optimizer import lr as lrs

from ...spec import Case, ScheduleSpec
from ..common import NotApplicable


def _kwargs(sch: ScheduleSpec, names: dict[str, str]) -> dict:
    out = {}
    for neutral, paddle_name in names.items():
        if sch.mapping == "defaults" and not sch.given(neutral):
            continue
        value = sch.get(neutral)
        if value is not None:
            out[paddle_name] = list(value) if isinstance(value, tuple) else value
    return out


def _construct(cls, *args, **kwargs):
    try:
        return cls(*args, **kwargs)
    except (ValueError, TypeError, AssertionError) as exc:
        raise NotApplicable(f"paddle.optimizer.lr.{cls.__name__} refuses {kwargs}: "
                            f"{type(exc).__name__}: {exc}") from None


_SIMPLE = {  # schedule -> (Paddle class, neutral -> Paddle argument names)
    "step": (lrs.StepDecay, {"step_size": "step_size", "gamma": "gamma"}),
    "multi_step": (lrs.MultiStepDecay, {"milestones": "milestones", "gamma": "gamma"}),
    "exponential": (lrs.ExponentialDecay, {"gamma": "gamma"}),
    "cosine": (lrs.CosineAnnealingDecay, {"t_max": "T_max", "eta_min": "eta_min"}),
    "cosine_warm_restarts": (lrs.CosineAnnealingWarmRestarts, {"t_0": "T_0", "t_mult": "T_mult",
                                                                "eta_min": "eta_min"}),
    "linear": (lrs.LinearLR, {"total_steps": "total_steps", "start_factor": "start_factor",
                              "end_factor": "end_factor"}),
    "polynomial": (lrs.PolynomialDecay, {"total_steps": "decay_steps", "end_lr": "end_lr", "power": "power"}),
    "cyclic": (lrs.CyclicLR, {"max_lr": "max_learning_rate", "step_size_up": "step_size_up",
                              "step_size_down": "step_size_down", "mode": "mode", "gamma": "exp_gamma"}),
    "reduce_on_plateau": (lrs.ReduceOnPlateau, {"mode": "mode", "factor": "factor", "patience": "patience",
                                                "threshold": "threshold", "threshold_mode": "threshold_mode",
                                                "cooldown": "cooldown", "min_lr": "min_lr", "eps": "epsilon"}),
}


def _one_cycle(case: Case, sch: ScheduleSpec):
    kwargs = _kwargs(sch, {"total_steps": "total_steps", "end_lr": "end_learning_rate", "div_factor": "divide_factor",
                           "pct_start": "phase_pct", "anneal": "anneal_strategy", "three_phase": "three_phase"})
    return _construct(lrs.OneCycleLR, max_learning_rate=case.optimizer.lr, **kwargs)


def _linear_warmup(case: Case, sch: ScheduleSpec):
    base = case.optimizer.lr
    after = base
    if sch.get("after") == "cosine":
        after = _construct(lrs.CosineAnnealingDecay, base, T_max=sch.t_max, eta_min=sch.get("eta_min"))
    end = sch.end_lr if sch.given("end_lr") else base
    return _construct(lrs.LinearWarmup, learning_rate=after, warmup_steps=sch.warmup_steps, start_lr=sch.start_lr,
                      end_lr=end)


def learning_rate(case: Case):
    """What the optimizer's ``learning_rate`` takes: the case's scheduler, or None for a constant lr."""
    sch = case.schedule
    if sch is None:
        return None
    base = case.optimizer.lr
    if sch.name == "one_cycle":
        return _one_cycle(case, sch)
    if sch.name == "linear_warmup":
        return _linear_warmup(case, sch)
    if sch.name == "lambda":
        return _construct(lrs.LambdaDecay, base, lr_lambda=sch.factor_at)
    if sch.name == "multiplicative":
        return _construct(lrs.MultiplicativeDecay, base, lr_lambda=sch.factor_at)
    cls, names = _SIMPLE[sch.name]
    kwargs = _kwargs(sch, names)
    if sch.name == "cyclic":
        return _construct(cls, base_learning_rate=base, **kwargs)
    return _construct(cls, base, **kwargs)


def create(case: Case, optimizer):
    """The scheduler the optimizer was built with (``learning_rate``), to be stepped by the loop."""
    scheduler = optimizer._learning_rate
    assert isinstance(scheduler, lrs.LRScheduler), f"optimizer built without the case's scheduler: {scheduler!r}"
    return scheduler


def step(scheduler, loss, epoch: int | None = None) -> None:
    """After the optimizer step; ReduceOnPlateau watches the step's loss. ``epoch``: scheduler.step(epoch=...),
    which sets last_epoch to it (paddle/optimizer/lr.py, LRScheduler.step)."""
    if isinstance(scheduler, lrs.ReduceOnPlateau):
        scheduler.step(loss.detach())
    else:
        scheduler.step(epoch=epoch)

