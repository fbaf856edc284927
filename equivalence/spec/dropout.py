"""The [dropout] table: a dropout probe (one dropout-family layer on a large tensor)."""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field

from .base import _doc, _only_table, literal_numbers
from .expectations import Tolerance

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case

DROPOUT_ROUTES = ("layer", "functional")
DROPOUT_MODES = ("upscale_in_train", "downscale_in_infer")
# The dropout family: which elements one draw of the mask covers, and what a dropped element becomes.
DROPOUT_VARIANTS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
CHANNEL_VARIANTS = {"dropout1d": (2, 3), "dropout2d": (4,), "dropout3d": (5,)}  # variant -> input ranks
ALPHA_VARIANTS = ("alpha_dropout", "feature_alpha_dropout")
# The sampled quantities' default tolerance, in standard deviations of one draw: a correct framework fails
# it with probability ~6e-7, and a mask shared along the batch or a moved p still shows.
SAMPLING_SIGMAS = 5


@dataclass(frozen=True)
class DropoutSpec:
    p: float = field(metadata=_doc("Drop probability, 0 <= p <= 1 (p = 1 drops everything in both frameworks)."))
    shape: tuple[int, ...] = field(metadata=_doc("Input shape; large, so the keep ratio is meaningful."))
    seed: int = field(default=0, metadata=_doc("Seed for the input, the upstream gradient and the framework RNG."))
    variant: str = field(default="dropout", metadata=_doc(
        "dropout: one draw per element (or per `axis` slice); dropout1d/2d/3d: one draw per (sample, channel), "
        "whole channels dropped; alpha_dropout / feature_alpha_dropout: dropped elements (channels) become "
        "SELU's saturation value and everything is scaled and shifted to keep mean and variance.",
        DROPOUT_VARIANTS))
    axis: tuple[int, ...] | None = field(default=None, metadata=_doc(
        "variant dropout only: Paddle's `axis`: the mask has the input's size along these axes and size 1 "
        "along the others (one draw shared there); omitted = every axis. Torch expresses every axis "
        "(Dropout) and [0, 1] on 3-D to 5-D input (Dropout1d/2d/3d); other axis sets are not applicable."))
    mode: str = field(default="upscale_in_train", metadata=_doc(
        "upscale_in_train: scale kept elements by 1/(1-p) in training, identity in eval; "
        "downscale_in_infer (Paddle only, variant dropout): no scaling in training, scale by (1-p) in eval.",
        DROPOUT_MODES))
    training: bool = field(default=True, metadata=_doc(
        "The training flag of the training-mode call: false calls the functional route with training=False "
        "and runs the layer in eval mode; the reference is then the eval formula with every element kept."))
    omit_training: bool = field(default=False, metadata=_doc(
        "Functional route only: leave the training argument out, so each framework's default applies "
        "(True for every Paddle dropout, False for Torch's alpha_dropout and feature_alpha_dropout); the "
        "reference still follows `training`."))
    zero_fraction: float = field(default=0.05, metadata=_doc(
        "Fraction of inputs set exactly to zero, where the mask cannot be read off the output."))
    values: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "A literal input instead of the drawn one, row-major, prod(shape) numbers; TOML writes nan, inf and -inf.",
        parse=literal_numbers))
    evaluate: bool = field(default=True, metadata=_doc(
        "Record the eval-mode output. false for a literal input with NaN or Inf: eval is the identity, and a "
        "NaN or Inf never compares equal, so the eval output could only diverge."))

    def mask_shape(self) -> tuple[int, ...]:
        """Shape of one draw of the mask; it broadcasts over the input. Channel variants draw per
        (sample, channel); a rank-2 dropout1d input is one unbatched sample [C, L] in both frameworks."""
        rank = len(self.shape)
        if self.variant in CHANNEL_VARIANTS or self.variant == "feature_alpha_dropout":
            if self.variant == "dropout1d" and rank == 2:
                return (self.shape[0], 1)
            return self.shape[:2] + (1,) * (rank - 2)
        if self.variant == "dropout" and self.axis is not None:
            return tuple(s if i in self.axis else 1 for i, s in enumerate(self.shape))
        return self.shape

    def sampling_spread(self, quantity: str) -> float:
        """Standard deviation of keep_ratio or batch_agreement over one draw of the mask, each entry kept with
        probability q = 1 - p. keep_ratio: the mean of n Bernoulli(q), sqrt(q(1-q)/n). batch_agreement: the
        mean of [m_i == m_(i+1)] over the C(N-1) neighbouring pairs along the batch, each equal with
        probability a = q^2 + (1-q)^2; neighbours sharing an entry covary by q^3 + (1-q)^3 - a^2."""
        q = 1 - self.p if self.training else 1.0
        shape = self.mask_shape()
        n = math.prod(shape)
        if quantity == "keep_ratio":
            return math.sqrt(q * (1 - q) / n)
        if quantity == "batch_agreement" and shape[0] > 1:
            batch, columns = shape[0], n // shape[0]
            a = q * q + (1 - q) ** 2
            covariance = q ** 3 + (1 - q) ** 3 - a * a
            pairs = columns * (batch - 1)
            variance = pairs * a * (1 - a) + 2 * columns * (batch - 2) * covariance
            return math.sqrt(max(variance, 0.0)) / pairs
        return 0.0

    def sampling_tolerance(self, quantity: str) -> Tolerance | None:
        """Default tolerance of a sampled quantity: SAMPLING_SIGMAS spreads, absolute; None where the draw
        has no spread (p = 0 or 1, or not training) or the quantity is not sampled."""
        spread = self.sampling_spread(quantity)
        return Tolerance(rtol=0.0, atol=SAMPLING_SIGMAS * spread) if spread > 0 else None


