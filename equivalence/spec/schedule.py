"""The [schedule] table: learning-rate schedules."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from .base import _doc, _type_name, type_hints

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case

SCHEDULES = ("step", "multi_step", "exponential", "cosine", "cosine_warm_restarts", "cyclic", "one_cycle",
             "linear_warmup", "linear", "polynomial", "lambda", "multiplicative", "reduce_on_plateau", "constant",
             "sequential", "chained")
# Schedules whose every framework step multiplies the previous lr by closed(e)/closed(e-1) in Torch
# (get_lr is written recursively): those can be chained (ChainedScheduler) or resumed from the lr another
# scheduler left (a second scheduler built with last_epoch).
MULTIPLICATIVE = ("step", "multi_step", "exponential", "constant", "linear", "multiplicative")
RESUMABLE = MULTIPLICATIVE + ("reduce_on_plateau",)
RESUME_FORMS = ("recursive", "closed_form")
REBUILD_FROM = ("state_dict", "last_epoch", "last_epoch_minus_one")
MOMENTUM_CYCLING = ("cyclic", "one_cycle")
EPOCH_ARGUMENTS = ("none", "completed", "loop_index")
SCHEDULE_MAPPINGS = ("parity", "defaults")
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
ANNEAL_STRATEGIES = ("cos", "linear")
LAMBDA_FUNCTIONS = ("constant", "exponential", "inverse_time", "inverse_sqrt")
PLATEAU_MODES = ("min", "max")
THRESHOLD_MODES = ("rel", "abs")
WARMUP_AFTER = ("constant", "cosine")


_REQUIRED = object()

# The parameters each schedule takes, with the neutral default (what the reference assumes when the case
# leaves the key out); _REQUIRED marks the ones a case must give. A key given to a schedule that does not
# take it is a SpecError, so a typo cannot silently fall back to a default.
SCHEDULE_PARAMETERS: dict[str, dict[str, object]] = {
    "step": {"step_size": _REQUIRED, "gamma": 0.1},
    "multi_step": {"milestones": _REQUIRED, "gamma": 0.1},
    "exponential": {"gamma": _REQUIRED},
    "cosine": {"t_max": _REQUIRED, "eta_min": 0.0},
    "cosine_warm_restarts": {"t_0": _REQUIRED, "t_mult": 1, "eta_min": 0.0},
    "cyclic": {"max_lr": _REQUIRED, "step_size_up": _REQUIRED, "step_size_down": None, "mode": "triangular",
               "gamma": 1.0, "cycle_momentum": False, "base_momentum": 0.8, "max_momentum": 0.9},
    "one_cycle": {"total_steps": _REQUIRED, "end_lr": None, "div_factor": 25.0, "pct_start": 0.3,
                  "anneal": "cos", "three_phase": False, "cycle_momentum": False, "base_momentum": 0.85,
                  "max_momentum": 0.95},
    "linear_warmup": {"warmup_steps": _REQUIRED, "start_lr": _REQUIRED, "end_lr": None, "after": "constant",
                      "t_max": None, "eta_min": 0.0},
    "linear": {"total_steps": _REQUIRED, "start_factor": 1.0 / 3, "end_factor": 1.0},
    "polynomial": {"total_steps": _REQUIRED, "end_lr": 0.0, "power": 1.0},
    "lambda": {"factors": None, "function": None, "gamma": None},
    "multiplicative": {"factors": None, "function": None, "gamma": None},
    "reduce_on_plateau": {"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4,
                          "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0, "eps": 1e-8,
                          "cooldown_tracks_best": True},
    "constant": {"factor": 1.0 / 3, "total_steps": 5},
    "sequential": {"schedules": _REQUIRED, "milestones": _REQUIRED},
    "chained": {"schedules": _REQUIRED},
}
# Keys every schedule takes: what happens to the scheduler mid-run.
COMMON_PARAMETERS = ("then", "rebuild_at", "rebuild_from")


def _for(*names: str) -> str:
    return f" ({', '.join(names)})"


def _sdoc(text: str, accepted: tuple | None = None) -> dict:
    return _doc(text if text.endswith(".") else text + ".", accepted)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str = field(metadata=_sdoc(
        "Learning-rate schedule; optimizer.lr is its base learning rate (the peak for one_cycle, the lower "
        "bound for cyclic). The learning rate of step t is the schedule at epoch t-1: both frameworks step "
        "the scheduler once in its constructor and once after every optimizer step.", SCHEDULES))
    mapping: str = field(default="parity", metadata=_sdoc(
        "parity: each backend sets every argument so its scheduler computes this schedule (or reports "
        "not-applicable); defaults: a direct port that passes the arguments the case gives under the "
        "framework's own names and leaves every other one at the framework's default.", SCHEDULE_MAPPINGS))
    step_size: int | None = field(default=None, metadata=_sdoc("Epochs between decays" + _for("step")))
    milestones: tuple[int, ...] | None = field(default=None, metadata=_sdoc(
        "Epochs at which the lr is multiplied by gamma; a repeated milestone decays twice" + _for("multi_step")))
    gamma: float | None = field(default=None, metadata=_sdoc(
        "Decay factor" + _for("step", "multi_step", "exponential") + "; exp_range factor" + _for("cyclic")
        + "; parameter of the named function" + _for("lambda", "multiplicative")))
    t_max: int | None = field(default=None, metadata=_sdoc(
        "Half period of the cosine" + _for("cosine", "linear_warmup with after = 'cosine'")))
    eta_min: float | None = field(default=None, metadata=_sdoc(
        "Lowest lr of the cosine" + _for("cosine", "cosine_warm_restarts", "linear_warmup")))
    t_0: int | None = field(default=None, metadata=_sdoc("Epochs to the first restart" + _for("cosine_warm_restarts")))
    t_mult: int | None = field(default=None, metadata=_sdoc(
        "Factor of the period after each restart" + _for("cosine_warm_restarts")))
    max_lr: float | None = field(default=None, metadata=_sdoc("Upper lr bound" + _for("cyclic")))
    step_size_up: int | None = field(default=None, metadata=_sdoc("Epochs of the rising half" + _for("cyclic")))
    step_size_down: int | None = field(default=None, metadata=_sdoc(
        "Epochs of the falling half; default step_size_up" + _for("cyclic")))
    mode: str | None = field(default=None, metadata=_sdoc(
        "cyclic: triangular, triangular2, exp_range; reduce_on_plateau: min, max", CYCLIC_MODES + PLATEAU_MODES))
    total_steps: int | None = field(default=None, metadata=_sdoc(
        "Length of the schedule in epochs" + _for("one_cycle", "linear", "polynomial")))
    end_lr: float | None = field(default=None, metadata=_sdoc(
        "Final lr" + _for("one_cycle", "polynomial") + "; lr at the end of the warm-up, default optimizer.lr"
        + _for("linear_warmup")))
    div_factor: float | None = field(default=None, metadata=_sdoc(
        "Initial lr = optimizer.lr / div_factor" + _for("one_cycle")))
    pct_start: float | None = field(default=None, metadata=_sdoc("Fraction of the rising phase" + _for("one_cycle")))
    anneal: str | None = field(default=None, metadata=_sdoc("Annealing curve" + _for("one_cycle"), ANNEAL_STRATEGIES))
    three_phase: bool | None = field(default=None, metadata=_sdoc(
        "Rise, fall back to the initial lr, then anneal to end_lr" + _for("one_cycle")))
    warmup_steps: int | None = field(default=None, metadata=_sdoc("Warm-up epochs" + _for("linear_warmup")))
    start_lr: float | None = field(default=None, metadata=_sdoc("lr at epoch 0" + _for("linear_warmup")))
    after: str | None = field(default=None, metadata=_sdoc(
        "What follows the warm-up: optimizer.lr, or a cosine from optimizer.lr (t_max, eta_min)"
        + _for("linear_warmup"), WARMUP_AFTER))
    start_factor: float | None = field(default=None, metadata=_sdoc("Factor of the lr at epoch 0" + _for("linear")))
    end_factor: float | None = field(default=None, metadata=_sdoc("Factor from total_steps on" + _for("linear")))
    power: float | None = field(default=None, metadata=_sdoc("Exponent" + _for("polynomial")))
    factors: tuple[float, ...] | None = field(default=None, metadata=_sdoc(
        "Factor per epoch, indexed from epoch 0 (lambda: lr = optimizer.lr * f(epoch)) or epoch 1 "
        "(multiplicative: lr = previous lr * f(epoch)); the last value repeats past the end. Either factors "
        "or function" + _for("lambda", "multiplicative")))
    function: str | None = field(default=None, metadata=_sdoc(
        "A named f(epoch): constant = gamma, exponential = gamma**epoch, inverse_time = 1/(1 + gamma*epoch), "
        "inverse_sqrt = 1/sqrt(1 + epoch). Case files hold data, never code" + _for("lambda", "multiplicative"),
        LAMBDA_FUNCTIONS))
    factor: float | None = field(default=None, metadata=_sdoc(
        "lr multiplier on a plateau, < 1" + _for("reduce_on_plateau") + "; lr multiplier before total_steps, "
        "0 < factor <= 1" + _for("constant")))
    patience: int | None = field(default=None, metadata=_sdoc(
        "Bad epochs tolerated before a reduction" + _for("reduce_on_plateau")))
    threshold: float | None = field(default=None, metadata=_sdoc(
        "Least improvement that counts" + _for("reduce_on_plateau")))
    threshold_mode: str | None = field(default=None, metadata=_sdoc(
        "rel: better than best*(1 -/+ threshold); abs: best -/+ threshold" + _for("reduce_on_plateau"),
        THRESHOLD_MODES))
    cooldown: int | None = field(default=None, metadata=_sdoc(
        "Epochs after a reduction before bad epochs count again" + _for("reduce_on_plateau")))
    min_lr: float | None = field(default=None, metadata=_sdoc("Lower bound of the lr" + _for("reduce_on_plateau")))
    eps: float | None = field(default=None, metadata=_sdoc(
        "A reduction smaller than eps is skipped" + _for("reduce_on_plateau")))
    cooldown_tracks_best: bool | None = field(default=None, metadata=_sdoc(
        "Reference flavour: true, the best metric keeps being tracked during the cooldown (Torch); false, "
        "the metric is ignored during the cooldown (Paddle)" + _for("reduce_on_plateau")))
    cycle_momentum: bool | None = field(default=None, metadata=_sdoc(
        "Cycle the optimizer's momentum (SGD momentum, Adam beta1) inversely to the lr between base_momentum "
        "and max_momentum; recorded as hyper.momentum / hyper.beta1 per step. Torch only; its default is true, "
        "the neutral default false" + _for("cyclic", "one_cycle")))
    base_momentum: float | None = field(default=None, metadata=_sdoc(
        "Momentum at the lr peak" + _for("cyclic", "one_cycle")))
    max_momentum: float | None = field(default=None, metadata=_sdoc(
        "Momentum at the lr trough, and at epoch 0" + _for("cyclic", "one_cycle")))
    schedules: tuple[ScheduleSpec, ...] | None = field(default=None, metadata=_sdoc(
        "The schedules composed, each a table like [schedule] on optimizer.lr: sequential runs schedules[i] "
        "from milestones[i-1] on (epoch counted from the milestone; Torch SequentialLR), chained multiplies "
        "their factors (Torch ChainedScheduler; multiplicative schedules only: " + ", ".join(MULTIPLICATIVE)
        + ")" + _for("sequential", "chained")))
    then: ScheduleSpec | None = field(default=None, metadata=_sdoc(
        "A second scheduler built on the same optimizer after step then.at_step (after the first one's step), "
        "with last_epoch = the first one's last_epoch (two ReduceLROnPlateau: a fresh one on the current lr); "
        "it alone is stepped from then on. One of: " + ", ".join(RESUMABLE)))
    at_step: int | None = field(default=None, metadata=_sdoc(
        "In [schedule.then]: the step after which the second scheduler takes over, 1 <= at_step < steps"))
    resume: str | None = field(default=None, metadata=_sdoc(
        "In [schedule.then], reference flavour of a scheduler built with last_epoch = k: recursive, it keeps the "
        "lr the first scheduler left and multiplies it by closed(e)/closed(e-1) at each later epoch (Torch: its "
        "constructor step keeps group['lr'], get_lr multiplies the current lr); closed_form, its closed form at "
        "epoch k+1, k+2, ... from optimizer.lr (Paddle: get_lr from base_lr)",
        RESUME_FORMS))
    rebuild_at: int | None = field(default=None, metadata=_sdoc(
        "Resume: after this step (and its scheduler step) the optimizer and the scheduler are rebuilt, as a "
        "training script restarted from a checkpoint does; the lr and the optimizer state must go on as "
        "before. Route optimizer, without regularization, clip, lr_multipliers, loss_scaling or ema"))
    rebuild_from: str | None = field(default=None, metadata=_sdoc(
        "How the scheduler is rebuilt: state_dict (a fresh scheduler loads the old one's state_dict), "
        "last_epoch (built with last_epoch = the old one's last_epoch), last_epoch_minus_one (with "
        "last_epoch - 1). The optimizer always loads the old optimizer's state_dict", REBUILD_FROM))
    epoch_argument: str = field(default="none", metadata=_doc(
        "How the training loop steps the scheduler after each optimizer step: none, scheduler.step(); completed, "
        "step(epoch=t) after step t (the same epochs); loop_index, step(epoch=t-1), the 0-based index of a "
        "`for epoch in range(n)` loop, which sets epoch 0 twice and lags one step behind. Not for "
        "reduce_on_plateau.", EPOCH_ARGUMENTS))
    shift: int = field(default=0, metadata={"internal": True})  # the schedule-shift perturbation
    restart: bool = field(default=False, metadata={"internal": True})  # the schedule-restart perturbation

    def explicit_epoch(self, step: int) -> int | None:
        """The epoch passed to scheduler.step() after optimizer step ``step`` (from 1); None: no argument."""
        return {"none": None, "completed": step, "loop_index": step - 1}[self.epoch_argument]

    def factor_at(self, epoch: int) -> float:
        """f(epoch) of the lambda and multiplicative schedules: a listed factor or a named function."""
        if self.factors is not None:
            return self.factors[min(epoch, len(self.factors) - 1)]
        gamma = self.gamma
        if self.function == "constant":
            return gamma
        if self.function == "exponential":
            return gamma ** epoch
        if self.function == "inverse_time":
            return 1.0 / (1.0 + gamma * epoch)
        return 1.0 / math.sqrt(1.0 + epoch)

    def given(self, key: str) -> bool:
        return getattr(self, key) is not None

    def get(self, key: str):
        """The value of a parameter: the case's, or the neutral default of this schedule."""
        value = getattr(self, key)
        if value is not None:
            return value
        default = SCHEDULE_PARAMETERS[self.name].get(key)
        return None if default is _REQUIRED else default


