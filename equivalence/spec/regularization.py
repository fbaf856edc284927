"""The [regularization] table: L1 / L2 coefficients, per-parameter overrides, the penalty form."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import _doc

PENALTY_FORMS = ("half_squared", "squared", "norm")
PADDLE_DECAY_ARGUMENTS = ("regularizer", "float")


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
        "0.5*c*sum(w**2); squared = c*sum(w**2) without the 1/2 (gradient 2*c*w: twice L2Decay(c) and Torch's "
        "weight_decay=c); norm = c*norm(w, 2), not squared (a textbook mistake).", PENALTY_FORMS))
    paddle_argument: str = field(default="regularizer", metadata=_doc(
        "How Paddle's optimizer route passes the case-wide L2 coefficient: regularizer = weight_decay=L2Decay(c); "
        "float = weight_decay=c, which paddle/optimizer/optimizer.py:269-270 (and Momentum, momentum.py:228-230) "
        "turn into L2Decay(c), but which AdamW and Lamb take as their decoupled coefficient.",
        PADDLE_DECAY_ARGUMENTS))
