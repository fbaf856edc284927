"""The layer-list model inside the reference's training loop: the context of a run (running statistics,
dropout masks replayed or drawn), the loss over N-D outputs with a stated class axis, and the eval forward
that ends the run."""

from __future__ import annotations

import numpy as np

from .. import data, initializers
from ..record import Trajectory, put
from ..spec import Case
from ..spec.layers import walk
from . import layers as network_layers

EVAL = "model"  # the name eval_output is recorded under


class Network:
    def __init__(self, case: Case, dtype: np.dtype, recorded: Trajectory | None, rng):
        self.case, self.layers = case, case.network()
        self.recorded, self.rng, self.step_index = recorded, rng, 0
        self.masks: dict[str, np.ndarray] = {}
        follows_paddle = case.reference.follows == "paddle"
        self.ctx = network_layers.Context(
            dtype=dtype, running_var=case.reference.batch_norm_running_var,
            norm_attributes=case.reference.norm_attributes, exclude_padding=follows_paddle,
            zero_padding_lookup=follows_paddle, mask=self._mask)
        for layer in walk(self.layers):
            if layer.buffers:
                channels = layer.buffers["running_mean"]
                self.ctx.buffers[layer.name] = {"running_mean": np.zeros(channels, dtype),
                                                "running_var": np.ones(channels, dtype)}

    def _mask(self, name: str, shape: tuple) -> np.ndarray:
        if self.recorded is not None:
            mask = self.recorded.steps[self.step_index - 1]["dropout_mask"][name].copy()
        else:
            p = next(layer.spec.p for layer in walk(self.layers) if layer.name == name)
            mask = (self.rng.uniform(size=shape) >= p).astype(np.float64)
        self.masks[name] = mask
        return mask

    def forward(self, params, x, step_index: int):
        self.step_index, self.masks = step_index, {}
        self.ctx.training = True
        return network_layers.forward(self.layers, params, x, self.ctx)

    def backward(self, params, cache, grad_out) -> dict:
        return network_layers.backward(self.layers, params, cache, grad_out)[1]

    def record(self, step: dict) -> None:
        """The running statistics after the step's forward, per batch-norm layer."""
        for name, stats in self.ctx.buffers.items():
            put(step, "running_mean", name, stats["running_mean"])
            put(step, "running_var", name, stats["running_var"])

    def evaluate(self, params, step: dict) -> None:
        """The trained model in eval mode (running statistics, no dropout) on the eval batch."""
        self.ctx.training = False
        x = data.eval_inputs(self.case)
        x = x if x.dtype.kind == "i" else x.astype(self.ctx.dtype)
        out, _ = network_layers.forward(self.layers, params, x, self.ctx)
        put(step, "eval_output", EVAL, out)


def loss_and_grad(case: Case, out, target):
    """Mean loss over every element (mse, mean) or every labelled position (cross_entropy, classes on
    ``model.class_axis``), and its gradient."""
    if case.loss != "cross_entropy":
        from .model import loss_and_grad as flat
        return flat(case, out, target)
    axis = case.model.class_axis % out.ndim
    z = np.moveaxis(out, axis, -1)
    shifted = z - z.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    onehot = (np.arange(z.shape[-1]) == target[..., None]).astype(out.dtype)
    count = target.size
    loss = -(log_probs * onehot).sum() / out.dtype.type(count)
    grad = (np.exp(log_probs) - onehot) / out.dtype.type(count)
    return loss, np.moveaxis(grad, -1, axis)


def framework_default_start(case: Case) -> dict[str, np.ndarray]:
    """model.init = framework_default: the reference's own start, drawn from the documented initialisers of
    ``reference.initializer`` (default: the framework it follows); embedding padding rows zeroed as both do."""
    source = case.reference.initializer or case.reference.follows
    rng = np.random.default_rng([case.data.seed, 7])
    params = {}
    for layer in walk(case.network()):
        for role, shape in layer.params.items():
            value = initializers.documented(source, layer, role).draw(rng, shape)
            if layer.kind == "embedding" and layer.spec.padding_idx is not None:
                value[layer.spec.padding_idx] = 0.0
            params[f"{layer.name}.{role}"] = data._rounded(value, case.dtype)
    return params


def record_initialisation(case: Case, params: dict, step: dict) -> None:
    """init_z of every parameter's start against the documented initialiser of the framework followed."""
    for layer in walk(case.network()):
        for role in layer.params:
            skip = layer.spec.padding_idx if layer.kind == "embedding" else None
            dist = initializers.documented(case.reference.follows, layer, role)
            put(step, "init_z", f"{layer.name}.{role}",
                initializers.z_scores(params[f"{layer.name}.{role}"], dist, skip))
