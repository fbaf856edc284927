"""The [model] table: the network a training case trains."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import _doc
from .layers import LayerSpec

ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")
LOSSES = ("mean", "mse", "cross_entropy")
INITS = ("seeded", "framework_default")
PORTS = ("converted", "unconverted")


@dataclass(frozen=True)
class ModelSpec:
    sizes: tuple[int, ...] = field(default=(), metadata=_doc(
        "The MLP shorthand: layer widths [in, hidden..., out]; two entries make a single Linear layer. "
        "Either sizes or layers."))
    layers: tuple[LayerSpec, ...] = field(default=(), metadata=_doc(
        "The model as a list of layers ([[model.layers]] with kind and its arguments), applied in order to the "
        "[data] input; either sizes or layers."))
    bias: bool = field(default=True, metadata=_doc("Whether each Linear layer has a bias."))
    activation: str = field(default="tanh", metadata=_doc(
        "Activation between Linear layers (not after the last).", ACTIVATIONS))
    dropout: float = field(default=0.0, metadata=_doc(
        "Dropout probability after each activation; 0 disables it. Masks differ between frameworks, so "
        "the reference replays the mask each implementation recovered from its own outputs."))
    init_bound: float | None = field(default=None, metadata=_doc(
        "Initial parameters are drawn uniform(-bound, bound); default 1/sqrt(fan_in) per layer."))
    init: str = field(default="seeded", metadata=_doc(
        "seeded: every implementation starts from the suite's seeded draw (values compared from step 0); "
        "framework_default (layers only): each framework initialises by itself; the distribution of each "
        "parameter (mean, std, bounds: quantity init_z) is compared against the documented initialiser of the "
        "framework [reference] follows, then each trains from its own start (trajectories not compared).",
        INITS))
    port: str = field(default="converted", metadata=_doc(
        "converted: weights enter each framework in its own layout (equivalence/layouts.py); unconverted: the "
        "canonical array is copied as is (the natural wrong port of a Paddle Linear weight [in, out] into a "
        "Torch Linear [out, in], accepted silently when square; other shapes are refused).", PORTS))
    class_axis: int = field(default=1, metadata=_doc(
        "cross_entropy over N-D logits: the class axis of the model output (Paddle's default is the last axis, "
        "Torch's is 1; each framework is told this one)."))
