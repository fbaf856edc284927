"""Expand a case into the checks it stands for: one verdict per (implementation, compared_with).

- every framework route against the float64 reference (``equivalence``);
- Paddle against Torch directly, for each route both run (``direct``);
- the case-dtype reference against the float64 one, for float32 cases (``rounding``): how much of an
  error is plain float32 rounding;
- perturbed references that the case's tolerance must tell apart (``sensitivity``): proof that the
  case's "equal" verdicts can fail.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import versions
from .backends import implementation_id
from .reference.optimizers import resolve
from .spec import DEFAULT_NORM_EPSILON, DEFAULT_NORM_MOMENTUM, Case, Divergence, SpecError

REFERENCE = "reference"
PERTURBED = "perturbed/"
LR_FACTOR = 1 + 1e-3
CLIP_FACTOR = 1.01
EPSILON_FACTOR = 10
EMA_DECAY_SHIFT = 0.01  # of (1 - decay): 0.9 -> 0.901
# Perturbation -> the per-parameter optimizer setting it drops; added whenever the case sets it.
PER_PARAMETER_PERTURBATIONS = {"decay-exclude-ignored": "decay_exclude", "lr-ratio-ignored": "lr_ratio"}
LOSS_OPTION_SHIFT = 0.01  # a loss option (label_smoothing, beta, delta, margin, a class weight) x 1.01
SATURATING_SCALE = 100  # bce probabilities sigmoid(scale * z) at this scale are mostly exactly 0 or 1


@dataclass(frozen=True)
class Check:
    case: str
    implementation: str
    compared_with: str
    kind: str  # equivalence | direct | rounding | sensitivity
    expected: str = "equal"  # equal | divergent
    reason: str = ""
    references: tuple[str, ...] = ()
    # Divergences declared for some framework versions only; which apply is known once the workers
    # report their versions (see for_versions).
    version_limited: tuple[Divergence, ...] = ()

    @property
    def test_id(self) -> str:
        if self.compared_with == REFERENCE:
            return f"{self.case}[{self.implementation}]"
        return f"{self.case}[{self.implementation}-vs-{self.compared_with}]"

    @property
    def backend(self) -> str | None:
        head = self.implementation.split("/", 1)[0]
        return None if head in ("reference", "perturbed") else head


def implementations(case: Case, backends) -> list[tuple[str, str, str]]:
    """(backend, neutral route, implementation id) for every framework run of the case. Routes a backend
    labels alike (Torch's param groups stand for every Paddle per-parameter form) run once."""
    runs = {}
    for b in backends:
        for r in case.selected_routes:
            runs.setdefault(implementation_id(b, r), (b, r))
    return [(b, r, impl) for impl, (b, r) in runs.items()]


def uses_random_masks(case: Case) -> bool:
    return case.kind == "dropout" or (case.model is not None and case.model.dropout > 0)


def perturbations(case: Case) -> list[str]:
    if case.kind == "dropout":
        # With training off, p changes nothing but a downscale_in_infer eval; the wrong mapping to catch
        # there is a training flag that is ignored.
        names = ["dropout-p"] if case.dropout.training else ["dropout-training"]
    elif case.kind == "normalization":
        names = ["norm-epsilon"]
        n = case.normalization
        if n.tracks_running_stats() and n.train_statistics == "batch":
            names += ["norm-momentum", "running-var-bias"]
    elif case.kind == "loss":
        names = _loss_perturbations(case)
    else:
        names = ["lr"]
    reg = case.regularization
    if reg is not None and any(c.l1 or c.l2 for c in case.coefficients().values()):
        names.append("no-regularization")
    if reg is not None and reg.overrides:
        names.append("ignore-overrides")
    names += _clip_and_lr_perturbations(case)
    names += _step_extension_perturbations(case)
    hyper = case.optimizer.hyper if case.optimizer is not None else {}
    names += [name for name, key in PER_PARAMETER_PERTURBATIONS.items() if hyper.get(key)]
    names += [p for p in case.expect.sensitivity if p not in names]
    return names


def _clip_and_lr_perturbations(case: Case) -> list[str]:
    """A clip that acts at some step must be seen to act (clip-ignored) and with its threshold
    (clip-threshold); one that never acts can only be told from a clip without the clamp to 1
    (clip-unclamped): ignoring it changes nothing, which is the point of such a case."""
    names = []
    clip = case.clip
    if clip is not None and clip.active != "never":
        names += ["clip-ignored", "clip-threshold"]
        if any(c.l1 or c.l2 for c in case.coefficients().values()):
            names.append("clip-order-swapped")
    elif clip is not None and clip.kind != "value":
        names.append("clip-unclamped")
    if any(m != 1.0 for m in case.lr_multiplier_of().values()):
        names.append("ignore-lr-multipliers")
    return names


def _step_extension_perturbations(case: Case) -> list[str]:
    """Schedules, loss scaling and EMA: each wrong mapping that the case's steps can show."""
    names = []
    if case.schedule is not None:
        names.append("schedule-shift")
    ls = case.loss_scaling
    if ls is not None:
        if ls.growth_interval < case.steps:
            names += ["loss-scale-growth", "loss-scale-interval"]
        if any(item.step < case.steps for item in ls.inject):
            names.append("loss-scale-backoff")
    if case.ema is not None:
        names.append("ema-decay")
    return names


def _loss_perturbations(case: Case) -> list[str]:
    """The input scale, unless saturated probabilities hide it (then the targets), and an option the case sets."""
    lp = case.loss_probe
    names = ["loss-target-scale" if lp.name == "bce" and lp.scale >= SATURATING_SCALE else "loss-input-scale"]
    if _moved_option(lp) is not None:
        names.append("loss-option")
    return names


def _moved_option(lp) -> dict | None:
    """The first option the case sets, moved: label_smoothing, beta / delta / margin x (1 + LOSS_OPTION_SHIFT),
    or class weights / pos_weight w_k x (1 + LOSS_OPTION_SHIFT * (k + 1)), unequal factors because a mean
    divided by the summed weights cancels a common one; None when the case sets none of them."""
    f = 1 + LOSS_OPTION_SHIFT
    if lp.label_smoothing:
        return {"label_smoothing": lp.label_smoothing * f}
    for key in ("beta", "delta", "margin"):
        if getattr(lp, key) is not None:
            return {key: getattr(lp, key) * f}
    for key in ("weight", "pos_weight"):
        if getattr(lp, key) is not None:
            return {key: tuple(v * (1 + LOSS_OPTION_SHIFT * (k + 1)) for k, v in enumerate(getattr(lp, key)))}
    return None


def _perturb_loss(case: Case, name: str) -> Case | None:
    lp, replace = case.loss_probe, dataclasses.replace
    if lp is None:
        return None
    if name == "loss-input-scale":
        return replace(case, loss_probe=replace(lp, scale=lp.scale * LR_FACTOR))
    if name == "loss-target-scale" and lp.name in ("bce", "bce_with_logits"):
        return replace(case, loss_probe=replace(lp, target_scale=1 - (LR_FACTOR - 1)))
    if name == "loss-option" and (moved := _moved_option(lp)) is not None:
        return replace(case, loss_probe=replace(lp, **moved))
    return None


def _perturb_step_extension(case: Case, name: str) -> Case | None:
    ls, replace = case.loss_scaling, dataclasses.replace
    if name == "schedule-shift" and case.schedule is not None:
        return replace(case, schedule=replace(case.schedule, shift=1))
    if name == "loss-scale-growth" and ls is not None:
        return replace(case, loss_scaling=replace(ls, growth_factor=ls.growth_factor * LR_FACTOR))
    if name == "loss-scale-backoff" and ls is not None:
        return replace(case, loss_scaling=replace(ls, backoff_factor=ls.backoff_factor * LR_FACTOR))
    if name == "loss-scale-interval" and ls is not None:
        return replace(case, loss_scaling=replace(ls, growth_interval=ls.growth_interval + 1))
    if name == "ema-decay" and case.ema is not None:
        return replace(case, ema=replace(case.ema, decay=case.ema.decay + EMA_DECAY_SHIFT * (1 - case.ema.decay)))
    return None


def perturb(case: Case, name: str) -> Case:
    """The case as a wrong mapping would run it. Each must change the trajectory."""
    if name == "lr" and case.optimizer is not None:
        lr = resolve(case)["lr"]  # the default the reference follows when the case leaves lr out
        return dataclasses.replace(case, optimizer=dataclasses.replace(case.optimizer, lr=lr * LR_FACTOR))
    if name in PER_PARAMETER_PERTURBATIONS and case.optimizer is not None:
        key = PER_PARAMETER_PERTURBATIONS[name]
        if case.optimizer.hyper.get(key):
            hyper = {k: v for k, v in case.optimizer.hyper.items() if k != key}
            return dataclasses.replace(case, optimizer=dataclasses.replace(case.optimizer, hyper=hyper))
    if name == "no-regularization" and case.regularization is not None:
        return dataclasses.replace(case, regularization=None)
    if name == "ignore-overrides" and case.regularization is not None:
        return dataclasses.replace(case, regularization=dataclasses.replace(case.regularization, overrides={}))
    if name == "dropout-p" and case.dropout is not None:
        p = case.dropout.p
        p = p + 0.01 * (1 - p) if p < 1 else p - 0.01
        return dataclasses.replace(case, dropout=dataclasses.replace(case.dropout, p=p))
    if name == "dropout-training" and case.dropout is not None:
        return dataclasses.replace(case, dropout=dataclasses.replace(case.dropout, training=not case.dropout.training))
    n = case.normalization
    if name == "norm-epsilon" and n is not None:
        eps = (DEFAULT_NORM_EPSILON if n.epsilon is None else n.epsilon) * EPSILON_FACTOR
        return dataclasses.replace(case, normalization=dataclasses.replace(n, epsilon=eps))
    if name == "norm-momentum" and n is not None and n.tracks_running_stats():
        m = DEFAULT_NORM_MOMENTUM if n.momentum is None else n.momentum
        m = m + 0.01 * (1 - m) if m < 1 else m - 0.01
        return dataclasses.replace(case, normalization=dataclasses.replace(n, momentum=m))
    if name == "running-var-bias" and n is not None and n.tracks_running_stats():
        flipped = "biased" if case.reference.batch_norm_running_var == "unbiased" else "unbiased"
        return dataclasses.replace(case, reference=dataclasses.replace(case.reference, batch_norm_running_var=flipped))
    if name == "ignore-lr-multipliers" and case.lr_multipliers:
        return dataclasses.replace(case, lr_multipliers={})
    if name.startswith("clip-") and (perturbed := _perturb_clip(case, name)) is not None:
        return perturbed
    if (perturbed := _perturb_step_extension(case, name)) is not None:
        return perturbed
    if name.startswith("loss-") and (perturbed := _perturb_loss(case, name)) is not None:
        return perturbed
    raise SpecError(case.path, "expect.sensitivity", f"perturbation {name!r} does not apply to this case",
                    "lr and no-regularization (training), ignore-overrides (with overrides), dropout-p and "
                    "dropout-training (dropout), norm-epsilon, norm-momentum and running-var-bias (normalization), "
                    "ignore-lr-multipliers (with lr_multipliers), clip-ignored, clip-threshold, "
                    "clip-order-swapped (with [clip]), clip-unclamped and clip-kind-swapped (norm clips), "
                    "schedule-shift ([schedule]), loss-scale-growth, loss-scale-backoff, loss-scale-interval "
                    "([loss_scaling]), ema-decay ([ema]), decay-exclude-ignored / lr-ratio-ignored (with "
                    "optimizer.decay_exclude / lr_ratio), loss-input-scale, loss-target-scale (bce) and loss-option (an "
                    "option the case sets) ([loss_probe])")


def _perturb_clip(case: Case, name: str) -> Case | None:
    clip = case.clip
    if clip is None:
        return None
    clip = dataclasses.replace(clip, active="some_steps")  # a perturbed clip keeps no claim about its activity
    flavour = case.reference
    if name == "clip-ignored":
        return dataclasses.replace(case, clip=None)
    if name == "clip-threshold":
        if clip.kind == "value":
            low, high = clip.bounds
            clip = dataclasses.replace(clip, min=low * CLIP_FACTOR, max=high * CLIP_FACTOR)
        else:
            clip = dataclasses.replace(clip, max_norm=clip.max_norm * CLIP_FACTOR)
    elif name == "clip-order-swapped":
        order = "decay_then_clip" if flavour.clip_order == "clip_then_decay" else "clip_then_decay"
        flavour = dataclasses.replace(flavour, clip_order=order)
    elif name == "clip-unclamped" and clip.kind != "value":
        flavour = dataclasses.replace(flavour, clip_norm_formula="unclamped")
    elif name == "clip-kind-swapped" and clip.kind != "value":
        clip = dataclasses.replace(clip, kind="norm" if clip.kind == "global_norm" else "global_norm")
    else:
        return None
    return dataclasses.replace(case, clip=clip, reference=flavour)


PERTURBATION_DOCS = {
    "lr": f"learning rate x {LR_FACTOR:g}",
    "no-regularization": "regularization dropped",
    "ignore-overrides": "per-parameter overrides ignored (the case-wide coefficient everywhere)",
    "dropout-p": "drop probability moved by 1% of (1-p) (down by 0.01 from p = 1)",
    "dropout-training": "training flag flipped",
    "norm-epsilon": f"epsilon x {EPSILON_FACTOR}",
    "norm-momentum": "momentum (weight of the new batch statistic) moved by 1% of (1-momentum)",
    "running-var-bias": "running variance fed the other estimator (biased <-> unbiased)",
    "clip-ignored": "gradient clipping dropped",
    "clip-threshold": f"clip threshold (max_norm, or both value bounds) x {CLIP_FACTOR:g}",
    "clip-unclamped": "clip coefficient max_norm/norm not clamped at 1 (small gradients scaled up)",
    "clip-kind-swapped": "global-norm clip taken per tensor, or per-tensor clip taken globally",
    "clip-order-swapped": "weight decay and clipping applied in the other order",
    "ignore-lr-multipliers": "per-parameter learning-rate multipliers ignored (optimizer lr everywhere)",
    "schedule-shift": "the scheduler stepped before the optimizer: step t uses the lr of epoch t, not t-1",
    "loss-scale-growth": f"loss-scale growth factor x {LR_FACTOR:g}",
    "loss-scale-backoff": f"loss-scale backoff factor x {LR_FACTOR:g}",
    "loss-scale-interval": "growth interval + 1 (an off-by-one in incr_every_n_steps vs growth_interval)",
    "ema-decay": f"EMA decay moved by {EMA_DECAY_SHIFT:g} of (1 - decay)",
    "decay-exclude-ignored": "decoupled decay applied to the parameters optimizer.decay_exclude excludes",
    "lr-ratio-ignored": "per-parameter learning-rate ratios ignored (the base lr everywhere)",
    "loss-input-scale": f"loss input logits x {LR_FACTOR:g} (the scale of the drawn input)",
    "loss-target-scale": f"bce targets x {2 - LR_FACTOR:g} (saturated probabilities hide an input scale)",
    "loss-option": f"a loss option (label_smoothing, beta, delta, margin) x {1 + LOSS_OPTION_SHIFT:g}, or class "
                   f"weights / pos_weight w_k x (1 + {LOSS_OPTION_SHIFT:g} (k + 1))",
}


def plan(case: Case, backends) -> list[Check]:
    runs = implementations(case, backends)
    checks = []
    if case.dtype != "float64":
        checks.append(Check(case.id, f"{REFERENCE}/{case.dtype}", REFERENCE, "rounding"))
    checks += [Check(case.id, impl, REFERENCE, "equivalence") for _, _, impl in runs]
    if len(backends) > 1:
        first, *others = backends
        for route in case.selected_routes:
            for other in others:
                checks.append(Check(case.id, implementation_id(other, route), implementation_id(first, route), "direct"))
    for name in perturbations(case):
        perturb(case, name)  # raises SpecError for a perturbation that does not apply
        checks.append(Check(case.id, PERTURBED + name, REFERENCE, "sensitivity", "divergent",
                            reason=f"the tolerance must detect a wrong mapping: {PERTURBATION_DOCS[name]}"))
    return _apply_expectations(case, checks)


def _apply_expectations(case: Case, checks: list[Check]) -> list[Check]:
    """Mark the declared divergences. ``compared_with`` is 'reference', an implementation id, or a backend
    name meaning that backend's implementation of the same route."""
    known = sorted({c.implementation for c in checks if c.kind != "sensitivity"})
    for i, d in enumerate(case.expect.divergent):
        for impl in d.implementations:
            matches = [j for j, c in enumerate(checks) if c.implementation == impl and
                       (c.compared_with == d.compared_with or c.compared_with.split("/")[0] == d.compared_with)]
            if not matches:
                raise SpecError(case.path, f"expect.divergent[{i}].implementations",
                                f"{impl!r} compared with {d.compared_with!r} is not a check of this case",
                                ", ".join(known))
            for j in matches:
                if d.versions:
                    checks[j] = dataclasses.replace(checks[j], version_limited=checks[j].version_limited + (d,))
                else:
                    checks[j] = dataclasses.replace(checks[j], expected="divergent", reason=d.reason,
                                                    references=d.references)
    return checks


def for_versions(check: Check, installed: dict[str, str]) -> tuple[Check, str]:
    """The check with the version-limited divergences that hold for the installed framework versions
    applied (the first that holds wins), and a note naming those that do not hold, for messages."""
    for d in check.version_limited:
        if not versions.misses(d.versions, installed):
            return dataclasses.replace(check, expected="divergent", references=d.references,
                                       reason=f"{d.reason} (expected for {versions.describe(d.versions)})"), ""
    notes = [f"a divergence is expected only for {versions.describe(d.versions)} "
             f"({'; '.join(versions.misses(d.versions, installed))})" for d in check.version_limited]
    return check, "; ".join(notes)
