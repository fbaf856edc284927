"""Say what a divergence is: which named flavour of the reference reproduces the implementation.

When an implementation diverges from the reference, the reference is re-run under each flavour that applies
to the case (the [reference] table's float32 attributes, clip formula and order, running-variance estimator,
..., and a few conventions written elsewhere in a case: Paddle's batch-norm momentum, Torch's float32 inverse
loss scale, the EMA start), one at a time and then in pairs, and compared with the implementation at the
case's tolerance. The first set that reproduces it, preferring sets of precision flavours only, is the
explanation: ``precision`` when only precision flavours are needed, ``formula`` when a formula flavour is,
``unexplained`` when none does.

Each flavour is one registration: its name, its kind, a doc (for the sentence), and a function giving the
case under each alternative the flavour has for it (``{}`` where it does not apply). Adding a flavour is one
entry here, plus whatever the reference needs to compute it.

Only what the search needs is asked of the caller (see ``explain``): the implementation's trajectory
through a callable (the runner re-runs it in its worker: the streamed runs are not kept), and a
``compare_fn(actual, flavoured_case) -> bool`` saying whether the reference of that case reproduces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import combinations

from .perturbations import REGISTRY as PERTURBATIONS
from .plan import PERTURBED, REFERENCE, Check
from .record import Trajectory
from .reference.optimizers import REGISTRY as OPTIMIZERS
from .spec import DEFAULT_NORM_MOMENTUM, Case

KINDS = ("precision", "formula", "unexplained")
FLAVOUR_KINDS = ("precision", "formula")
MAX_SET_SIZE = 2  # single flavours, then pairs; a triple has not been needed by any case
# Reference runs one search may make (the case as written, singles, pairs): a bound on what a divergence of a
# case with many applicable flavours costs; the most any case of cases/ needs is far below it.
MAX_RUNS = 64


@dataclass(frozen=True)
class Flavour:
    name: str
    kind: str  # precision | formula
    doc: str
    alternatives: Callable[[Case], dict[str, Case]]  # label ("attributes=float32") -> the case under it


REGISTRY: dict[str, Flavour] = {}


def register(name: str, kind: str, doc: str):
    """Decorator: register the function as the flavour ``name`` (it returns {label: case})."""
    if kind not in FLAVOUR_KINDS:
        raise ValueError(f"flavour {name!r}: kind {kind!r} is not one of {FLAVOUR_KINDS}")

    def add(alternatives: Callable[[Case], dict[str, Case]]):
        if name in REGISTRY:
            raise ValueError(f"flavour {name!r} is registered twice")
        REGISTRY[name] = Flavour(name, kind, doc, alternatives)
        return alternatives
    return add


def _reference_field(case: Case, key: str, values: tuple) -> dict[str, Case]:
    """The case with reference.<key> set to each value it does not already have."""
    current = getattr(case.reference, key)
    return {f"{key}={v}": replace(case, reference=replace(case.reference, **{key: v}))
            for v in values if v != current}


def _training(case: Case) -> bool:
    return case.kind == "training" and case.optimizer is not None


def _has_float32_attributes(case: Case) -> bool:
    """Whether the attributes flavour changes anything: a hyper-parameter Paddle keeps as a float attribute,
    or an L2 coefficient fused into the optimizer's kernel."""
    info = OPTIMIZERS[case.optimizer.name]
    return any(h.paddle.float32 for h in info.hypers.values()) or (info.fused_l2 and case.regularization is not None)


def _frameworks_differ(case: Case) -> bool:
    """Whether following the other framework changes anything: a formula, or a default the case leaves out."""
    info = OPTIMIZERS[case.optimizer.name]
    given = set(case.optimizer.hyper) | ({"lr"} if case.optimizer.lr is not None else set())
    return bool(info.differs) or any(h.defaults_differ() for k, h in info.hypers.items() if k not in given)


# -------------------------------------------------------------------------------------------- precision

@register("attributes", "precision",
          "optimizer hyper-parameters rounded to float32, as Paddle's kernels take them as float attributes")
def _attributes(case: Case) -> dict[str, Case]:
    if not _training(case) or not _has_float32_attributes(case):
        return {}
    return _reference_field(case, "attributes", ("exact", "float32"))


@register("l2_attribute", "precision",
          "the L2 coefficient kept exact while the optimizer's own hyper-parameters are float32 attributes, as "
          "for a loss penalty")
