"""The [regularization] table: L1 / L2 coefficients, per-parameter overrides, the penalty form."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import _doc

PENALTY_FORMS = ("half_squared", "norm")


@dataclass(frozen=True)
class Coefficients:
    l1: float = field(default=0.0, metadata=_doc("L1 coefficient c: adds c*sign(w) to the gradient."))
    l2: float = field(default=0.0, metadata=_doc("L2 coefficient c: adds c*w to the gradient."))


@dataclass(frozen=True)
class RegularizationSpec:
    l1: float = field(default=0.0, metadata=_doc(
        "L1 coefficient c: penalty c*sum(|w|), gradient c*sign(w). With l2 too this is elastic net."))
    l2: float = field(default=0.0, metadata=_doc(
        "L2 coefficient c: penalty 0.5*c*sum(w**2), gradient c*w (see penalty_form)."))
    parameters: tuple[str, ...] = field(default=(), metadata=_doc(
        "Parameter names or fnmatch patterns (e.g. '*.weight') the coefficients apply to; empty = all."))
    overrides: dict[str, Coefficients] = field(default_factory=dict, metadata=_doc(
        "Per-parameter coefficients that take priority over l1/l2 (Paddle ParamAttr regularizer, "
        "Torch param group). Keys are parameter names or patterns."))
    penalty_form: str = field(default="half_squared", metadata=_doc(
        "How the loss_penalty route and the reference write the L2 penalty: half_squared = "
        "0.5*c*sum(w**2); norm = c*norm(w, 2), not squared (a textbook mistake).", PENALTY_FORMS))
