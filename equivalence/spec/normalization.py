"""The [normalization] table: a normalization probe (batch norm or layer norm)."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from .base import _doc, _only_table

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case

NORMALIZATION_LAYERS = ("batch_norm1d", "batch_norm2d", "layer_norm")
NORMALIZATION_ROUTES = ("layer", "functional")
STATISTICS = ("batch", "running")
MOMENTUM_MAPPINGS = ("converted", "same_number")
RUNNING_VARIANCES = ("unbiased", "biased")
# What each framework uses when a case leaves momentum or epsilon out; the reference assumes these, and the
# norm-epsilon / norm-momentum sensitivity checks prove a different default would be detected.
DEFAULT_NORM_MOMENTUM = 0.1  # neutral convention: weight of the new batch statistic
DEFAULT_NORM_EPSILON = 1e-5


@dataclass(frozen=True)
class NormalizationSpec:
    layer: str = field(metadata=_doc(
        "batch_norm1d (Paddle BatchNorm1D, Torch BatchNorm1d; input [N, C] or [N, C, L]), batch_norm2d "
        "([N, C, H, W]) or layer_norm (statistics over the last `normalized_dims` axes of each sample).",
        NORMALIZATION_LAYERS))
    shape: tuple[int, ...] = field(metadata=_doc("Shape of one batch, channels on axis 1 (NCHW)."))
    seed: int = field(default=0, metadata=_doc("Seed of the batches, upstream gradients and affine parameters."))
    momentum: float | None = field(default=None, metadata=_doc(
        "Batch norm: weight of the NEW batch statistic, running = (1 - momentum) * running + momentum * batch. "
        "This is Torch's convention; Paddle's `momentum` weighs the OLD running value, so Paddle gets "
        "1 - momentum (see momentum_mapping). Omitted = each framework's default (Paddle 0.9, Torch 0.1); "
        f"the reference then uses {DEFAULT_NORM_MOMENTUM}."))
    momentum_mapping: str = field(default="converted", metadata=_doc(
        "How the backends pass momentum: converted (Paddle gets 1 - momentum, the right mapping) or "
        "same_number (both get the number as written: the natural, wrong mapping).", MOMENTUM_MAPPINGS))
    epsilon: float | None = field(default=None, metadata=_doc(
        f"Added to the variance; omitted = each framework's default (the reference uses {DEFAULT_NORM_EPSILON:g})."))
    affine: bool = field(default=True, metadata=_doc(
        "Learnable scale and shift (drawn from the seed, not 1 and 0, so their gradients mean something)."))
    normalized_dims: int = field(default=1, metadata=_doc(
        "layer_norm only: how many trailing axes are normalized (normalized_shape = shape[-k:])."))
    train_statistics: str = field(default="batch", metadata=_doc(
        "Statistics of the train-mode forwards: batch (and the running estimates are updated) or running "
        "(Paddle use_global_stats=True; Torch: the module in eval mode, or F.batch_norm(training=False); "
        "nothing is updated).", STATISTICS))
    eval_statistics: str = field(default="running", metadata=_doc(
        "Statistics of the eval forward: running or batch (Paddle use_global_stats=False; Torch "
        "track_running_stats=False, which keeps no running estimates at all).", STATISTICS))

    def normalized_axes(self) -> tuple[int, ...]:
        """The axes a statistic is taken over: all but the channel axis (batch norm), or the trailing
        `normalized_dims` axes (layer norm)."""
        rank = len(self.shape)
        if self.layer == "layer_norm":
            return tuple(range(rank - self.normalized_dims, rank))
        return (0,) + tuple(range(2, rank))

    def param_shape(self) -> tuple[int, ...]:
        return self.shape[-self.normalized_dims:] if self.layer == "layer_norm" else (self.shape[1],)

    def tracks_running_stats(self) -> bool:
        """Whether the layer keeps running estimates that a train-mode forward updates."""
        return self.layer != "layer_norm"


def _validate_normalization(case: Case, need) -> None:
    _only_table(case, "normalization", need)
    n = case.normalization
    rank = len(n.shape)
    need(all(s >= 1 for s in n.shape), "normalization.shape", f"{list(n.shape)} is not a shape", "positive integers")
    ranks = {"batch_norm1d": (2, 3), "batch_norm2d": (4,), "layer_norm": (2, 3, 4, 5)}[n.layer]
    need(rank in ranks, "normalization.shape", f"{n.layer} takes input of rank {' or '.join(map(str, ranks))}, "
         f"not {list(n.shape)}", f"rank {' or '.join(map(str, ranks))}")
    need(n.epsilon is None or n.epsilon > 0, "normalization.epsilon", f"{n.epsilon} <= 0", "a number > 0")
    if n.layer == "layer_norm":
        need(1 <= n.normalized_dims < rank, "normalization.normalized_dims",
             f"{n.normalized_dims} trailing axes of a rank-{rank} input", f"1..{rank - 1}")
        defaults = {f.name: f.default for f in dataclasses.fields(NormalizationSpec)}
        for key in ("momentum", "train_statistics", "eval_statistics", "momentum_mapping"):
            need(getattr(n, key) == defaults[key], f"normalization.{key}", "layer_norm keeps no running statistics",
                 "leave it out")
        return
    need(n.normalized_dims == 1, "normalization.normalized_dims", "applies to layer_norm only", "leave it out")
    count = math.prod(n.shape[i] for i in n.normalized_axes())
    # One value per channel is a case (Torch refuses it, Paddle passes the input through); its unbiased running
    # variance would divide by n - 1 = 0, so such a case feeds the running variance the biased estimate.
    need(count >= 2 or case.reference.batch_norm_running_var == "biased" or not n.tracks_running_stats(),
         "normalization.shape", f"{count} value per channel: the unbiased running variance divides by n - 1 = 0",
         "N * spatial size >= 2, or reference.batch_norm_running_var = 'biased'")
    need(n.momentum is None or 0.0 <= n.momentum <= 1.0, "normalization.momentum",
         f"{n.momentum} is not a weight", "0 <= momentum <= 1")
    need(n.momentum is not None or n.momentum_mapping == "converted", "normalization.momentum_mapping",
         "same_number needs a momentum to pass as written", "a momentum, or converted")
    need(not (n.train_statistics == "running" and n.eval_statistics == "batch"), "normalization.eval_statistics",
         "batch statistics in eval after running statistics in training is neither framework's layer",
         "running (with train_statistics = 'running')")
