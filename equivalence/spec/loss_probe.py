"""The [loss_probe] table: one loss function's value and input gradient."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from .base import _doc, _only_table, literal_numbers

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case


# Loss probes (the [loss_probe] table): one loss function's value and input gradient.
LOSS_NAMES = ("mse", "l1", "cross_entropy", "nll", "bce", "bce_with_logits", "smooth_l1", "huber", "kl_div",
              "hinge_embedding", "multi_margin", "soft_margin", "margin_ranking")
LOSS_REDUCTIONS = ("none", "mean", "sum", "batchmean")
LOSS_ROUTES = ("layer", "functional")
LOSS_MAPPINGS = ("right", "by_name")
CLASS_LOSSES = ("cross_entropy", "nll", "multi_margin")  # integer class targets, input [N, C]


@dataclass(frozen=True)
class LossProbeSpec:
    name: str = field(metadata=_doc(
        "The loss, by a neutral name: mse, l1, smooth_l1 (Torch's parameterisation, `beta`), huber (`delta`; "
        "what Paddle's smooth_l1_loss computes), cross_entropy (logits), nll (log-probabilities), bce "
        "(probabilities), bce_with_logits, kl_div (log-probability input), hinge_embedding (targets +-1), "
        "multi_margin (integer targets), soft_margin (targets +-1: log(1 + exp(-y x))), margin_ranking (a second "
        "input x2 of the same shape, targets +-1: max(0, -y (x - x2) + margin); the gradient is w.r.t. x).",
        LOSS_NAMES))
    shape: tuple[int, ...] = field(metadata=_doc(
        "Input shape; [N, C] for cross_entropy, nll, multi_margin and kl_div (classes / distribution on the last "
        "axis); cross_entropy also takes [N, C, L], classes on axis 1 (Torch's layout), targets [N, L]."))
    seed: int = field(default=0, metadata=_doc("Seed of the input, the targets and the upstream gradient."))
    scale: float = field(default=1.0, metadata=_doc(
        "Multiplies the drawn logits (cross_entropy, bce_with_logits, multi_margin, hinge_embedding, the logits "
        "behind nll / kl_div / bce inputs, and the regression inputs): 100 or 1e4 for extreme logits; bce "
        "probabilities sigmoid(scale * z) are then exactly 0 or 1. > 0."))
    reduction: str = field(default="mean", metadata=_doc(
        "none (per element / per sample), mean, sum, batchmean (kl_div only: sum / N).", LOSS_REDUCTIONS))
    weight: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "Class weights, one per class (cross_entropy, nll, multi_margin; bce_with_logits: a weight per element "
        "of the last axis, multiplying its loss)."))
    ignore_index: int | None = field(default=None, metadata=_doc(
        "Class index to ignore (cross_entropy, nll with hard labels): the targets of the first third of the "
        "samples are set to it. May be outside [0, C) (both frameworks default to -100)."))
    label_smoothing: float = field(default=0.0, metadata=_doc(
        "cross_entropy: target = (1 - eps) * target + eps / C; 0 <= eps < 1."))
    soft_labels: bool = field(default=False, metadata=_doc(
        "cross_entropy: probability targets (Paddle soft_label=True, Torch float class probabilities)."))
    pos_weight: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "bce_with_logits: weight of the positive term, one per class (last axis)."))
    beta: float | None = field(default=None, metadata=_doc(
        "smooth_l1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (Torch smooth_l1_loss); default 1; "
        "beta = 0 is the L1 loss, its limit."))
    delta: float | None = field(default=None, metadata=_doc(
        "huber: 0.5 d^2 where |d| <= delta, else delta * (|d| - 0.5 delta) (Torch huber_loss, Paddle "
        "smooth_l1_loss); default 1."))
    log_target: bool = field(default=False, metadata=_doc("kl_div: the target is given as log-probabilities."))
    margin: float | None = field(default=None, metadata=_doc(
        "hinge_embedding, multi_margin: the margin, default 1; margin_ranking: default 0 (both frameworks)."))
    p: int = field(default=1, metadata=_doc("multi_margin: exponent of the hinge, 1 or 2."))
    target_values: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "hinge_embedding: the values the targets are drawn from; default [-1, 1], the documented labels. The "
        "reference applies the documented terms to labels 1 and -1 and none to any other label."))
    inputs: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "A literal input instead of the drawn one (what the loss takes: logits, log-probabilities, ...), row-major, "
        "prod(shape) numbers; TOML writes nan, inf and -inf. `scale` multiplies it as it does a draw.",
        parse=literal_numbers))
    targets: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "Literal targets of the same shape, for the element-wise losses (not the class-index ones).",
        parse=literal_numbers))
    mapping: str = field(default="right", metadata=_doc(
        "How the backends call the loss where the names mislead: right (the call that computes the neutral "
        "loss: Paddle smooth_l1_loss(is_huber=False) for smooth_l1, Torch huber_loss for huber) or by_name "
        "(the natural port by name: Paddle smooth_l1_loss(delta=beta) for smooth_l1, Torch "
        "smooth_l1_loss(beta=delta) for huber). N-D cross_entropy: right passes Paddle axis=1, by_name keeps "
        "Paddle's default axis=-1.", LOSS_MAPPINGS))
    target_scale: float = field(default=1.0, metadata={"internal": True})  # the loss-target-scale perturbation

    def option(self, key: str) -> float:
        """beta, delta or margin with its default (1; margin_ranking's margin: 0)."""
        value = getattr(self, key)
        if value is None:
            return 0.0 if self.name == "margin_ranking" else 1.0
        return value

    def classes(self) -> int:
        return self.shape[1] if self.nd_classes() else self.shape[-1]

    def nd_classes(self) -> bool:
        """Cross entropy on [N, C, L]: classes on axis 1, one target per (sample, position)."""
        return self.name == "cross_entropy" and len(self.shape) == 3


# Which options each loss takes; an option given to a loss that does not take it is a SpecError.
LOSS_OPTIONS = {
    "mse": (), "l1": (), "bce": (), "kl_div": ("log_target",),
    "cross_entropy": ("weight", "ignore_index", "label_smoothing", "soft_labels", "mapping"),
    "nll": ("weight", "ignore_index"), "bce_with_logits": ("pos_weight", "weight"),
    "smooth_l1": ("beta", "mapping"), "huber": ("delta", "mapping"),
    "hinge_embedding": ("margin", "target_values"), "multi_margin": ("weight", "margin", "p"),
    "soft_margin": (), "margin_ranking": ("margin",),
}


def _validate_loss_probe(case: Case, need) -> None:
    _only_table(case, "loss_probe", need)
    lp = case.loss_probe
    need(len(lp.shape) >= 1 and all(s >= 1 for s in lp.shape), "loss_probe.shape", f"{list(lp.shape)} is not a shape",
         "positive integers")
    if lp.nd_classes():
        need(lp.shape[1] >= 2 and lp.weight is None and lp.ignore_index is None and not lp.label_smoothing
             and not lp.soft_labels, "loss_probe.shape",
             f"cross_entropy on {list(lp.shape)} is probed with C >= 2 and hard labels only",
             "[N, C] for weights, ignore_index, label smoothing or soft labels")
    elif lp.name in CLASS_LOSSES or lp.name == "kl_div":
        need(len(lp.shape) == 2 and lp.shape[1] >= 2, "loss_probe.shape",
             f"{lp.name} takes [N, C] with C >= 2, not {list(lp.shape)}", "[N, C]")
    need(lp.scale > 0, "loss_probe.scale", f"{lp.scale} is not a scale", "a number > 0")
    defaults = {f.name: f.default for f in dataclasses.fields(LossProbeSpec)}
    taken = LOSS_OPTIONS[lp.name]
    for key in ("weight", "ignore_index", "label_smoothing", "soft_labels", "pos_weight", "beta", "delta",
                "log_target", "margin", "p", "mapping", "target_values"):
        need(key in taken or getattr(lp, key) == defaults[key], f"loss_probe.{key}",
             f"{lp.name} takes no {key}", ", ".join(taken) or "no options")
    need(lp.reduction != "batchmean" or lp.name == "kl_div", "loss_probe.reduction",
         f"batchmean applies to kl_div only, not {lp.name}", "none, mean, sum")
    for key in ("weight", "pos_weight"):
        value = getattr(lp, key)
        need(value is None or len(value) == lp.classes(), f"loss_probe.{key}",
             f"{len(value or ())} values for {lp.classes()} classes (the last axis of shape)",
             f"{lp.classes()} numbers")
        need(value is None or all(v >= 0 for v in value), f"loss_probe.{key}", f"{list(value or ())} has a negative",
             "numbers >= 0")
    need(0.0 <= lp.label_smoothing < 1.0, "loss_probe.label_smoothing", f"{lp.label_smoothing} out of range",
         "0 <= label_smoothing < 1")
    need(lp.ignore_index is None or not lp.soft_labels, "loss_probe.ignore_index",
         "ignore_index applies to class-index targets, and soft_labels gives probabilities", "leave it out")
    need(lp.beta is None or lp.beta >= 0, "loss_probe.beta", f"{lp.beta} < 0", "a number >= 0 (0: the L1 loss)")
    need(lp.delta is None or lp.delta > 0, "loss_probe.delta", f"{lp.delta} <= 0", "a number > 0")
    need(lp.target_values is None or len(lp.target_values) >= 1, "loss_probe.target_values", "is empty",
         "at least one label value")
    need(lp.p in (1, 2), "loss_probe.p", f"{lp.p} is not a multi-margin exponent", "1, 2")
    size = math.prod(lp.shape)
    for key in ("inputs", "targets"):
        value = getattr(lp, key)
        need(value is None or len(value) == size, f"loss_probe.{key}",
             f"{len(value or ())} numbers for shape {list(lp.shape)}", f"{size} numbers (the product of shape)")
    need(lp.targets is None or (lp.name not in CLASS_LOSSES and not lp.soft_labels), "loss_probe.targets",
         f"{lp.name} takes class targets, drawn by the probe", "leave it out")
