"""A layer-list model in a framework, driven the same way for Paddle and Torch (NumPy and the backend's
primitives only, no framework import).

A backend's network module supplies ``module(layer, attr)`` (the framework layer for a placed layer, or a
residual marker) and ``array(tensor)``; this module walks the layer list (residual adds, dropout masks
recovered from each dropout's input and output), moves parameters and buffers between the framework and
the canonical layout (equivalence/layouts.py), switches train / eval mode, and records the running
statistics and the final eval forward.
"""

from __future__ import annotations

import numpy as np

from .. import data, initializers, layouts
from ..record import put
from ..spec import Case
from ..spec.layers import walk
from .common import NotApplicable, recover_mask

EVAL = "model"


class Network:
    def __init__(self, case: Case, framework: str, modules: dict, fw):
        self.case, self.framework, self.fw = case, framework, fw
        self.layers = case.network()
        self.modules = modules  # layer name -> framework module
        self.params = {}  # canonical name -> framework parameter, in model order
        self.kinds = {}  # canonical name -> (layer kind, role, canonical shape)
        for layer in walk(self.layers):
            roles = dict(layer.params)
            if layer.kind == "instance_norm" and layer.spec.affine is None:
                # left to the framework: Paddle's has a scale and bias (trained, as a user's model would), Torch's not
                roles = {"weight": (layer.spec.num_features,), "bias": (layer.spec.num_features,)}
            for role, shape in roles.items():
                module = modules[layer.name]
                param = getattr(module, layouts.attribute(framework, layer.kind, role), None)
                if param is None:  # the framework's layer has no such parameter (Torch's InstanceNorm scale)
                    continue
                self.params[f"{layer.name}.{role}"] = param
                self.kinds[f"{layer.name}.{role}"] = (layer.kind, role, shape)

    # ------------------------------------------------------------------------------------- parameters

    def load(self, initial: dict[str, np.ndarray]) -> None:
        """Set every parameter from the canonical start: converted, or copied as is for the wrong port."""
        for name, param in self.params.items():
            kind, role, _ = self.kinds[name]
            if name not in initial:  # a parameter only this framework's layer has keeps its own start
                continue
            try:
                value = (layouts.wrong_port if self.case.model.port == "unconverted" else layouts.from_canonical)(
                    self.framework, kind, role, initial[name])
            except layouts.LayoutError as exc:
                raise NotApplicable(str(exc)) from None
            self.fw.set_parameter(param, value.astype(self.case.dtype))

    def canonical(self, name: str, value) -> np.ndarray:
        """A parameter-shaped framework value (parameter, gradient, optimizer state) in the canonical layout;
        a per-parameter number (a step count) passes unchanged."""
        array = self.fw.array(value)
        kind, role, shape = self.kinds[name]
        if array.size != int(np.prod(shape)) or array.size == 1 and array.shape != tuple(shape):
            return array
        return layouts.to_canonical(self.framework, kind, role, array, shape)

    # ---------------------------------------------------------------------------------------- forward

    def _run(self, layers, h, step):
        for layer in layers:
            if layer.kind == "residual":
                h = h + self._run(layer.body, h, step)
                continue
            out = self.modules[layer.name](h)
            if layer.kind == "dropout" and step is not None:
                mask = recover_mask(self.fw.array(h), self.fw.array(out))
                put(step, "dropout_mask", layer.name, mask)
            h = out
        return h

    def forward(self, x, step):
        return self._run(self.layers, x, step)

    def _mode(self, training: bool) -> None:
        for module in self.modules.values():
            module.train() if training else module.eval()

    def record(self, step: dict, last: bool) -> None:
        """Running statistics after the step; after the last step also the eval forward on the eval batch."""
        for layer in walk(self.layers):
            for role, shape in layer.buffers.items():
                value = getattr(self.modules[layer.name], layouts.attribute(self.framework, layer.kind, role))
                put(step, role, layer.name, layouts.to_canonical(self.framework, layer.kind, role,
                                                                 self.fw.array(value), shape))
        if last:
            x = data.eval_inputs(self.case)
            self._mode(False)
            with self.fw.no_grad():
                out = self.forward(self.fw.tensor(x, self.case.dtype if x.dtype.kind == "f" else "int64"), None)
            self._mode(True)
            put(step, "eval_output", EVAL, self.fw.array(out))

    def record_initialisation(self, step: dict) -> None:
        """framework_default: how each parameter's own start sits in the documented initialiser of the
        framework the reference follows (equivalence/initializers.py)."""
        follows = self.case.reference.follows
        for name, param in self.params.items():
            kind, role, _ = self.kinds[name]
            layer = next(layer for layer in walk(self.layers) if name.startswith(layer.name + "."))
            value = self.canonical(name, param)
            skip = layer.spec.padding_idx if kind == "embedding" else None
            put(step, "init_z", name, initializers.z_scores(value, initializers.documented(follows, layer, role), skip))
