"""The [schedule] table: learning-rate schedules."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from .base import _doc, _type_name

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case

SCHEDULES = ("step", "multi_step", "exponential", "cosine", "cosine_warm_restarts", "cyclic", "one_cycle",
             "linear_warmup", "linear", "polynomial", "lambda", "multiplicative", "reduce_on_plateau")
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
               "gamma": 1.0},
    "one_cycle": {"total_steps": _REQUIRED, "end_lr": _REQUIRED, "div_factor": 25.0, "pct_start": 0.3,
                  "anneal": "cos", "three_phase": False},
    "linear_warmup": {"warmup_steps": _REQUIRED, "start_lr": _REQUIRED, "end_lr": None, "after": "constant",
                      "t_max": None, "eta_min": 0.0},
    "linear": {"total_steps": _REQUIRED, "start_factor": 1.0 / 3, "end_factor": 1.0},
    "polynomial": {"total_steps": _REQUIRED, "end_lr": 0.0, "power": 1.0},
    "lambda": {"factors": None, "function": None, "gamma": None},
    "multiplicative": {"factors": None, "function": None, "gamma": None},
    "reduce_on_plateau": {"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4,
                          "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0, "eps": 1e-8,
                          "cooldown_tracks_best": True},
}


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
        "lr multiplier on a plateau, < 1" + _for("reduce_on_plateau")))
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
    shift: int = field(default=0, metadata={"internal": True})  # the schedule-shift perturbation

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
    taken = SCHEDULE_PARAMETERS[sch.name]
    public = [f.name for f in dataclasses.fields(ScheduleSpec) if not f.metadata.get("internal")]
    for key in public:
        if key in ("name", "mapping") or not sch.given(key):
            continue
        need(key in taken, f"schedule.{key}", f"does not apply to schedule {sch.name!r}",
             ", ".join(taken) or "no parameters")
    for key, default in taken.items():
        need(default is not _REQUIRED or sch.given(key), f"schedule.{key}",
             f"missing: schedule {sch.name!r} needs it", _type_name(typing.get_type_hints(ScheduleSpec)[key]))

    def positive(key, value, strict=True):
        ok = value is None or (value > 0 if strict else value >= 0)
        need(ok, f"schedule.{key}", f"{value} is out of range", "a number > 0" if strict else "a number >= 0")

    for key in ("step_size", "t_max", "t_0", "t_mult", "step_size_up", "step_size_down", "total_steps",
                "warmup_steps", "max_lr", "div_factor", "power", "start_factor", "factor"):
        positive(key, getattr(sch, key))
    for key in ("eta_min", "end_lr", "start_lr", "end_factor", "threshold", "min_lr", "eps", "patience", "cooldown"):
        positive(key, getattr(sch, key), strict=False)
    positive("gamma", sch.gamma)
    if sch.milestones is not None:
        need(len(sch.milestones) > 0 and all(m >= 1 for m in sch.milestones), "schedule.milestones",
             f"{list(sch.milestones)} is not a list of epochs", "integers >= 1")
    modes = PLATEAU_MODES if sch.name == "reduce_on_plateau" else CYCLIC_MODES
    need(sch.mode is None or sch.mode in modes, "schedule.mode", f"{sch.mode!r} is not a mode of {sch.name}",
         ", ".join(modes))
    if sch.name == "one_cycle":
        pct, three = sch.get("pct_start"), sch.get("three_phase")
        need(0 < pct < (0.5 if three else 1), "schedule.pct_start", f"{pct} out of range",
             "0 < pct_start < 0.5 with three_phase, < 1 otherwise")
        need(case.steps <= sch.total_steps, "steps", f"{case.steps} steps run past schedule.total_steps = "
             f"{sch.total_steps}; both frameworks raise there", f"steps <= {sch.total_steps}")
    if sch.name == "linear_warmup":
        cosine = sch.get("after") == "cosine"
        need(cosine == sch.given("t_max"), "schedule.t_max",
             "a cosine after the warm-up needs t_max, a constant takes none", "t_max with after = 'cosine' only")
    if sch.name in ("lambda", "multiplicative"):
        need(sch.given("factors") != sch.given("function"), "schedule.factors",
             "give either a list of factors or a named function", "factors or function")
        if sch.factors is not None:
            need(len(sch.factors) > 0, "schedule.factors", "is empty", "at least one factor")
            need(not sch.given("gamma"), "schedule.gamma", "a list of factors takes no gamma", "factors alone")
        if sch.function is not None:
            need((sch.function == "inverse_sqrt") != sch.given("gamma"), "schedule.gamma",
                 f"function {sch.function!r} " + ("takes no gamma" if sch.given("gamma") else "needs gamma"),
                 "gamma with constant, exponential, inverse_time")
    if sch.name == "reduce_on_plateau" and sch.factor is not None:
        need(sch.factor < 1, "schedule.factor", f"{sch.factor} does not reduce", "0 < factor < 1")