def _l2_attribute(case: Case) -> dict[str, Case]:
    if not _training(case) or case.regularization is None or not OPTIMIZERS[case.optimizer.name].fused_l2:
        return {}
    if (case.reference.attributes, case.reference.l2_attribute) == ("float32", "exact"):
        return {}
    flavoured = replace(case.reference, attributes="float32", l2_attribute="exact")
    return {"attributes=float32,l2_attribute=exact": replace(case, reference=flavoured)}


@register("norm_attributes", "precision",
          "normalization momentum and epsilon rounded to float32, as Paddle's batch_norm kernel takes them")
def _norm_attributes(case: Case) -> dict[str, Case]:
    return _reference_field(case, "norm_attributes", ("exact", "float32")) if case.kind == "normalization" else {}


@register("dropout_attributes", "precision",
          "the dropout scale 1/(1-p) formed in float32, as Paddle's dropout kernel does")
def _dropout_attributes(case: Case) -> dict[str, Case]:
    if case.kind != "dropout" or case.dropout.p in (0, 1):
        return {}
    return _reference_field(case, "dropout_attributes", ("exact", "float32"))


@register("unscale", "precision", "the loss scale's inverse rounded to float32, as Torch's GradScaler unscales")
def _unscale(case: Case) -> dict[str, Case]:
    ls = case.loss_scaling
    if ls is None:
        return {}
    return {f"unscale={v}": replace(case, loss_scaling=replace(ls, unscale=v))
            for v in ("exact", "float32_inverse") if v != ls.unscale}


@register("autocast", "precision",
          "the model's matmuls and activations rounded to bfloat16 where torch.autocast rounds them, or not at all "
          "(Paddle's auto_cast on a CPU place)")
def _autocast(case: Case) -> dict[str, Case]:
    if case.kind != "training" or getattr(case, "autocast", "off") == "off":
        return {}
    return _reference_field(case, "autocast", ("off", case.autocast))


# ---------------------------------------------------------------------------------------------- formula

@register("follows", "formula", "the other framework's optimizer defaults and update formula")
def _follows(case: Case) -> dict[str, Case]:
    if not _training(case) or not _frameworks_differ(case):
        return {}
    return _reference_field(case, "follows", ("paddle", "torch"))


@register("momentum", "formula", "momentum written as an EMA (v = mu v + (1-mu) g) or as heavy ball (v = mu v + g)")
def _momentum(case: Case) -> dict[str, Case]:
    if not _training(case) or "momentum" not in case.optimizer.name:
        return {}
    return _reference_field(case, "momentum", ("heavy_ball", "ema"))


@register("decay", "formula", "AdamW's weight decay decoupled from the gradient, or added to it as coupled L2")
def _decay(case: Case) -> dict[str, Case]:
    if not _training(case) or "weight_decay" not in case.optimizer.hyper:
        return {}
    return _reference_field(case, "decay", ("decoupled", "coupled_l2"))


@register("penalty_form", "formula", "the L2 penalty as 0.5 c sum(w^2) or as c norm(w)")
def _penalty_form(case: Case) -> dict[str, Case]:
    reg = case.regularization
    if case.kind != "training" or reg is None:
        return {}
    return {f"penalty_form={v}": replace(case, regularization=replace(reg, penalty_form=v))
            for v in ("half_squared", "norm") if v != reg.penalty_form}


@register("clip_norm_formula", "formula",
          "the clip-norm coefficient max_norm/max(norm, max_norm) or min(1, max_norm/(norm + 1e-6))")
def _clip_norm_formula(case: Case) -> dict[str, Case]:
    if case.clip is None or case.clip.kind == "value":
        return {}
    return _reference_field(case, "clip_norm_formula", ("exact", "epsilon"))


@register("clip_order", "formula", "weight decay added after the clip, or clipped with the data gradient")
def _clip_order(case: Case) -> dict[str, Case]:
    if case.clip is None or case.regularization is None:
        return {}
    return _reference_field(case, "clip_order", ("clip_then_decay", "decay_then_clip"))


def _updates_running_stats(case: Case) -> bool:
    n = case.normalization
    return case.kind == "normalization" and n.tracks_running_stats()


@register("batch_norm_running_var", "formula",
          "the running variance fed the biased (Paddle) or the unbiased (Torch) batch variance")
def _running_var(case: Case) -> dict[str, Case]:
    return _reference_field(case, "batch_norm_running_var", ("unbiased", "biased")) if _updates_running_stats(case) else {}


@register("initializer", "formula",
          "model.init = framework_default: the start drawn from Paddle's or Torch's documented initialisers")
def _initializer(case: Case) -> dict[str, Case]:
    if case.model is None or case.model.init != "framework_default":
        return {}
    return _reference_field(case, "initializer", ("paddle", "torch"))