def _validate_schedule(case: Case, need) -> None:
    sch = case.schedule
    _validate_one(case, sch, need, "schedule")
    if sch.then is not None:
        then = sch.then
        need(then.name in RESUMABLE, "schedule.then.name", f"{then.name!r} cannot take over from another "
             "scheduler here", ", ".join(RESUMABLE))
        need(then.at_step is not None and 1 <= then.at_step < case.steps, "schedule.then.at_step",
             f"{then.at_step!r} is not a step before the last", f"1 <= at_step < {case.steps}")
        need(then.name == "reduce_on_plateau" or then.resume is not None, "schedule.then.resume",
             "say whose resume the reference follows", ", ".join(RESUME_FORMS))
        need(sch.name in RESUMABLE, "schedule.name", f"{sch.name!r} followed by a second scheduler",
             ", ".join(RESUMABLE))
        _validate_one(case, then, need, "schedule.then")
    if sch.rebuild_at is not None or sch.rebuild_from is not None:
        need(sch.rebuild_at is not None and 1 <= sch.rebuild_at < case.steps, "schedule.rebuild_at",
             f"{sch.rebuild_at!r} is not a step before the last", f"1 <= rebuild_at < {case.steps}")
        need(sch.rebuild_from is not None, "schedule.rebuild_from", "missing", ", ".join(REBUILD_FROM))
        need(sch.then is None, "schedule.then", "a rebuild and a second scheduler together", "one of them")
        for key in ("regularization", "clip", "loss_scaling", "ema"):
            need(getattr(case, key) is None, key, "does not go with schedule.rebuild_at", "no [" + key + "]")
        need(not case.lr_multipliers, "lr_multipliers", "does not go with schedule.rebuild_at", "none")
        need(case.selected_routes == ("optimizer",), "routes", "a rebuild runs the optimizer route only",
             "optimizer")
    if sch.name in ("sequential", "chained"):
        for i, sub in enumerate(sch.schedules):
            key = f"schedule.schedules[{i}]"
            need(sub.name not in ("sequential", "chained", "reduce_on_plateau"), f"{key}.name",
                 f"{sub.name!r} cannot be composed here", "a schedule other than sequential, chained, "
                 "reduce_on_plateau")
            need(sch.name != "chained" or sub.name in MULTIPLICATIVE, f"{key}.name",
                 f"{sub.name!r} is not multiplicative; chaining it is not a product", ", ".join(MULTIPLICATIVE))
            _validate_one(case, sub, need, key)
        if sch.name == "sequential":
            m = sch.milestones
            need(len(m) == len(sch.schedules) - 1 and list(m) == sorted(set(m)), "schedule.milestones",
                 f"{list(m)} for {len(sch.schedules)} schedules", "increasing epochs, one fewer than schedules")


