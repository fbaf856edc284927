"""The [model] table: the network a training case trains."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import _doc

ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")
LOSSES = ("mean", "mse", "cross_entropy")


@dataclass(frozen=True)
class ModelSpec:
    sizes: tuple[int, ...] = field(metadata=_doc(
        "Layer widths [in, hidden..., out]; two entries make a single Linear layer."))
    bias: bool = field(default=True, metadata=_doc("Whether each Linear layer has a bias."))
    activation: str = field(default="tanh", metadata=_doc(
        "Activation between Linear layers (not after the last).", ACTIVATIONS))
    dropout: float = field(default=0.0, metadata=_doc(
        "Dropout probability after each activation; 0 disables it. Masks differ between frameworks, so "
        "the reference replays the mask each implementation recovered from its own outputs."))
    init_bound: float | None = field(default=None, metadata=_doc(
        "Initial parameters are drawn uniform(-bound, bound); default 1/sqrt(fan_in) per layer."))
