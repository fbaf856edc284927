"""The training loop of the reference: forward, loss, backward, regularization, optimizer step."""

from __future__ import annotations

import numpy as np

from .. import data
from ..record import SCALAR, Trajectory, put
from ..spec import Case
from .model import backward, forward, loss_and_grad
from .optimizers import ReferenceOptimizer, coefficient_attribute


def regularization_grad(case: Case, name: str, w, coefficients) -> np.ndarray:
    """Gradient of the penalty on one parameter: l1*sign(w) + l2*w, or l2*w/norm(w) for the 'norm'
    form (the gradient of l2*norm(w, 2), which is not the L2Decay rule)."""
    c = coefficients[name]
    g = np.zeros_like(w)
    if c.l1:
        g = g + w.dtype.type(c.l1) * np.sign(w)
    if c.l2:
        if case.regularization.penalty_form == "norm":
            norm = np.sqrt((w * w).sum())
            g = g + (w.dtype.type(c.l2) * w / norm if norm > 0 else np.zeros_like(w))
        else:
            g = g + w.dtype.type(coefficient_attribute(case, c.l2)) * w
    return g


def run_training(case: Case, dtype: str, recorded: Trajectory | None) -> Trajectory:
    np_dtype = np.dtype(dtype)
    params = {k: v.astype(np_dtype) for k, v in data.initial_params(case).items()}
    batch_list = [(x.astype(np_dtype), None if y is None else (y if y.dtype.kind == "i" else y.astype(np_dtype)))
                  for x, y in data.batches(case)]
    coefficients = case.coefficients()
    optimizer = ReferenceOptimizer(case, np_dtype)
    lr = optimizer.lr
    rng = np.random.default_rng([case.data.seed, 3])
    traj = Trajectory(initial={k: v.astype(np.float64) for k, v in params.items()})
    for step_index in range(1, case.steps + 1):
        step = traj.new_step()
        x, y = batch_list[data.batch_for_step(case, step_index)]
        masks = _masks(case, recorded, step_index, x.shape[0], rng)
        out, cache = forward(case, params, x, masks, np_dtype)
        loss, grad_out = loss_and_grad(case, out, y)
        grads = backward(case, params, cache, grad_out)
        for key, value in optimizer.recorded_hyper().items():
            put(step, f"hyper.{key}", SCALAR, value)
        put(step, "loss", SCALAR, loss)
        put(step, "lr", SCALAR, lr)
        for name, mask in masks.items():
            put(step, "dropout_mask", name, mask)
        for name, w in params.items():
            g = grads[name]
            g_reg = g + regularization_grad(case, name, w, coefficients)
            new = optimizer.step(name, w, g_reg, lr)
            put(step, "grad", name, g)
            put(step, "grad_regularized", name, g_reg)
            for key, value in optimizer.states[name].items():
                put(step, f"state.{key}", name, value)
            put(step, "update", name, new - w)
            put(step, "param", name, new)
            params[name] = new
    return traj


def _masks(case: Case, recorded: Trajectory | None, step: int, rows: int, rng) -> dict[str, np.ndarray]:
    p = case.model.dropout
    if p == 0:
        return {}
    if recorded is not None:
        return {k: v.copy() for k, v in recorded.steps[step - 1]["dropout_mask"].items()}
    hidden = case.model.sizes[1:-1]
    return {f"dropout{i}": (rng.uniform(size=(rows, width)) >= p).astype(np.float64)
            for i, width in enumerate(hidden)}