def _validate_one(case: Case, sch: ScheduleSpec, need, prefix: str) -> None:
    """One [schedule] table, or one nested in it (schedules[i], then)."""
    taken = SCHEDULE_PARAMETERS[sch.name]
    public = [f.name for f in dataclasses.fields(ScheduleSpec) if not f.metadata.get("internal")]
    for key in public:
        if key in ("name", "mapping", "epoch_argument") or not sch.given(key):
            continue
        if key in COMMON_PARAMETERS:
            need(prefix == "schedule", f"{prefix}.{key}", "applies to the top [schedule] table only", "[schedule]")
            continue
        if key in ("at_step", "resume"):
            need(prefix == "schedule.then", f"{prefix}.{key}", "applies in [schedule.then] only", "[schedule.then]")
            continue
        need(key in taken, f"{prefix}.{key}", f"does not apply to schedule {sch.name!r}",
             ", ".join(taken) or "no parameters")
    need(sch.epoch_argument == "none" or (sch.name not in ("reduce_on_plateau", "sequential", "chained")
                                          and sch.then is None and sch.rebuild_at is None),
         f"{prefix}.epoch_argument", "applies to one plain schedule (not reduce_on_plateau, a composition, a "
         "second scheduler or a rebuild)", "none")
    for key, default in taken.items():
        need(default is not _REQUIRED or sch.given(key), f"{prefix}.{key}",
             f"missing: schedule {sch.name!r} needs it", _type_name(type_hints(ScheduleSpec)[key]))

    def positive(key, value, strict=True):
        ok = value is None or (value > 0 if strict else value >= 0)
        need(ok, f"{prefix}.{key}", f"{value} is out of range", "a number > 0" if strict else "a number >= 0")

    for key in ("step_size", "t_max", "t_0", "t_mult", "step_size_up", "step_size_down", "total_steps",
                "warmup_steps", "max_lr", "div_factor", "power", "start_factor", "factor"):
        positive(key, getattr(sch, key))
    for key in ("eta_min", "end_lr", "start_lr", "end_factor", "threshold", "min_lr", "eps", "patience", "cooldown",
                "base_momentum", "max_momentum"):
        positive(key, getattr(sch, key), strict=False)
    positive("gamma", sch.gamma)
    if sch.milestones is not None and sch.name != "sequential":
        need(len(sch.milestones) > 0 and all(m >= 1 for m in sch.milestones), f"{prefix}.milestones",
             f"{list(sch.milestones)} is not a list of epochs", "integers >= 1")
    modes = PLATEAU_MODES if sch.name == "reduce_on_plateau" else CYCLIC_MODES
    need(sch.mode is None or sch.mode in modes, f"{prefix}.mode", f"{sch.mode!r} is not a mode of {sch.name}",
         ", ".join(modes))
    if sch.get("cycle_momentum"):
        need(prefix == "schedule", f"{prefix}.cycle_momentum", "cycles momentum only as the top schedule",
             "[schedule]")
        need(sch.get("base_momentum") <= sch.get("max_momentum") < 1, f"{prefix}.max_momentum",
             f"base {sch.get('base_momentum')}, max {sch.get('max_momentum')}", "base_momentum <= max_momentum < 1")
        from .optimizer import _optimizer_registry
        info = _optimizer_registry()[case.optimizer.name]
        need("momentum" in info.hypers or "beta1" in info.hypers, f"{prefix}.cycle_momentum",
             f"optimizer {case.optimizer.name!r} has no momentum or beta1 to cycle", "momentum, adam-like optimizers")
    if sch.name == "one_cycle":
        pct, three = sch.get("pct_start"), sch.get("three_phase")
        need(0 < pct < (0.5 if three else 1), f"{prefix}.pct_start", f"{pct} out of range",
             "0 < pct_start < 0.5 with three_phase, < 1 otherwise")
        need(case.steps <= sch.total_steps, "steps", f"{case.steps} steps run past {prefix}.total_steps = "
             f"{sch.total_steps}; both frameworks raise there", f"steps <= {sch.total_steps}")
        need(sch.given("end_lr") or (sch.mapping == "defaults" and case.reference.follows is not None),
             f"{prefix}.end_lr", "missing: the parity mapping needs it, and a defaults port leaves it to each "
             "framework (Paddle end_learning_rate 1e-4, Torch initial_lr / final_div_factor 1e4), so "
             "reference.follows must say whose", "end_lr, or mapping = 'defaults' with reference.follows")
    if sch.name == "linear_warmup":
        cosine = sch.get("after") == "cosine"
        need(cosine == sch.given("t_max"), f"{prefix}.t_max",
             "a cosine after the warm-up needs t_max, a constant takes none", "t_max with after = 'cosine' only")
    if sch.name in ("lambda", "multiplicative"):
        need(sch.given("factors") != sch.given("function"), f"{prefix}.factors",
             "give either a list of factors or a named function", "factors or function")
        if sch.factors is not None:
            need(len(sch.factors) > 0, f"{prefix}.factors", "is empty", "at least one factor")
            need(not sch.given("gamma"), f"{prefix}.gamma", "a list of factors takes no gamma", "factors alone")
        if sch.function is not None:
            need((sch.function == "inverse_sqrt") != sch.given("gamma"), f"{prefix}.gamma",
                 f"function {sch.function!r} " + ("takes no gamma" if sch.given("gamma") else "needs gamma"),
                 "gamma with constant, exponential, inverse_time")
    if sch.name == "reduce_on_plateau" and sch.factor is not None:
        need(sch.factor < 1, f"{prefix}.factor", f"{sch.factor} does not reduce", "0 < factor < 1")
    if sch.name == "constant":
        need(0 < sch.get("factor") <= 1, f"{prefix}.factor", f"{sch.get('factor')} out of range", "0 < factor <= 1")
