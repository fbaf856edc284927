"""The canonical record of a run: every quantity at every step, in one layout for every implementation.

``Trajectory.steps[t][quantity][name]`` is a NumPy array for step t+1. Scalar quantities (loss, lr,
keep_ratio) use the name ``SCALAR``. Parameter-shaped quantities use the canonical parameter names and
layout of ``equivalence.data`` (Linear weight [in, out]). Optimizer state uses neutral names under
``state.``: ``state.velocity`` is Paddle's ``velocity`` accumulator and Torch's ``momentum_buffer``.

A normalization probe records ``steps + 1`` entries: one per train-mode batch (output, input_grad, the
``grad`` of ``weight`` and ``bias``, running statistics), then the eval forward (eval_output, and the
running statistics after it, which an eval forward must leave alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCALAR = "-"

# The order in which a step computes its quantities; the first divergence is the earliest in this order.
QUANTITY_ORDER = (
    "loss", "lr", "loss_scale", "param_lr", "dropout_mask", "grad", "step_skipped", "grad_norm", "grad_clipped",
    "grad_regularized", "state.velocity", "update", "param", "ema", "output", "input_grad", "running_mean",
    "running_var", "eval_output", "keep_ratio", "batch_agreement",
)

QUANTITY_DOCS = {
    "loss": "data loss (without any regularization penalty)",
    "lr": "learning rate used by the step (with a schedule: the schedule at epoch step-1)",
    "loss_scale": "loss scale the step's backward pass used (dynamic loss scaling)",
    "dropout_mask": "keep mask (1 kept, 0 dropped) of each dropout layer, recovered from its output and input "
                    "gradient, at the shape of one draw (per channel for whole-channel dropout)",
    "grad": "gradient of the data loss, before regularization (unscaled; absent at a step whose gradients "
            "overflowed under loss scaling)",
    "step_skipped": "1 where loss scaling found inf/NaN gradients and skipped the optimizer step, else 0",
    "grad_regularized": "gradient after regularization (observable where autograd computes it)",
    "param_lr": "learning rate of each parameter, lr times its multiplier (cases with lr_multipliers)",
    "grad_norm": "norm of the gradients before clipping, one global value (global_norm) or one per parameter "
                 "(norm), as the clip function returns it",
    "grad_clipped": "gradient after clipping (observable where the clip function runs before step(); the "
                    "optimizer's grad_clip= clips inside step())",
    "state.velocity": "momentum buffer after the step",
    "update": "parameter after the step minus parameter before",
    "param": "parameter after the step",
    "ema": "exponential moving average of the parameter after the step (bias-corrected where the case says)",
    "output": "probe layer's output in training mode (dropout, normalization)",
    "input_grad": "gradient of sum(output * upstream) with respect to the probe layer's input",
    "running_mean": "normalization layer's running mean after the forward (where the layer keeps one)",
    "running_var": "normalization layer's running variance after the forward (where the layer keeps one)",
    "eval_output": "probe layer's output in eval mode",
    "keep_ratio": "fraction of kept mask entries (elements, or channels for whole-channel dropout)",
    "batch_agreement": "fraction of mask entries equal to the same entry one step along axis 0 (the batch): "
                       "q^2 + (1-q)^2 for independent draws with keep probability q, 1 for a mask shared "
                       "across the batch",
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
