"""The [loss_scaling] and [ema] tables (dynamic loss scaling, EMA of weights), and the step extensions' checks."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from .base import _doc
from .routes import EMA_ROUTES, PORT_ROUTE, TRAINING_ROUTES
from .schedule import _validate_schedule

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case

INJECTED_VALUES = ("inf", "nan")
UNSCALE_FORMS = ("exact", "float32_inverse")
PADDLE_SCALERS = ("GradScaler", "AmpScaler")
EMA_INITS = ("first_update", "initial_params", "zero")
EMA_WARMUPS = ("none", "thres_steps")


@dataclass(frozen=True)
class Injection:
    step: int = field(metadata=_doc("Step (from 1) whose loss is multiplied by the value before scaling."))
    value: str = field(metadata=_doc("The factor: every gradient of that step becomes inf or NaN.", INJECTED_VALUES))


@dataclass(frozen=True)
class LossScalingSpec:
    init_scale: float = field(default=2.0 ** 16, metadata=_doc(
        "Initial loss scale (Torch init_scale, Paddle init_loss_scaling); both GradScalers default to 2**16."))
    growth_factor: float = field(default=2.0, metadata=_doc(
        "Scale multiplier after growth_interval finite steps in a row (Paddle incr_ratio), > 1."))
    backoff_factor: float = field(default=0.5, metadata=_doc(
        "Scale multiplier on an overflow (Paddle decr_ratio), 0 < x < 1."))
    growth_interval: int = field(default=2000, metadata=_doc(
        "Finite steps in a row before the scale grows (Paddle incr_every_n_steps), >= 1."))
    backoff_interval: int = field(default=1, metadata=_doc(
        "Overflowing steps in a row before the scale backs off (Paddle decr_every_n_nan_or_inf; Torch backs "
        "off on every overflow), >= 1."))
    inject: tuple[Injection, ...] = field(default=(), metadata=_doc(
        "Overflows to inject, e.g. [{step = 3, value = 'inf'}]: the step is skipped and the scale backs off."))
    paddle_class: str = field(default="GradScaler", metadata=_doc(
        "Paddle's scaler: GradScaler (scale, unscale_, step, update) or the legacy AmpScaler (scale, then "
        "minimize(optimizer, scaled_loss), which unscales, skips or steps, and updates). Both take every policy "
        "argument the case gives; their own defaults differ (AmpScaler 2**15 and 1000 steps, "
        "paddle/amp/grad_scaler.py:114-117; GradScaler 2**16 and 2000, :712-715). Torch has one GradScaler.",
        PADDLE_SCALERS))
    # The port route: a GradScaler that disables itself (Paddle's on a CPU place) is used as it is, not refused.
    keep_disabled: bool = field(default=False, metadata={"internal": True})
    unscale: str = field(default="exact", metadata=_doc(
        "Reference flavour of the unscaling: exact (the true gradient); float32_inverse: the scaled gradient "
        "times 1/scale rounded to float32, as Torch's GradScaler.unscale_ does.", UNSCALE_FORMS))

    def injected(self, step: int) -> float:
        """The factor the loss of this step is multiplied by: 1, inf or nan."""
        for item in self.inject:
            if item.step == step:
                return float(item.value)
        return 1.0


@dataclass(frozen=True)
class EmaSpec:
    decay: float = field(metadata=_doc("beta in S_t = beta*S_(t-1) + (1-beta)*W_t, 0 < beta < 1."))
    init: str = field(default="first_update", metadata=_doc(
        "S before the first update: first_update, S_1 = W_1 (Torch AveragedModel copies the parameters on its "
        "first update); initial_params, S_0 = W_0; zero, S_0 = 0 (Paddle's documented EMA).", EMA_INITS))
    bias_correction: bool = field(default=False, metadata=_doc(
        "Record S_t / (1 - beta_t**t) (Paddle's documented apply(); needs init = 'zero')."))
    warmup: str = field(default="none", metadata=_doc(
        "none: beta_t = decay; thres_steps: beta_t = min(decay, (1+t)/(10+t)) with t the step number, Paddle's "
        "documented decay scheduling.", EMA_WARMUPS))

    def decay_at(self, step: int) -> float:
        """beta_t of the update after step ``step`` (from 1)."""
        if self.warmup == "thres_steps":
            return min(self.decay, (1.0 + step) / (10.0 + step))
        return self.decay


def _validate_step_extensions(case: Case, need) -> None:
    """[schedule], [loss_scaling], [ema] and the routes that go with them."""
    ema_routes = [r for r in case.selected_routes if r in EMA_ROUTES]
    need(not ema_routes or case.ema is not None, "routes", f"{ema_routes} record an EMA and need an [ema] table",
         "[ema], or routes among " + ", ".join(TRAINING_ROUTES))
    if case.schedule is not None:
        _validate_schedule(case, need)
    if case.loss_scaling is not None:
        ls = case.loss_scaling
        need(set(case.selected_routes) <= {"optimizer", PORT_ROUTE}, "routes",
             f"loss scaling runs through the optimizer route only, got {list(case.selected_routes)}",
             f"routes = ['optimizer'] or ['optimizer', '{PORT_ROUTE}']")
        need(ls.init_scale > 0, "loss_scaling.init_scale", f"{ls.init_scale} <= 0", "a number > 0")
        need(ls.growth_factor > 1, "loss_scaling.growth_factor", f"{ls.growth_factor} <= 1", "a number > 1")
        need(0 < ls.backoff_factor < 1, "loss_scaling.backoff_factor", f"{ls.backoff_factor} out of range",
             "0 < backoff_factor < 1")
        need(ls.growth_interval >= 1, "loss_scaling.growth_interval", f"{ls.growth_interval} < 1", "an integer >= 1")
        need(ls.backoff_interval >= 1, "loss_scaling.backoff_interval", f"{ls.backoff_interval} < 1",
             "an integer >= 1")
        seen = set()
        for i, item in enumerate(ls.inject):
            need(1 <= item.step <= case.steps and item.step not in seen, f"loss_scaling.inject[{i}].step",
                 f"{item.step} is not a step of this case or is injected twice",
                 f"a distinct step from 1 to steps = {case.steps}")
            seen.add(item.step)
    if case.ema is not None:
        e = case.ema
        need(0 < e.decay < 1, "ema.decay", f"{e.decay} out of range", "0 < decay < 1")
        need(not e.bias_correction or e.init == "zero", "ema.bias_correction",
             f"dividing by 1 - decay**t corrects a zero start, not init = {e.init!r}", "init = 'zero'")
        need(set(case.selected_routes) <= set(EMA_ROUTES), "routes",
             f"an [ema] case records the EMA on its EMA routes, got {list(case.selected_routes)}",
             ", ".join(EMA_ROUTES))
        need(case.regularization is None, "regularization", "an [ema] case takes no regularization",
             "no [regularization] table")
