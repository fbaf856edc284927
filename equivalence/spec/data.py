"""The [data] table: the seeded inputs (and targets) of a training case."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import _doc

DISTRIBUTIONS = ("uniform", "normal")


@dataclass(frozen=True)
class DataSpec:
    seed: int = field(metadata=_doc("Seed of NumPy's default_rng for inputs, targets and initial params."))
    batch_size: int = field(metadata=_doc("Rows per batch."))
    batches: int = field(default=1, metadata=_doc(
        "Number of distinct batches; step t uses batch (t-1) mod batches. 1 = full-batch descent."))
    distribution: str = field(default="uniform", metadata=_doc(
        "Input distribution: uniform [0, 1) (like paddle.rand / torch.rand) or standard normal.",
        DISTRIBUTIONS))
    inputs: tuple[tuple[float, ...], ...] | None = field(default=None, metadata=_doc(
        "Literal inputs, shape [batch_size * batches, sizes[0]]; replaces the drawn ones."))
    shape: tuple[int, ...] = field(default=(), metadata=_doc(
        "Per-sample input shape for a layer-list model: [features], [C, L], [C, H, W] (NCHW images) or [L] "
        "(token ids, with `tokens`). Default [sizes[0]] for the MLP shorthand."))
    tokens: int | None = field(default=None, metadata=_doc(
        "Integer token ids in [0, tokens) instead of floats (an embedding's input)."))
    pad_id: int | None = field(default=None, metadata=_doc(
        "Token inputs: each sample ends in 1..L/2 copies of this id (padding), drawn per sample; the other "
        "tokens are never this id."))
