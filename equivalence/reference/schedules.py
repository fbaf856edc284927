"""Learning-rate schedules in closed form, from their definitions (float64, Python floats).

The lr of step t (from 1) is the schedule at epoch e = t - 1: both frameworks step their scheduler once in
the constructor (epoch 0) and once after each optimizer step. Every schedule except reduce_on_plateau is a
function of the epoch alone; the frameworks compute several of them recursively (lr_e from lr_(e-1)), which
is exactly the drift the cases measure against these closed forms.
"""

from __future__ import annotations

import bisect
import math

from ..spec import Case, ScheduleSpec


def _cosine(base: float, eta_min: float, t: float, period: float) -> float:
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


def _restart_position(sch: ScheduleSpec, epoch: int) -> tuple[int, int]:
    """(epochs since the last restart, length of the current period)."""
    start, period = 0, sch.t_0
    while epoch >= start + period:
        start += period
        period *= sch.get("t_mult")
    return epoch - start, period


def _cyclic(sch: ScheduleSpec, base: float, epoch: int) -> float:
    up = sch.step_size_up
    down = sch.get("step_size_down") or up
    position, cycle = epoch % (up + down), epoch // (up + down) + 1
    height = position / up if position <= up else (up + down - position) / down
    mode = sch.get("mode")
    scale = {"triangular": 1.0, "triangular2": 1 / 2.0 ** (cycle - 1),
             "exp_range": sch.get("gamma") ** epoch}[mode]
    return base + (sch.max_lr - base) * height * scale


def _anneal(kind: str, start: float, end: float, pct: float) -> float:
    if kind == "cos":
        return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))
    return start + (end - start) * pct


def _one_cycle(sch: ScheduleSpec, peak: float, epoch: int) -> float:
    """Phases end at epochs pct*T - 1, (2*pct*T - 2,) T - 1, as both frameworks document them."""
    total, pct, kind = sch.total_steps, sch.get("pct_start"), sch.get("anneal")
    initial, final = peak / sch.get("div_factor"), sch.end_lr
    if sch.get("three_phase"):
        phases = [(pct * total - 1, initial, peak), (2 * pct * total - 2, peak, initial), (total - 1, initial, final)]
    else:
        phases = [(pct * total - 1, initial, peak), (total - 1, peak, final)]
    start = 0.0
    for i, (end, lr_from, lr_to) in enumerate(phases):
        if epoch <= end or i == len(phases) - 1:
            return _anneal(kind, lr_from, lr_to, (epoch - start) / (end - start))
        start = end
    raise AssertionError("unreachable")


def closed_form(case: Case, epoch: int) -> float:
    """The lr at ``epoch`` of every schedule but reduce_on_plateau."""
    sch, base = case.schedule, case.optimizer.lr
    name = sch.name
    if name == "step":
        return base * sch.get("gamma") ** (epoch // sch.step_size)
    if name == "multi_step":
        return base * sch.get("gamma") ** bisect.bisect_right(sorted(sch.milestones), epoch)
    if name == "exponential":
        return base * sch.gamma ** epoch
    if name == "cosine":
        return _cosine(base, sch.get("eta_min"), epoch, sch.t_max)
    if name == "cosine_warm_restarts":
        t_cur, period = _restart_position(sch, epoch)
        return _cosine(base, sch.get("eta_min"), t_cur, period)
    if name == "cyclic":
        return _cyclic(sch, base, epoch)
    if name == "one_cycle":
        return _one_cycle(sch, base, epoch)
    if name == "linear_warmup":
        warmup = sch.warmup_steps
        if epoch < warmup:
            end = sch.get("end_lr") if sch.given("end_lr") else base
            return sch.start_lr + (end - sch.start_lr) * epoch / warmup
        if sch.get("after") == "cosine":
            return _cosine(base, sch.get("eta_min"), epoch - warmup, sch.t_max)
        return base
    if name == "linear":
        start, end, total = sch.get("start_factor"), sch.get("end_factor"), sch.total_steps
        return base * (start + (end - start) * min(epoch, total) / total)
    if name == "polynomial":
        end, total = sch.get("end_lr"), sch.total_steps
        return (base - end) * (1 - min(epoch, total) / total) ** sch.get("power") + end
    if name == "lambda":
        return base * sch.factor_at(epoch)
    if name == "multiplicative":
        lr = base
        for e in range(1, epoch + 1):
            lr *= sch.factor_at(e)
        return lr
    raise ValueError(f"schedule {name!r} has no closed form")


class Plateau:
    """reduce_on_plateau: lr times factor once the metric (the step's loss) has not improved for more than
    ``patience`` epochs; ``cooldown`` epochs after a reduction do not count. During the cooldown the best
    metric keeps being tracked (flavour cooldown_tracks_best, Torch) or the metric is ignored (Paddle)."""

    def __init__(self, case: Case):
        self.sch, self.lr = case.schedule, case.optimizer.lr
        self.best: float | None = None
        self.bad = self.cooldown_left = 0

    def _better(self, metric: float) -> bool:
        if self.best is None:
            return True
        s = self.sch
        # rel: the margin is threshold*best, signed, as both frameworks write it (best*(1 - threshold)), so a
        # negative loss needs less than a relative improvement.
        margin = s.get("threshold") * (self.best if s.get("threshold_mode") == "rel" else 1.0)
        if s.get("mode") == "min":
            return metric < self.best - margin
        return metric > self.best + margin

    def _count(self, metric: float) -> None:
        if self._better(metric):
            self.best, self.bad = metric, 0
        else:
            self.bad += 1

    def step(self, metric: float) -> None:
        s = self.sch
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            if s.get("cooldown_tracks_best"):
                self._count(metric)
            self.bad = 0
        else:
            self._count(metric)
        if self.bad > s.get("patience"):
            self.bad, self.cooldown_left = 0, s.get("cooldown")
            reduced = max(self.lr * s.get("factor"), s.get("min_lr"))
            if self.lr - reduced > s.get("eps"):
                self.lr = reduced


class Schedule:
    """The lr of each step: ``lr`` before the optimizer step, ``step(loss)`` after it (or before it, for
    the schedule-shift perturbation, which is the scheduler stepped before the optimizer)."""

    def __init__(self, case: Case):
        self.case = case
        self.epoch = 0
        self.steps = 0  # scheduler steps taken
        self.plateau = Plateau(case) if case.schedule.name == "reduce_on_plateau" else None

    @property
    def shifted(self) -> bool:
        return self.case.schedule.shift != 0

    @property
    def lr(self) -> float:
        return self.plateau.lr if self.plateau else closed_form(self.case, self.epoch)

    def step(self, loss: float) -> None:
        self.steps += 1
        explicit = self.case.schedule.explicit_epoch(self.steps)  # scheduler.step(epoch=...) sets the epoch
        self.epoch = self.epoch + 1 if explicit is None else explicit
        if self.plateau:
            self.plateau.step(float(loss))