@register("norm_momentum_convention", "formula",
          "batch-norm momentum read as the weight of the old running value (Paddle) instead of the new batch "
          "statistic (Torch)")
def _norm_momentum_convention(case: Case) -> dict[str, Case]:
    if not _updates_running_stats(case):
        return {}
    n = case.normalization
    m = DEFAULT_NORM_MOMENTUM if n.momentum is None else n.momentum
    return {"momentum=1-momentum": replace(case, normalization=replace(n, momentum=1 - m))}


@register("cooldown_tracks_best", "formula",
          "ReduceOnPlateau's cooldown keeps tracking the best metric (Torch) or ignores it (Paddle)")
def _cooldown(case: Case) -> dict[str, Case]:
    s = case.schedule
    if s is None or s.name != "reduce_on_plateau":
        return {}
    flipped = not s.get("cooldown_tracks_best")
    return {f"cooldown_tracks_best={str(flipped).lower()}": replace(case, schedule=replace(s, cooldown_tracks_best=flipped))}


@register("ema_start", "formula",
          "the EMA started from the first update (Torch AveragedModel), the initial parameters, or zero with "
          "bias correction (Paddle's documented EMA)")
def _ema_start(case: Case) -> dict[str, Case]:
    e = case.ema
    if e is None:
        return {}
    options = {"first_update": replace(e, init="first_update", bias_correction=False),
               "initial_params": replace(e, init="initial_params", bias_correction=False),
               "zero+bias_correction": replace(e, init="zero", bias_correction=True)}
    return {f"ema={k}": replace(case, ema=v) for k, v in options.items() if v != e}


@register("ema_warmup", "formula", "the EMA decay warmed up as min(decay, (1+t)/(10+t)) (Paddle's thres_steps) or not")
def _ema_warmup(case: Case) -> dict[str, Case]:
    e = case.ema
    if e is None:
        return {}
    return {f"ema_warmup={v}": replace(case, ema=replace(e, warmup=v))
            for v in ("none", "thres_steps") if v != e.warmup}


@register("per_parameter_settings", "formula", "per-parameter settings (regularization overrides, lr multipliers) replaced "
          "by the group's or the optimizer's, as Paddle's parameter-group dicts replace a ParamAttr's")
def _per_parameter_settings(case: Case) -> dict[str, Case]:
    if case.kind != "training":
        return {}
    reg = case.regularization
    dropped = replace(case, lr_multipliers={},
                      regularization=reg if reg is None or not reg.overrides else replace(reg, overrides={}))
    return {"per_parameter=ignored": dropped} if dropped != case else {}


@register("dropout_training_default", "formula", "the functional dropout's training flag left to the framework's default "
          "(Torch's alpha_dropout and feature_alpha_dropout default to training=False, Paddle's to True)")
def _dropout_training_default(case: Case) -> dict[str, Case]:
    d = case.dropout
    if case.kind != "dropout" or not d.omit_training:
        return {}
    flipped = not d.training
    return {f"training={str(flipped).lower()}": replace(case, dropout=replace(d, training=flipped))}


# ------------------------------------------------------------------------------------------- the search

@dataclass(frozen=True)
class Explanation:
    kind: str  # precision | formula | unexplained
    flavours: tuple[str, ...]
    text: str

    def to_json(self) -> dict:
        return {"kind": self.kind, "flavours": list(self.flavours), "text": self.text}


@dataclass(frozen=True)
class Found:
    """A set of flavour labels under which the reference reproduces a trajectory, and the flavours' kinds."""
    labels: tuple[str, ...]
    flavours: tuple[Flavour, ...]

    @property
    def kind(self) -> str:
        return "precision" if all(f.kind == "precision" for f in self.flavours) else "formula"

    def describe(self) -> str:
        return " and ".join(f"{label} ({f.doc})" for label, f in zip(self.labels, self.flavours))


def _variants(case: Case) -> list[tuple[Flavour, str, Case]]:
    return [(f, label, c) for f in REGISTRY.values() for label, c in f.alternatives(case).items()]