def _validate_dropout(case: Case, need) -> None:
    _only_table(case, "dropout", need)
    d = case.dropout
    need(0.0 <= d.p <= 1.0, "dropout.p", f"{d.p} is not a drop probability", "0 <= p <= 1")
    need(len(d.shape) >= 1 and all(s >= 1 for s in d.shape), "dropout.shape", f"{list(d.shape)} is not a shape",
         "positive integers")
    need(0.0 <= d.zero_fraction < 1.0, "dropout.zero_fraction", f"{d.zero_fraction} out of range", "0 <= x < 1")
    size = 1
    for s in d.shape:
        size *= s
    need(d.values is None or len(d.values) == size, "dropout.values",
         f"{len(d.values or ())} numbers for shape {list(d.shape)}", f"{size} numbers (the product of shape)")
    rank = len(d.shape)
    if d.variant in CHANNEL_VARIANTS:
        ranks = CHANNEL_VARIANTS[d.variant]
        need(rank in ranks, "dropout.shape", f"{d.variant} takes input of rank {' or '.join(map(str, ranks))}, "
             f"not {list(d.shape)}", f"rank {' or '.join(map(str, ranks))}")
    if d.variant == "feature_alpha_dropout":
        need(rank >= 2, "dropout.shape", f"feature_alpha_dropout needs [N, C, ...], not {list(d.shape)}", "rank >= 2")
    if d.axis is not None:
        need(d.variant == "dropout", "dropout.axis", f"applies to variant dropout, not {d.variant}",
             "variant = 'dropout'")
        need(len(d.axis) >= 1 and len(set(d.axis)) == len(d.axis) and all(0 <= a < rank for a in d.axis),
             "dropout.axis", f"{list(d.axis)} is not a set of axes of {list(d.shape)}",
             f"distinct integers in 0..{rank - 1}")
    need(d.mode == "upscale_in_train" or d.variant == "dropout", "dropout.mode",
         f"{d.mode} applies to variant dropout only", "upscale_in_train")
    need(not d.omit_training or case.selected_routes == ("functional",), "dropout.omit_training",
         "only the functional route takes a training argument", "routes = ['functional']")
