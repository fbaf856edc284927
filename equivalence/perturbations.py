"""Sensitivity perturbations: wrong mappings of a case that the case's tolerance must tell apart from the
reference, proof that its "equal" verdicts can fail.

Each perturbation is one registration: its name (the check ``perturbed/<name>`` and the value of
``expect.sensitivity``), a one-line doc (the check's reason), when a case gets it without asking
(``default``), and how it changes the case the reference runs (the decorated function; ``None`` when it does
not apply to the case). Registration order is the order of the planned checks. A new layer or table registers
its own here, under its family, and lists the name in ``PERTURBATIONS`` of equivalence/spec/expectations.py
(the accepted values of ``expect.sensitivity``; a test checks that the two agree).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from .reference.optimizers import resolve
from .spec.layers import walk
from .spec import DEFAULT_NORM_EPSILON, DEFAULT_NORM_MOMENTUM, Case, SpecError

LR_FACTOR = 1 + 1e-3
CLIP_FACTOR = 1.01
EPSILON_FACTOR = 10
EMA_DECAY_SHIFT = 0.01  # of (1 - decay): 0.9 -> 0.901
LOSS_OPTION_SHIFT = 0.01  # a loss option (label_smoothing, beta, delta, margin, a class weight) x 1.01
SATURATING_SCALE = 100  # bce probabilities sigmoid(scale * z) at this scale are mostly exactly 0 or 1


@dataclass(frozen=True)
class Perturbation:
    name: str
    doc: str
    apply: Callable[[Case], Case | None]  # the case as the wrong mapping runs it; None: does not apply
    default: Callable[[Case], bool]  # planned for this case without being asked for in expect.sensitivity


REGISTRY: dict[str, Perturbation] = {}


def register(name: str, doc: str, default: Callable[[Case], bool] = lambda case: False):
    """Decorator: register the function as the perturbation ``name``."""
    def add(apply: Callable[[Case], Case | None]):
        if name in REGISTRY:
            raise ValueError(f"perturbation {name!r} is registered twice")
        REGISTRY[name] = Perturbation(name, doc, apply, default)
        return apply
    return add


def perturbations(case: Case) -> list[str]:
    """The perturbations planned for the case: every default one, then those expect.sensitivity adds."""
    names = [p.name for p in REGISTRY.values() if p.default(case)]
    names += [p for p in case.expect.sensitivity if p not in names]
    return names


def perturb(case: Case, name: str) -> Case:
    """The case as a wrong mapping would run it. Each must change the trajectory."""
    entry = REGISTRY.get(name)
    perturbed = entry.apply(case) if entry is not None else None
    if perturbed is None:
        raise SpecError(case.path, "expect.sensitivity", f"perturbation {name!r} does not apply to this case",
                        APPLICABILITY)
    return perturbed


# A perturbation counts as detected only where it changes a quantity that carries the training state: the
# parameters, updates, gradients, loss, optimizer and scaler state, EMA, a probe's outputs and statistics.
# The learning rate and hyper-parameters are configuration read back: a strict tolerance on them would tell
# a wrong mapping "apart" while every per-quantity tolerance of the state was loose enough to hide it.
BOOKKEEPING = ("lr", "param_lr", "hyper.*")


def carries_state(quantity: str) -> bool:
    return not (quantity.startswith("hyper.") or quantity in BOOKKEEPING)


def detected(comparison) -> bool:
    """Whether a perturbed reference differs from the reference on a quantity that carries the training state
    (or in structure: step count, names, shapes): an element outside its bound, or, under a derived float32
    bound (tolerance.py), the RMS error over a tensor above its limit."""
    return bool(comparison.structural) or any(over(d) and carries_state(d.quantity) for d in comparison.details)


def over(detail) -> bool:
    """An entry beyond its bound: an element outside it, or the RMS error over its limit."""
    rms_limit = getattr(detail, "allowed_rms", None)
    return bool(detail.mismatches) or (rms_limit is not None and detail.rms_error > rms_limit)


# Where each perturbation applies, for the error above; a new perturbation adds its clause.
APPLICABILITY = (
    "lr and no-regularization (training), ignore-overrides (with overrides), dropout-p and "
    "dropout-training (dropout), norm-epsilon, norm-momentum and running-var-bias (normalization), "
    "ignore-lr-multipliers (with lr_multipliers), clip-ignored, clip-threshold, "
    "clip-order-swapped (with [clip]), clip-unclamped and clip-kind-swapped (norm clips), "
    "schedule-shift ([schedule]), schedule-restart (schedule.rebuild_at), cycle-momentum-ignored "
    "(schedule.cycle_momentum), loss-scale-growth, loss-scale-backoff, loss-scale-interval "
    "([loss_scaling]), ema-decay ([ema]), decay-exclude-ignored / lr-ratio-ignored (with "
    "optimizer.decay_exclude / lr_ratio), history-size and line-search-dropped (L-BFGS with history_size > 1 / "
    "line_search = 'strong_wolfe'), maximize-ignored, decay-coupled (with optimizer.maximize / "
    "decoupled_weight_decay), loss-input-scale, loss-target-scale (bce) and loss-option (an "
    "option the case sets) ([loss_probe]), autocast-flavour (with autocast), gradient-reset-swapped and "
    "frozen-ignored ([gradients] with unused_after / frozen), clip-exclude-ignored (with clip.exclude), layer-epsilon, "
    "layer-momentum, gelu-approximation, pool-divisor, leaky-slope (a layer-list model with such a layer), "
    "init-other-framework (model.init = framework_default)")


# ------------------------------------------------------------------------------------------ dropout probes

def _moved_p(p: float) -> float:
    return p + 0.01 * (1 - p) if p < 1 else p - 0.01


# With training off, p changes nothing but a downscale_in_infer eval; the wrong mapping to catch there is a
# training flag that is ignored.
@register("dropout-p", "drop probability moved by 1% of (1-p) (down by 0.01 from p = 1)",
          default=lambda case: case.kind == "dropout" and case.dropout.training)
def _dropout_p(case: Case) -> Case | None:
    if case.dropout is None:
        return None
    return replace(case, dropout=replace(case.dropout, p=_moved_p(case.dropout.p)))


@register("dropout-training", "training flag flipped",
          default=lambda case: case.kind == "dropout" and not case.dropout.training)
def _dropout_training(case: Case) -> Case | None:
    if case.dropout is None:
        return None
    return replace(case, dropout=replace(case.dropout, training=not case.dropout.training))


# ------------------------------------------------------------------------------------ normalization probes

def _updates_running_stats(case: Case) -> bool:
    n = case.normalization
    return case.kind == "normalization" and n.tracks_running_stats() and n.train_statistics == "batch"


@register("norm-epsilon", f"epsilon x {EPSILON_FACTOR}", default=lambda case: case.kind == "normalization")
def _norm_epsilon(case: Case) -> Case | None:
    n = case.normalization
    if n is None:
        return None
    eps = (DEFAULT_NORM_EPSILON if n.epsilon is None else n.epsilon) * EPSILON_FACTOR
    return replace(case, normalization=replace(n, epsilon=eps))


@register("norm-momentum", "momentum (weight of the new batch statistic) moved by 1% of (1-momentum)",
          default=_updates_running_stats)
def _norm_momentum(case: Case) -> Case | None:
    n = case.normalization
    if n is None or not n.tracks_running_stats():
        return None
    m = DEFAULT_NORM_MOMENTUM if n.momentum is None else n.momentum
    return replace(case, normalization=replace(n, momentum=_moved_p(m)))


def _several_values_per_channel(case: Case) -> bool:
    """The two variance estimators differ only with more than one value per channel (one gives 0 for both)."""
    n = case.normalization
    return _updates_running_stats(case) and math.prod(n.shape[i] for i in n.normalized_axes()) > 1


@register("running-var-bias", "running variance fed the other estimator (biased <-> unbiased)",
          default=lambda case: _several_values_per_channel(case) or _has_layer(case, "batch_norm"))
def _running_var_bias(case: Case) -> Case | None:
    n = case.normalization
    if (n is None or not n.tracks_running_stats()) and not _has_layer(case, "batch_norm"):
        return None
    flipped = "biased" if case.reference.batch_norm_running_var == "unbiased" else "unbiased"
    return replace(case, reference=replace(case.reference, batch_norm_running_var=flipped))


# ------------------------------------------------------------------------------------------- loss probes
# The input scale, unless saturated probabilities hide it (then the targets), and an option the case sets.

def _saturated_bce(case: Case) -> bool:
    lp = case.loss_probe
    return lp.name == "bce" and lp.scale >= SATURATING_SCALE


def _moved_option(lp) -> dict | None:
    """The first option the case sets, moved: label_smoothing, beta / delta / margin x (1 + LOSS_OPTION_SHIFT),
    or class weights / pos_weight w_k x (1 + LOSS_OPTION_SHIFT * (k + 1)), unequal factors because a mean
    divided by the summed weights cancels a common one; None when the case sets none of them."""
    f = 1 + LOSS_OPTION_SHIFT
    if lp.label_smoothing:
        return {"label_smoothing": lp.label_smoothing * f}
    for key in ("beta", "delta", "margin"):
        if getattr(lp, key):  # a 0 (smooth_l1's beta = 0, the L1 loss) does not move by a factor
            return {key: getattr(lp, key) * f}
    for key in ("weight", "pos_weight"):
        if getattr(lp, key) is not None:
            return {key: tuple(v * (1 + LOSS_OPTION_SHIFT * (k + 1)) for k, v in enumerate(getattr(lp, key)))}
    return None


@register("loss-input-scale", f"loss input logits x {LR_FACTOR:g} (the scale of the drawn input)",
          default=lambda case: case.kind == "loss" and not _saturated_bce(case))
def _loss_input_scale(case: Case) -> Case | None:
    lp = case.loss_probe
    if lp is None:
        return None
    return replace(case, loss_probe=replace(lp, scale=lp.scale * LR_FACTOR))


@register("loss-target-scale", f"bce targets x {2 - LR_FACTOR:g} (saturated probabilities hide an input scale)",
          default=lambda case: case.kind == "loss" and _saturated_bce(case))
def _loss_target_scale(case: Case) -> Case | None:
    lp = case.loss_probe
    if lp is None or lp.name not in ("bce", "bce_with_logits"):
        return None
    return replace(case, loss_probe=replace(lp, target_scale=1 - (LR_FACTOR - 1)))


@register("loss-option", f"a loss option (label_smoothing, beta, delta, margin) x {1 + LOSS_OPTION_SHIFT:g}, or "
          f"class weights / pos_weight w_k x (1 + {LOSS_OPTION_SHIFT:g} (k + 1))",
          default=lambda case: case.kind == "loss" and _moved_option(case.loss_probe) is not None)
def _loss_option(case: Case) -> Case | None:
    lp = case.loss_probe
    if lp is None or (moved := _moved_option(lp)) is None:
        return None
    return replace(case, loss_probe=replace(lp, **moved))


# ------------------------------------------------------------------------------- training: lr, regularization

def _regularized(case: Case) -> bool:
    return any(c.l1 or c.l2 for c in case.coefficients().values())


@register("lr", f"learning rate x {LR_FACTOR:g}",
          default=lambda case: case.kind == "training" and case.model.init == "seeded")
def _lr(case: Case) -> Case | None:
    if case.optimizer is None:
        return None
    lr = resolve(case)["lr"]  # the default the reference follows when the case leaves lr out
    return replace(case, optimizer=replace(case.optimizer, lr=lr * LR_FACTOR))


@register("no-regularization", "regularization dropped",
          default=lambda case: case.regularization is not None and _regularized(case))
def _no_regularization(case: Case) -> Case | None:
    return None if case.regularization is None else replace(case, regularization=None)


@register("ignore-overrides", "per-parameter overrides ignored (the case-wide coefficient everywhere)",
          default=lambda case: case.regularization is not None and bool(case.regularization.overrides))
def _ignore_overrides(case: Case) -> Case | None:
    if case.regularization is None:
        return None
    return replace(case, regularization=replace(case.regularization, overrides={}))


# ------------------------------------------------------------------------------------------ gradient clipping
# A clip that acts at some step must be seen to act (clip-ignored) and with its threshold (clip-threshold);
# one that never acts can only be told from a clip without the clamp to 1 (clip-unclamped): ignoring it
# changes nothing, which is the point of such a case.

def _clip_acts(case: Case) -> bool:
    return case.clip is not None and case.clip.active != "never"


def _clip_perturbed(case: Case, clip=None, **flavour) -> Case:
    """The case with its clip changed (a perturbed clip keeps no claim about its activity) and the reference
    flavour keys given."""
    clip = replace(clip or case.clip, active="some_steps")
    reference = replace(case.reference, **flavour) if flavour else case.reference
    return replace(case, clip=clip, reference=reference)


@register("clip-ignored", "gradient clipping dropped", default=_clip_acts)
def _clip_ignored(case: Case) -> Case | None:
    return None if case.clip is None else replace(case, clip=None)


@register("clip-threshold", f"clip threshold (max_norm, or both value bounds) x {CLIP_FACTOR:g}", default=_clip_acts)
def _clip_threshold(case: Case) -> Case | None:
    clip = case.clip
    if clip is None:
        return None
    if clip.kind == "value":
        low, high = clip.bounds
        return _clip_perturbed(case, replace(clip, min=low * CLIP_FACTOR, max=high * CLIP_FACTOR))
    return _clip_perturbed(case, replace(clip, max_norm=clip.max_norm * CLIP_FACTOR))


@register("clip-order-swapped", "weight decay and clipping applied in the other order",
          default=lambda case: _clip_acts(case) and _regularized(case))
def _clip_order_swapped(case: Case) -> Case | None:
    if case.clip is None:
        return None
    order = "decay_then_clip" if case.reference.clip_order == "clip_then_decay" else "clip_then_decay"
    return _clip_perturbed(case, clip_order=order)


@register("clip-unclamped", "clip coefficient max_norm/norm not clamped at 1 (small gradients scaled up)",
          default=lambda case: case.clip is not None and not _clip_acts(case) and case.clip.kind != "value")
def _clip_unclamped(case: Case) -> Case | None:
    if case.clip is None or case.clip.kind == "value":
        return None
    return _clip_perturbed(case, clip_norm_formula="unclamped")


@register("clip-kind-swapped", "global-norm clip taken per tensor, or per-tensor clip taken globally")
def _clip_kind_swapped(case: Case) -> Case | None:
    clip = case.clip
    if clip is None or clip.kind == "value":
        return None
    return _clip_perturbed(case, replace(clip, kind="norm" if clip.kind == "global_norm" else "global_norm"))


@register("ignore-lr-multipliers", "per-parameter learning-rate multipliers ignored (optimizer lr everywhere)",
          default=lambda case: any(m != 1.0 for m in case.lr_multiplier_of().values()))
def _ignore_lr_multipliers(case: Case) -> Case | None:
    return replace(case, lr_multipliers={}) if case.lr_multipliers else None


# ---------------------------------------------------------------------- schedules, loss scaling, EMA of weights
# Each wrong mapping that the case's steps can show.

@register("schedule-shift", "the scheduler stepped before the optimizer: step t uses the lr of epoch t, not t-1",
          default=lambda case: case.schedule is not None)
def _schedule_shift(case: Case) -> Case | None:
    return None if case.schedule is None else replace(case, schedule=replace(case.schedule, shift=1))


@register("schedule-restart", "the rebuilt scheduler starts again from epoch 0 (its last_epoch lost)",
          default=lambda case: case.schedule is not None and case.schedule.rebuild_at is not None)
def _schedule_restart(case: Case) -> Case | None:
    if case.schedule is None or case.schedule.rebuild_at is None:
        return None
    return replace(case, schedule=replace(case.schedule, restart=True))


@register("cycle-momentum-ignored", "the scheduler's cycled momentum ignored (the optimizer's own throughout)",
          default=lambda case: case.schedule is not None and bool(case.schedule.get("cycle_momentum")))
def _cycle_momentum_ignored(case: Case) -> Case | None:
    if case.schedule is None or not case.schedule.get("cycle_momentum"):
        return None
    return replace(case, schedule=replace(case.schedule, cycle_momentum=False))


def _scale_grows(case: Case) -> bool:
    return case.loss_scaling is not None and case.loss_scaling.growth_interval < case.steps


def _loss_scaling(case: Case, **changes) -> Case | None:
    ls = case.loss_scaling
    if ls is None:
        return None
    return replace(case, loss_scaling=replace(ls, **{k: f(ls) for k, f in changes.items()}))


@register("loss-scale-growth", f"loss-scale growth factor x {LR_FACTOR:g}", default=_scale_grows)
def _loss_scale_growth(case: Case) -> Case | None:
    return _loss_scaling(case, growth_factor=lambda ls: ls.growth_factor * LR_FACTOR)


@register("loss-scale-interval", "growth interval + 1 (an off-by-one in incr_every_n_steps vs growth_interval)",
          default=_scale_grows)
def _loss_scale_interval(case: Case) -> Case | None:
    return _loss_scaling(case, growth_interval=lambda ls: ls.growth_interval + 1)


@register("loss-scale-backoff", f"loss-scale backoff factor x {LR_FACTOR:g}",
          default=lambda case: case.loss_scaling is not None and
          any(item.step < case.steps for item in case.loss_scaling.inject))
def _loss_scale_backoff(case: Case) -> Case | None:
    return _loss_scaling(case, backoff_factor=lambda ls: ls.backoff_factor * LR_FACTOR)


@register("ema-decay", f"EMA decay moved by {EMA_DECAY_SHIFT:g} of (1 - decay)",
          default=lambda case: case.ema is not None)
def _ema_decay(case: Case) -> Case | None:
    if case.ema is None:
        return None
    return replace(case, ema=replace(case.ema, decay=case.ema.decay + EMA_DECAY_SHIFT * (1 - case.ema.decay)))


# ------------------------------------------------------------------------- per-parameter optimizer settings
# Each drops the optimizer setting it is named after; planned whenever the case sets it.

def _register_dropped_setting(name: str, key: str, doc: str) -> None:
    def sets_it(case: Case) -> bool:
        return case.optimizer is not None and bool(case.optimizer.hyper.get(key))

    def drop(case: Case) -> Case | None:
        if not sets_it(case):
            return None
        hyper = {k: v for k, v in case.optimizer.hyper.items() if k != key}
        return replace(case, optimizer=replace(case.optimizer, hyper=hyper))

    register(name, doc, default=sets_it)(drop)


_register_dropped_setting("decay-exclude-ignored", "decay_exclude",
                          "decoupled decay applied to the parameters optimizer.decay_exclude excludes")
_register_dropped_setting("lr-ratio-ignored", "lr_ratio",
                          "per-parameter learning-rate ratios ignored (the base lr everywhere)")


# ------------------------------------------------------------------------------ optimizers with a closure

def _lbfgs_setting(case: Case, key: str):
    return case.optimizer.hyper.get(key) if case.optimizer is not None else None


@register("history-size", "L-BFGS keeps one curvature pair fewer (history_size - 1)",
          default=lambda case: (_lbfgs_setting(case, "history_size") or 0) > 1)
def _history_size(case: Case) -> Case | None:
    size = _lbfgs_setting(case, "history_size")
    if size is None or size <= 1:
        return None
    return replace(case, optimizer=replace(case.optimizer, hyper={**case.optimizer.hyper, "history_size": size - 1}))


@register("line-search-dropped", "L-BFGS without its strong Wolfe line search (fixed step lr)",
          default=lambda case: _lbfgs_setting(case, "line_search") == "strong_wolfe")
def _line_search_dropped(case: Case) -> Case | None:
    if _lbfgs_setting(case, "line_search") != "strong_wolfe":
        return None
    return replace(case, optimizer=replace(case.optimizer, hyper={**case.optimizer.hyper, "line_search": "none"}))


_register_dropped_setting("maximize-ignored", "maximize",
                          "maximize = true ignored (the optimizer descends the loss)")
_register_dropped_setting("decay-coupled", "decoupled_weight_decay",
                          "decoupled_weight_decay ignored: the L2 coefficient enters the gradient (Adam's coupled L2)")


# ----------------------------------------------------------------------------------------------- autocast

@register("autocast-flavour", "the other autocast arithmetic (bfloat16 roundings added or dropped)",
          default=lambda case: case.autocast is not None)
def _autocast_flavour(case: Case) -> Case | None:
    if case.autocast is None:
        return None
    flipped = "off" if case.reference.autocast != "off" else case.autocast
    return replace(case, reference=replace(case.reference, autocast=flipped))


# ---------------------------------------------------------------------------------------- gradient lifecycle

@register("gradient-reset-swapped", "gradients cleared the other way (zero <-> None) between steps",
          default=lambda case: case.gradients is not None and bool(case.gradients.unused_after))
def _gradient_reset_swapped(case: Case) -> Case | None:
    g = case.gradients
    if g is None or not g.unused_after:
        return None
    return replace(case, gradients=replace(g, reset="none" if g.reset == "zero" else "zero"))


@register("frozen-ignored", "frozen parameters trained like the others",
          default=lambda case: case.gradients is not None and bool(case.gradients.frozen))
def _frozen_ignored(case: Case) -> Case | None:
    g = case.gradients
    if g is None or not g.frozen:
        return None
    return replace(case, gradients=replace(g, frozen=()))


@register("clip-exclude-ignored", "the parameters clip.exclude leaves out clipped with the others",
          default=lambda case: case.clip is not None and bool(case.clip.exclude))
def _clip_exclude_ignored(case: Case) -> Case | None:
    if case.clip is None or not case.clip.exclude:
        return None
    return replace(case, clip=replace(case.clip, exclude=()))


# ---------------------------------------------------------------------------------------- layer-list models
# Each changes every layer of its kind in the model; planned whenever the model has one (and, for the pool
# divisor, padding that makes the divisor matter).

NORM_KINDS = ("batch_norm", "layer_norm", "instance_norm", "group_norm")


def _has_layer(case: Case, *kinds: str, where=lambda spec: True) -> bool:
    """Whether the case trains a layer-list model from the seeded start (framework_default compares only the
    starts' distributions, which no layer argument changes) with a layer of one of the kinds."""
    network = case.network() if case.model is not None and case.model.init == "seeded" else None
    return bool(network) and any(layer.kind in kinds and where(layer.spec) for layer in walk(network))


def _with_layers(case: Case, kinds: tuple[str, ...], change) -> Case | None:
    if not _has_layer(case, *kinds):
        return None
    layers = tuple(change(spec) if spec.kind in kinds else spec for spec in case.model.layers)
    return replace(case, model=replace(case.model, layers=layers))


@register("layer-epsilon", f"every normalization layer's epsilon x {EPSILON_FACTOR}",
          default=lambda case: _has_layer(case, *NORM_KINDS))
def _layer_epsilon(case: Case) -> Case | None:
    return _with_layers(case, NORM_KINDS, lambda s: replace(s, epsilon=s.arg("epsilon", DEFAULT_NORM_EPSILON)
                                                            * EPSILON_FACTOR))


@register("layer-momentum", "every batch_norm layer's momentum (new-batch weight) moved by 1% of (1-momentum)",
          default=lambda case: _has_layer(case, "batch_norm"))
def _layer_momentum(case: Case) -> Case | None:
    return _with_layers(case, ("batch_norm",), lambda s: replace(s, momentum=_moved_p(s.arg("momentum",
                                                                                             DEFAULT_NORM_MOMENTUM))))


@register("gelu-approximation", "gelu's other formula (exact erf <-> tanh approximation)",
          default=lambda case: _has_layer(case, "gelu"))
def _gelu_approximation(case: Case) -> Case | None:
    return _with_layers(case, ("gelu",), lambda s: replace(
        s, approximate="none" if s.arg("approximate", "none") == "tanh" else "tanh"))


@register("pool-divisor", "avg_pool2d's other divisor (padding counted <-> excluded)",
          default=lambda case: _has_layer(case, "avg_pool2d", where=lambda s: any(s.padding or ())))
def _pool_divisor(case: Case) -> Case | None:
    follows_paddle = case.reference.follows == "paddle"
    return _with_layers(case, ("avg_pool2d",), lambda s: replace(
        s, exclude_padding=not (follows_paddle if s.exclude_padding is None else s.exclude_padding)))


@register("leaky-slope", f"leaky_relu's negative slope x {1 + LOSS_OPTION_SHIFT:g}",
          default=lambda case: _has_layer(case, "leaky_relu"))
def _leaky_slope(case: Case) -> Case | None:
    return _with_layers(case, ("leaky_relu",), lambda s: replace(
        s, negative_slope=s.arg("negative_slope", 0.01) * (1 + LOSS_OPTION_SHIFT)))


@register("init-other-framework", "the start drawn from the other framework's documented initialisers",
          default=lambda case: case.model is not None and case.model.init == "framework_default")
def _init_other_framework(case: Case) -> Case | None:
    if case.model is None or case.model.init != "framework_default":
        return None
    other = "torch" if case.reference.follows == "paddle" else "paddle"
    return replace(case, reference=replace(case.reference, initializer=other))
