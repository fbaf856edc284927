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


def one_cycle_end_lr(sch: ScheduleSpec, peak: float, follows: str | None) -> float:
    """end_lr as written, else the default of the framework the reference follows: Paddle's absolute
    end_learning_rate=1e-4 (paddle/optimizer/lr.py:1990), Torch's initial_lr / final_div_factor=1e4
    (torch/optim/lr_scheduler.py:2399, 2494)."""
    if sch.given("end_lr"):
        return sch.end_lr
    return 1e-4 if follows == "paddle" else peak / sch.get("div_factor") / 1e4


def _one_cycle_phases(sch: ScheduleSpec, start_value: float, peak_value: float, end_value: float):
    """(last epoch, value from, value to) of each phase: they end at epochs pct*T - 1, (2*pct*T - 2,) T - 1,
    as both frameworks document them."""
    total, pct = sch.total_steps, sch.get("pct_start")
    if sch.get("three_phase"):
        return [(pct * total - 1, start_value, peak_value), (2 * pct * total - 2, peak_value, start_value),
                (total - 1, start_value, end_value)]
    return [(pct * total - 1, start_value, peak_value), (total - 1, peak_value, end_value)]


def _one_cycle_at(sch: ScheduleSpec, phases, epoch: int) -> float:
    start = 0.0
    for i, (end, value_from, value_to) in enumerate(phases):
        if epoch <= end or i == len(phases) - 1:
            return _anneal(sch.get("anneal"), value_from, value_to, (epoch - start) / (end - start))
        start = end
    raise AssertionError("unreachable")


def _one_cycle(sch: ScheduleSpec, peak: float, epoch: int, follows: str | None = None) -> float:
    initial, final = peak / sch.get("div_factor"), one_cycle_end_lr(sch, peak, follows)
    return _one_cycle_at(sch, _one_cycle_phases(sch, initial, peak, final), epoch)


def cycled_momentum(sch: ScheduleSpec, epoch: int) -> float | None:
    """The momentum (SGD momentum or Adam beta1) Torch's CyclicLR / OneCycleLR set with cycle_momentum:
    inverse to the lr, max_momentum where the lr is lowest (torch/optim/lr_scheduler.py:261-273 cyclic,
    2590-2596 one-cycle). None when the schedule does not cycle momentum."""
    if sch.name not in ("cyclic", "one_cycle") or not sch.get("cycle_momentum"):
        return None
    low, high = sch.get("base_momentum"), sch.get("max_momentum")
    if sch.name == "one_cycle":
        return _one_cycle_at(sch, _one_cycle_phases(sch, high, low, high), epoch)
    up = sch.step_size_up
    down = sch.get("step_size_down") or up
    position, cycle = epoch % (up + down), epoch // (up + down) + 1
    height = position / up if position <= up else (up + down - position) / down
    scale = {"triangular": 1.0, "triangular2": 1 / 2.0 ** (cycle - 1),
             "exp_range": sch.get("gamma") ** epoch}[sch.get("mode")]
    return high - (high - low) * height * scale


def closed_form(case: Case, epoch: int) -> float:
    """The lr at ``epoch`` of every schedule but reduce_on_plateau."""
    return lr_at(case.schedule, case.optimizer.lr, epoch, case.reference.follows)


def lr_at(sch: ScheduleSpec, base: float, epoch: int, follows: str | None = None) -> float:
    """The lr at ``epoch`` of one schedule on the base lr ``base`` (not reduce_on_plateau)."""
    name = sch.name
    if name == "constant":
        return base * (sch.get("factor") if epoch < sch.get("total_steps") else 1.0)
    if name == "sequential":  # Torch SequentialLR: the next schedule restarts at epoch 0 on its milestone
        index = bisect.bisect_right(sch.milestones, epoch)
        start = sch.milestones[index - 1] if index else 0
        return lr_at(sch.schedules[index], base, epoch - start, follows)
    if name == "chained":  # Torch ChainedScheduler: each multiplies the lr the previous one left
        lr = base
        for sub in sch.schedules:
            lr *= lr_at(sub, base, epoch, follows) / base
        return lr
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
        return _one_cycle(sch, base, epoch, follows)
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

    def __init__(self, sch: ScheduleSpec, lr: float):
        self.sch, self.lr = sch, lr
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
    the schedule-shift perturbation, which is the scheduler stepped before the optimizer).

    A second scheduler ([schedule.then]) takes over after step at_step; a rebuild (schedule.rebuild_at)
    continues the same sequence, unless the schedule-restart perturbation makes the rebuilt scheduler start
    again from epoch 0."""

    def __init__(self, case: Case):
        self.case, self.base, self.follows = case, case.optimizer.lr, case.reference.follows
        self.active = case.schedule
        self.epoch = 0
        self.steps = 0  # scheduler steps taken
        self.origin = 0  # the epoch the active schedule counts from
        self.anchor: tuple[float, int] | None = None  # recursive resume: (lr left by the first, its epoch)
        self.plateau = Plateau(self.active, self.base) if self.active.name == "reduce_on_plateau" else None

    @property
    def shifted(self) -> bool:
        return self.case.schedule.shift != 0

    @property
    def lr(self) -> float:
        if self.plateau:
            return self.plateau.lr
        if self.anchor is not None:
            lr, start = self.anchor
            return lr * lr_at(self.active, self.base, self.epoch - self.origin, self.follows) / lr_at(
                self.active, self.base, start, self.follows)
        return lr_at(self.active, self.base, self.epoch - self.origin, self.follows)

    @property
    def momentum(self) -> float | None:
        """The cycled momentum of this epoch (cycle_momentum), else None."""
        return cycled_momentum(self.active, self.epoch)

    def step(self, loss: float) -> None:
        self.steps += 1
        explicit = self.case.schedule.explicit_epoch(self.steps)  # scheduler.step(epoch=...) sets the epoch
        self.epoch = self.epoch + 1 if explicit is None else explicit
        if self.plateau:
            self.plateau.step(float(loss))
        sch = self.case.schedule
        if sch.then is not None and self.epoch == sch.then.at_step:
            self._take_over(sch.then)
        if sch.restart and self.epoch == sch.rebuild_at:
            self.origin = self.epoch
            if self.plateau:
                self.plateau = Plateau(self.active, self.plateau.lr)

    def _take_over(self, then: ScheduleSpec) -> None:
        current = self.lr
        self.active = then
        self.plateau = Plateau(then, current) if then.name == "reduce_on_plateau" else None
        # Built with last_epoch = k, the new scheduler steps to epoch k+1 in its constructor: from now on it
        # is one epoch ahead of the steps (torch/optim/lr_scheduler.py:176-179, paddle/optimizer/lr.py:166).
        self.origin = -1
        if self.plateau is None and then.resume == "recursive":
            # Torch's constructor step keeps the lr it finds (_initial_mode: get_lr returns group["lr"]), and
            # each later step multiplies it by closed(e)/closed(e-1).
            self.anchor = (current, self.epoch + 1)
