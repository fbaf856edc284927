"""The [tolerance], [expect] and [sweep] tables: what a case expects, and the ranges it is swept over."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from .. import versions
from ..backends import BACKENDS
from .base import SpecError, _doc

PERTURBATIONS = ("lr", "no-regularization", "ignore-overrides", "dropout-p", "dropout-training",
                 "norm-momentum", "norm-epsilon", "running-var-bias",
                 "clip-ignored", "clip-threshold", "clip-unclamped", "clip-kind-swapped", "clip-order-swapped",
                 "ignore-lr-multipliers", "schedule-shift", "schedule-restart", "cycle-momentum-ignored",
                 "loss-scale-growth", "loss-scale-backoff", "loss-scale-interval", "ema-decay", "decay-exclude-ignored", "lr-ratio-ignored",
                 "history-size", "line-search-dropped", "maximize-ignored", "decay-coupled",
                 "loss-input-scale", "loss-target-scale", "loss-option", "autocast-flavour",
                 "gradient-reset-swapped", "frozen-ignored", "clip-exclude-ignored", "layer-epsilon",
                 "layer-momentum", "gelu-approximation", "pool-divisor", "leaky-slope", "init-other-framework")
SWEEP_SCALES = ("linear", "log")
DIVERGENCE_KINDS = ("precision", "formula", "unexplained")


@dataclass(frozen=True)
class Tolerance:
    rtol: float = field(metadata=_doc("Relative tolerance: |a-b| <= atol + rtol*|b| element-wise."))
    atol: float = field(metadata=_doc("Absolute tolerance; always given together with rtol."))


@dataclass(frozen=True)
class ToleranceSpec:
    rtol: float | None = field(default=None, metadata=_doc("Overrides the dtype default rtol (needs atol)."))
    atol: float | None = field(default=None, metadata=_doc("Overrides the dtype default atol (needs rtol)."))
    quantities: dict[str, Tolerance] = field(default_factory=dict, metadata=_doc(
        "Per-quantity tolerances, e.g. [tolerance.quantities.keep_ratio] rtol = 0, atol = 0.01."))


@dataclass(frozen=True)
class CompareSpec:
    quantities: tuple[str, ...] = field(default=(), metadata=_doc(
        "Compare only these quantities (names or fnmatch patterns: 'param', 'state.*', 'hyper.*'); empty = every "
        "recorded quantity. The sensitivity checks compare the same selection, so a perturbation that shows only "
        "in a quantity left out makes the case fail. Instead of hiding a quantity behind a huge tolerance."))
    exclude: tuple[str, ...] = field(default=(), metadata=_doc(
        "Quantities (names or patterns) not compared, e.g. ['lr'] or ['hyper.*']."))

    def selects(self, quantity: str) -> bool:
        if self.quantities and not any(fnmatch.fnmatchcase(quantity, p) for p in self.quantities):
            return False
        return not any(fnmatch.fnmatchcase(quantity, p) for p in self.exclude)

    @property
    def restricts(self) -> bool:
        return bool(self.quantities or self.exclude)


@dataclass(frozen=True)
class Divergence:
    implementations: tuple[str, ...] = field(metadata=_doc(
        "Implementation ids expected to diverge, e.g. 'paddle/optimizer'."))
    reason: str = field(metadata=_doc("Why they diverge, in one sentence."))
    references: tuple[str, ...] = field(metadata=_doc(
        "Where it comes from: 'framework/file.py:line' or a documentation URL; at least one."))
    compared_with: str = field(default="reference", metadata=_doc(
        "What they diverge from: 'reference', an implementation id, or a backend name ('paddle') for that "
        "backend's implementation of the same route."))
    parity: str = field(default="", metadata=_doc(
        "The mapping that restores parity, where one exists: what to write or choose so the implementations "
        "agree, naming the case that shows it. Listed in the catalogue (python -m equivalence catalogue)."))
    kind: str = field(default="", metadata=_doc(
        "What the divergence is, checked against the explanation the suite finds (equivalence/explain.py): "
        "precision (float32 rounding of an attribute or inverse reproduces it), formula (a different formula "
        "or convention), unexplained (no flavour of the reference reproduces it). Empty: not checked.",
        DIVERGENCE_KINDS))
    versions: dict[str, str] = field(default_factory=dict, metadata=_doc(
        "Framework version ranges in which the divergence is expected, e.g. { paddle = \">=3.0,<3.2\" } "
        "(PEP 440); with another installed version the check expects equal. Empty: every version."))


@dataclass(frozen=True)
class ExpectSpec:
    divergent: tuple[Divergence, ...] = field(default=(), metadata=_doc(
        "Expected divergences ([[expect.divergent]]); everything else must equal the reference. "
        "A declared divergence that does not occur fails as stale."))
    sensitivity: tuple[str, ...] = field(default=(), metadata=_doc(
        "Extra perturbations the tolerance must detect, besides the defaults for the case.", PERTURBATIONS))


@dataclass(frozen=True)
class SweepRange:
    low: float = field(metadata=_doc("Lowest value drawn."))
    high: float = field(metadata=_doc("Highest value drawn, > low."))
    scale: str = field(default="linear", metadata=_doc(
        "Spacing of the grid the values are drawn from: log spaces them evenly in log(value) (needs low > 0; "
        "for learning rates, epsilons, coefficients, loss weights).", SWEEP_SCALES))
    integer: bool = field(default=False, metadata=_doc(
        "Draw whole numbers (shapes, batch sizes, step counts); low and high must be whole, scale linear."))
    steps: int = field(default=1000, metadata=_doc(
        "Grid intervals between low and high (steps + 1 values, non-integer ranges; the case's own value is one "
        "more): a counter-example is located to one step."))


@dataclass(frozen=True)
class SweepSpec:
    ranges: dict[str, SweepRange] = field(metadata=_doc(
        "Dotted key of this case file -> range, e.g. [sweep.ranges] \"optimizer.lr\" = { low = 1e-4, high = 1, "
        "scale = \"log\" }; also 'model.sizes[1]', 'regularization.l2', 'loss_weight'. Each drawn variant is "
        "the case file with those keys set, loaded and validated like any case file."))
    examples: int = field(default=100, metadata=_doc(
        "Variants a full sweep draws (python -m equivalence sweep CASE_ID; --examples overrides)."))
    ci_examples: int = field(default=10, metadata=_doc(
        "Variants the bounded sweep of the pytest item case-id[sweep] draws."))


def _validate_ranges(file: str, key: str, ranges: dict[str, str]) -> None:
    """Framework names the runner knows and PEP 440 ranges (see equivalence/versions.py)."""
    # BACKENDS is read at call time: the harness tests swap in fake backends.
    for framework, text in ranges.items():
        if framework not in BACKENDS:
            raise SpecError(file, f"{key}.{framework}", "is not a framework of this suite", ", ".join(BACKENDS))
        try:
            versions.parse(text)
        except ValueError as exc:
            raise SpecError(file, f"{key}.{framework}", str(exc), versions.ACCEPTED) from None