def find(case: Case, reproduces: Callable[[Case], bool], max_size: int = MAX_SET_SIZE,
         max_runs: int = MAX_RUNS) -> tuple[Found | None, int]:
    """(the smallest flavour set under which ``reproduces`` holds, preferring precision-only sets, or None; the
    number of reference runs tried, at most ``max_runs``). The case as written is the empty set."""
    tried = 1
    if _safely(reproduces, case):
        return Found((), ()), tried
    singles = _variants(case)
    layer = [((f,), (label,), c) for f, label, c in singles]
    for size in range(1, max_size + 1):
        if size > 1:
            layer = []
            for combo in combinations(range(len(singles)), size):
                picked = [singles[i] for i in combo]
                if len({f.name for f, _, _ in picked}) < size:
                    continue  # two values of one flavour
                flavoured = case
                for f, label, _ in picked:
                    flavoured = f.alternatives(flavoured).get(label)
                    if flavoured is None:
                        break
                if flavoured is not None:
                    layer.append((tuple(f for f, _, _ in picked), tuple(label for _, label, _ in picked), flavoured))
        # precision-only sets first: the smallest explanation that is not a formula is the right one
        layer.sort(key=lambda item: any(f.kind != "precision" for f in item[0]))
        for flavours, labels, flavoured in layer:
            if tried >= max_runs:
                return None, tried
            tried += 1
            if _safely(reproduces, flavoured):
                return Found(labels, flavours), tried
    return None, tried


def _safely(reproduces: Callable[[Case], bool], case: Case) -> bool:
    try:
        return bool(reproduces(case))
    except Exception:  # a flavour the reference cannot compute for this case reproduces nothing
        return False


def explain(case: Case, actual_source: Callable[[], Trajectory],
            compare_fn: Callable[[Trajectory, Case], bool], name: str = "the implementation") -> Explanation:
    """Why ``name`` (its trajectory from ``actual_source()``) diverges from the case's reference."""
    found = search(case, actual_source, compare_fn)
    return _against_reference(name, found)


def search(case: Case, actual_source: Callable[[], Trajectory],
           compare_fn: Callable[[Trajectory, Case], bool]) -> Found | None:
    actual = actual_source()
    found, _ = find(case, lambda flavoured: compare_fn(actual, flavoured))
    return found


def _against_reference(name: str, found: Found | None) -> Explanation:
    if found is None:
        return Explanation("unexplained", (), f"No flavour of the reference, alone or in pairs, reproduces {name}.")
    if not found.labels:
        return Explanation("unexplained", (), f"The reference as written reproduces {name} when re-run, so the "
                                              "divergence depends on the run.")
    return Explanation(found.kind, found.labels, f"The reference reproduces {name} with {found.describe()}: a "
                                                 f"{found.kind} difference.")


def _between(name: str, found: Found | None, other: str, other_found: Found | None) -> Explanation:
    missing = [n for n, f in ((name, found), (other, other_found)) if f is None]
    if missing:
        return Explanation("unexplained", (), f"No flavour of the reference, alone or in pairs, reproduces "
                                              f"{' or '.join(missing)}.")
    mine, theirs = dict(zip(found.labels, found.flavours)), dict(zip(other_found.labels, other_found.flavours))
    differing = {label: f for label, f in {**mine, **theirs}.items() if (label in mine) != (label in theirs)}
    if not differing:
        return Explanation("unexplained", (), f"The reference reproduces {name} and {other} under the same "
                                              "flavours, so what parts them is below what the flavours tell apart.")
    kind = "precision" if all(f.kind == "precision" for f in differing.values()) else "formula"

    def side(n, f):
        return f"{n} with {', '.join(f.labels)}" if f.labels else f"{n} as written"
    docs = "; ".join(f"{label}: {f.doc}" for label, f in differing.items())
    return Explanation(kind, tuple(differing), f"The reference reproduces {side(name, found)} and "
                                               f"{side(other, other_found)} ({docs}): a {kind} difference.")


def for_check(case: Case, check: Check, source: Callable[[str], Trajectory],
              compare_fn: Callable[[Trajectory, Case], bool], cache: dict) -> Explanation:
    """The explanation of a divergent check. ``source(name)`` gives an implementation's trajectory; ``cache``
    (one dict per case) keeps each implementation's flavour set, which its direct checks share."""
    if check.kind == "sensitivity":
        perturbation = check.implementation[len(PERTURBED):]
        doc = PERTURBATIONS[perturbation].doc if perturbation in PERTURBATIONS else perturbation
        return Explanation("formula", (check.implementation,),
                           f"The reference is perturbed on purpose ({doc}), a wrong mapping the tolerance must detect.")
    if check.kind == "rounding":
        return Explanation("precision", (f"dtype={case.dtype}",),
                           f"The reference computed in {case.dtype} parts from the float64 one by rounding alone.")

    def found_for(name: str) -> Found | None:
        if name not in cache:
            cache[name] = search(case, lambda: source(name), compare_fn)
        return cache[name]
    if check.compared_with == REFERENCE:
        return _against_reference(check.implementation, found_for(check.implementation))
    return _between(check.implementation, found_for(check.implementation),
                    check.compared_with, found_for(check.compared_with))
