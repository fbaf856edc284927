"""Paddle learning-rate schedulers (paddle.optimizer.lr) for the case's [schedule].

A Paddle scheduler is the optimizer's ``learning_rate`` (built before the optimizer, see ``learning_rate``);
mapping = 'parity' sets every argument, 'defaults' only the ones the case gives (a direct port from Torch).
"""

from __future__ import annotations

import copy

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


def _no_momentum_cycling(sch: ScheduleSpec, cls: str) -> None:
    if sch.get("cycle_momentum"):
        raise NotApplicable(f"paddle.optimizer.lr.{cls} sets the learning rate only: it has no cycle_momentum, "
                            "base_momentum or max_momentum (paddle/optimizer/lr.py:1986-1996, 2244-2254), and an "
                            "LRScheduler cannot reach the optimizer's momentum")


def _one_cycle(case: Case, sch: ScheduleSpec, **extra):
    _no_momentum_cycling(sch, "OneCycleLR")
    kwargs = _kwargs(sch, {"total_steps": "total_steps", "end_lr": "end_learning_rate", "div_factor": "divide_factor",
                           "pct_start": "phase_pct", "anneal": "anneal_strategy", "three_phase": "three_phase"})
    return _construct(lrs.OneCycleLR, max_learning_rate=case.optimizer.lr, **kwargs, **extra)


def _constant(case: Case, sch: ScheduleSpec, **extra):
    """Paddle has no ConstantLR (the classes of paddle/optimizer/lr.py); PiecewiseDecay with one boundary is
    the same schedule: lr*factor before total_steps, lr from then on (lr.py:402, 490)."""
    base = case.optimizer.lr
    return _construct(lrs.PiecewiseDecay, boundaries=[sch.get("total_steps")],
                      values=[base * sch.get("factor"), base], **extra)


def _composed(case: Case, sch: ScheduleSpec, **extra):
    torch_name = "SequentialLR" if sch.name == "sequential" else "ChainedScheduler"
    raise NotApplicable(f"paddle.optimizer.lr has no {torch_name}: an optimizer holds one LRScheduler as its "
                        "learning_rate (paddle/optimizer/optimizer.py:720 set_lr_scheduler replaces it), and no "
                        "class of paddle/optimizer/lr.py composes schedulers except LinearWarmup, which only puts a "
                        "linear warm-up before one (lr.py:844)")


def _linear_warmup(case: Case, sch: ScheduleSpec, **extra):
    base = case.optimizer.lr
    after = base
    if sch.get("after") == "cosine":
        after = _construct(lrs.CosineAnnealingDecay, base, T_max=sch.t_max, eta_min=sch.get("eta_min"))
    end = sch.end_lr if sch.given("end_lr") else base
    return _construct(lrs.LinearWarmup, learning_rate=after, warmup_steps=sch.warmup_steps, start_lr=sch.start_lr,
                      end_lr=end, **extra)


_SPECIAL = {"one_cycle": _one_cycle, "linear_warmup": _linear_warmup, "constant": _constant,
            "sequential": _composed, "chained": _composed}


def learning_rate(case: Case):
    """What the optimizer's ``learning_rate`` takes: the case's scheduler, or None for a constant lr."""
    if case.schedule is None:
        return None
    return _create(case, case.schedule)


def _create(case: Case, sch: ScheduleSpec, last_epoch: int = -1, base: float | None = None):
    extra = {} if last_epoch == -1 else {"last_epoch": last_epoch}
    base = case.optimizer.lr if base is None else base
    if sch.name in _SPECIAL:
        return _SPECIAL[sch.name](case, sch, **extra)
    if sch.name == "lambda":
        return _construct(lrs.LambdaDecay, base, lr_lambda=sch.factor_at, **extra)
    if sch.name == "multiplicative":
        return _construct(lrs.MultiplicativeDecay, base, lr_lambda=sch.factor_at, **extra)
    cls, names = _SIMPLE[sch.name]
    kwargs = _kwargs(sch, names)
    if sch.name == "reduce_on_plateau":
        if extra:
            raise NotApplicable("paddle.optimizer.lr.ReduceOnPlateau takes no last_epoch (lr.py:1544); it resumes "
                                "only from a state_dict")
        return _construct(cls, base, **kwargs)
    if sch.name == "cyclic":
        _no_momentum_cycling(sch, "CyclicLR")
        return _construct(cls, base_learning_rate=base, **kwargs, **extra)
    return _construct(cls, base, **kwargs, **extra)


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


def after_step(case: Case, step_index: int, optimizer, scheduler, rebuild_optimizer):
    """(optimizer, scheduler) for the next step: a second scheduler set with ``set_lr_scheduler``
    ([schedule.then]; a second ReduceOnPlateau starts from the current lr, the learning_rate it must be
    given), or both rebuilt (schedule.rebuild_at) as a restarted script does: the scheduler, then the
    optimizer on it, whose ``set_state_dict`` also loads the scheduler's state (optimizer.py:478-490).
    ``rebuild_optimizer(scheduler)`` builds a fresh optimizer on a scheduler.

    Paddle names an optimizer's accumulators ``<param>_<name>_<n>`` with a process-wide counter
    (optimizer.py:1055-1056), and ``set_state_dict`` into a second optimizer of the same process then fails
    ("Optimizer set error, ..._1 should in state dict", optimizer.py:1116-1118): a restarted script is a new
    process. The fresh optimizer is marked so that its first step creates them under a fresh
    ``unique_name.guard()``, as a new process would."""
    sch = case.schedule
    if sch.then is not None and step_index == sch.then.at_step:
        if sch.then.name == "reduce_on_plateau":
            second = _create(case, sch.then, base=optimizer.get_lr())
        else:
            second = _create(case, sch.then, last_epoch=scheduler.last_epoch)
        optimizer.set_lr_scheduler(second)
        return optimizer, second
    if sch.rebuild_at != step_index:
        return optimizer, scheduler
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    if sch.rebuild_from == "state_dict":
        rebuilt = _create(case, sch)
        fresh = rebuild_optimizer(rebuilt)
        fresh.set_state_dict(saved_optimizer)
        fresh.equivalence_restarted = True
        return fresh, rebuilt
    last = scheduler.last_epoch - (1 if sch.rebuild_from == "last_epoch_minus_one" else 0)
    rebuilt = _create(case, sch, last_epoch=last)
    fresh = rebuild_optimizer(rebuilt)
    # set_state_dict requires an LR_Scheduler entry (optimizer.py:478-481) and loads it into the scheduler:
    # give it the rebuilt scheduler's own, so the last_epoch it was built with stays.
    saved_optimizer["LR_Scheduler"] = rebuilt.state_dict()
    fresh.set_state_dict(saved_optimizer)
    fresh.equivalence_restarted = True
    return fresh, rebuilt
