"""Optimizer updates in NumPy, one module per family, each written from both frameworks' formulas (the
docstrings cite them), and the registry of hyper-parameters with each framework's default."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, Step, resolve
from .registry import REGISTRY

__all__ = ["Arg", "Hyper", "OptimizerInfo", "REGISTRY", "ReferenceOptimizer", "Step", "coefficient_attribute",
           "resolve"]


def coefficient_attribute(case, value: float) -> float:
    """An L2 coefficient as the update sees it: rounded to float32 under the ``float32`` attribute flavour
    when Paddle fuses L2Decay into the optimizer's kernel as a float attribute (Momentum)."""
    if (case.reference.attributes == "float32" and case.reference.l2_attribute == "kernel"
            and REGISTRY[case.optimizer.name].fused_l2):
        return float(np.float32(value))
    return value


class ReferenceOptimizer:
    """The case's optimizer in NumPy: resolved hyper-parameters, and one state dict per parameter."""

    def __init__(self, case, dtype: np.dtype):
        self.case, self.dtype = case, dtype
        self.info = REGISTRY[case.optimizer.name]
        self.values = resolve(case)
        self.states: dict[str, dict] = {}

    @property
    def lr(self):
        return self.dtype.type(self.values["lr"])

    def set_cycled_momentum(self, value: float) -> None:
        """A scheduler's cycled momentum: SGD's momentum, or beta1 of the Adam family (Torch CyclicLR /
        OneCycleLR write group["momentum"] or group["betas"][0], torch/optim/lr_scheduler.py:170-174)."""
        self.values["momentum" if "momentum" in self.info.hypers else "beta1"] = value

    def recorded_hyper(self) -> dict[str, float]:
        """hyper.<name> quantities: every scalar hyper-parameter but lr (recorded as ``lr``)."""
        return {k: float(self.values[k]) for k, h in self.info.hypers.items() if h.recorded and k != "lr"}

    def closure_step(self, names, params: dict, evaluate) -> dict:
        """One step of an optimizer that re-evaluates the loss itself (L-BFGS) over all parameters, flattened
        in model order; ``evaluate(params) -> (loss, {name: gradient})``. The state quantities are recorded
        under the first parameter, where both frameworks keep them."""
        from .lbfgs import lbfgs_step, recorded_state

        shapes = [params[n].shape for n in names]
        sizes = [params[n].size for n in names]

        def unflatten(flat):
            parts = np.split(flat, np.cumsum(sizes)[:-1])
            return {n: part.reshape(shape) for n, part, shape in zip(names, parts, shapes)}

        def flat_evaluate(flat):
            loss, grads = evaluate(unflatten(flat))
            return float(loss), np.concatenate([grads[n].reshape(-1) for n in names])

        self.closure_state = getattr(self, "closure_state", {})
        flat = np.concatenate([params[n].reshape(-1) for n in names])
        new = lbfgs_step(self.values, self.closure_state, flat, flat_evaluate, self.case.reference.follows)
        for i, n in enumerate(names):
            self.states[n] = recorded_state(self.closure_state) if i == 0 else {}
        return unflatten(new)

    def step(self, name: str, w, g, lr):
        """One update of one parameter; its state dict holds the neutral state names afterwards."""
        state = self.states.setdefault(name, {})
        context = Step(self.case, self.info, self.values, self.dtype, name=name, lr=lr)
        return self.info.update(context, w, g, state)
