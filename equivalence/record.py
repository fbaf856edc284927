"""The canonical record of a run: every quantity at every step, in one layout for every implementation.

``Trajectory.steps[t][quantity][name]`` is a NumPy array for step t+1. Scalar quantities (loss, lr,
keep_ratio) use the name ``SCALAR``. Parameter-shaped quantities use the canonical parameter names and
layout of ``equivalence.data`` (Linear weight [in, out]). Optimizer state uses neutral names under
``state.``: ``state.velocity`` is Paddle's ``velocity`` accumulator and Torch's ``momentum_buffer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCALAR = "-"

# The order in which a step computes its quantities; the first divergence is the earliest in this order.
QUANTITY_ORDER = (
    "loss", "lr", "loss_scale", "dropout_mask", "grad", "step_skipped", "grad_regularized", "state.velocity",
    "update", "param", "ema", "output", "input_grad", "eval_output", "keep_ratio",
)

QUANTITY_DOCS = {
    "loss": "data loss (without any regularization penalty)",
    "lr": "learning rate used by the step (with a schedule: the schedule at epoch step-1)",
    "loss_scale": "loss scale the step's backward pass used (dynamic loss scaling)",
    "dropout_mask": "keep mask (1 kept, 0 dropped) of each dropout layer, recovered from its output",
    "grad": "gradient of the data loss, before regularization (unscaled; absent at a step whose gradients "
            "overflowed under loss scaling)",
    "step_skipped": "1 where loss scaling found inf/NaN gradients and skipped the optimizer step, else 0",
    "grad_regularized": "gradient after regularization (observable where autograd computes it)",
    "state.velocity": "momentum buffer after the step",
    "update": "parameter after the step minus parameter before",
    "param": "parameter after the step",
    "ema": "exponential moving average of the parameter after the step (bias-corrected where the case says)",
    "output": "dropout output in training mode",
    "input_grad": "gradient of sum(output * upstream) with respect to the dropout input",
    "eval_output": "dropout output in eval mode",
    "keep_ratio": "fraction of kept elements, over the whole tensor",
}


def quantity_rank(quantity: str) -> int:
    return QUANTITY_ORDER.index(quantity) if quantity in QUANTITY_ORDER else len(QUANTITY_ORDER)


@dataclass
class Trajectory:
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    steps: list[dict[str, dict[str, np.ndarray]]] = field(default_factory=list)

    def new_step(self) -> dict[str, dict[str, np.ndarray]]:
        self.steps.append({})
        return self.steps[-1]

    def quantities(self) -> set[str]:
        return {q for step in self.steps for q in step}


def put(step: dict, quantity: str, name: str, value) -> None:
    step.setdefault(quantity, {})[name] = np.array(value, dtype=np.float64, copy=True)
