"""The NumPy reference: every case computed from the math, never by calling a framework.

It runs in float64 (the truth the frameworks are measured against) or in the case dtype (to show how far
plain rounding alone moves a float32 run). Where frameworks or textbooks write a formula differently, the
case picks a named flavour (``Case.reference``, ``RegularizationSpec.penalty_form``).
"""

from __future__ import annotations

import numpy as np

from . import data
from .record import SCALAR, Trajectory, put
from .spec import Case

ACTIVATIONS = {
    "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
}


def run(case: Case, dtype: str = "float64", masks: list[dict[str, np.ndarray]] | None = None,
        recorded: Trajectory | None = None) -> Trajectory:
    """The reference trajectory. ``recorded`` is an implementation's trajectory whose random dropout
    masks the reference replays (frameworks draw different masks from different generators)."""
    if case.kind == "dropout":
        return run_dropout(case, dtype, recorded)
    return run_training(case, dtype, recorded)


# ------------------------------------------------------------------------------------------------ model

def forward(case: Case, params, x, masks, dtype):
    """Returns the output and the cache the backward pass needs."""
    n_layers = len(case.model.sizes) - 1
    act, _ = ACTIVATIONS[case.model.activation]
    p = case.model.dropout
    h, cache = x, []
    for i in range(n_layers):
        z = h @ params[f"linear{i}.weight"]
        if case.model.bias:
            z = z + params[f"linear{i}.bias"]
        if i == n_layers - 1:
            cache.append((h, z, None, None))
            return z, cache
        a = act(z)
        mask = None
        if p > 0:
            mask = masks[f"dropout{i}"].astype(dtype)
            out = a * mask / dtype.type(1 - p)
        else:
            out = a
        cache.append((h, z, a, mask))
        h = out


def loss_and_grad(case: Case, out, target):
    """Data loss and its gradient with respect to the model output. All three are means over elements
    (mean, mse) or over the batch (cross_entropy), the default reduction in both frameworks."""
    if case.loss == "mean":
        return out.mean(), np.full_like(out, 1 / out.size)
    if case.loss == "mse":
        diff = out - target
        return (diff * diff).mean(), 2 * diff / out.size
    shifted = out - out.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(out.shape[0])
    onehot = np.zeros_like(out)
    onehot[rows, target] = 1
    return -log_probs[rows, target].mean(), (np.exp(log_probs) - onehot) / out.shape[0]


def backward(case: Case, params, cache, grad_out):
    grads = {}
    _, dact = ACTIVATIONS[case.model.activation]
    p = case.model.dropout
    g = grad_out
    for i in reversed(range(len(cache))):
        h, z, a, mask = cache[i]
        if a is not None:  # a hidden layer: back through dropout and the activation
            if mask is not None:
                g = g * mask / g.dtype.type(1 - p)
            g = g * dact(z, a)
        grads[f"linear{i}.weight"] = h.T @ g
        if case.model.bias:
            grads[f"linear{i}.bias"] = g.sum(axis=0)
        g = g @ params[f"linear{i}.weight"].T
    return grads


def momentum_attribute(case: Case, value: float) -> float:
    """mu or an L2 coefficient as the momentum update sees it: rounded to float32 in the Paddle flavour."""
    if case.reference.momentum_attributes == "float32" and case.optimizer.name == "momentum":
        return float(np.float32(value))
    return value


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
            g = g + w.dtype.type(momentum_attribute(case, c.l2)) * w
    return g


def optimizer_step(case: Case, w, g, state: dict, lr):
    """One optimizer step on one parameter; returns the new parameter and updates ``state``."""
    opt = case.optimizer
    if opt.name == "sgd":
        return w - lr * g
    mu = w.dtype.type(momentum_attribute(case, opt.momentum))
    v = state.get("velocity", np.zeros_like(w))
    if case.reference.momentum == "ema":
        v = mu * v + (1 - mu) * g
    else:
        v = mu * v + g
    state["velocity"] = v
    return w - lr * (g + mu * v if opt.nesterov else v)


# ---------------------------------------------------------------------------------------------- training

def run_training(case: Case, dtype: str, recorded: Trajectory | None) -> Trajectory:
    np_dtype = np.dtype(dtype)
    params = {k: v.astype(np_dtype) for k, v in data.initial_params(case).items()}
    batch_list = [(x.astype(np_dtype), None if y is None else (y if y.dtype.kind == "i" else y.astype(np_dtype)))
                  for x, y in data.batches(case)]
    coefficients = case.coefficients()
    lr = np_dtype.type(case.optimizer.lr)
    rng = np.random.default_rng([case.data.seed, 3])
    traj = Trajectory(initial={k: v.astype(np.float64) for k, v in params.items()})
    states = {name: {} for name in params}
    for step_index in range(1, case.steps + 1):
        step = traj.new_step()
        x, y = batch_list[data.batch_for_step(case, step_index)]
        masks = _masks(case, recorded, step_index, x.shape[0], rng)
        out, cache = forward(case, params, x, masks, np_dtype)
        loss, grad_out = loss_and_grad(case, out, y)
        if case.loss_weight != 1:  # in the case dtype, as the frameworks multiply by a tensor of it
            loss, grad_out = loss * np_dtype.type(case.loss_weight), grad_out * np_dtype.type(case.loss_weight)
        grads = backward(case, params, cache, grad_out)
        put(step, "loss", SCALAR, loss)
        put(step, "lr", SCALAR, lr)
        for name, mask in masks.items():
            put(step, "dropout_mask", name, mask)
        for name, w in params.items():
            g = grads[name]
            g_reg = g + regularization_grad(case, name, w, coefficients)
            new = optimizer_step(case, w, g_reg, states[name], lr)
            put(step, "grad", name, g)
            put(step, "grad_regularized", name, g_reg)
            for key, value in states[name].items():
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


# ----------------------------------------------------------------------------------------------- dropout

def run_dropout(case: Case, dtype: str, recorded: Trajectory | None) -> Trajectory:
    """One dropout layer: training output x*mask*s, input gradient upstream*mask*s, eval output x*e, with
    (s, e) = (1/(1-p), 1) for upscale_in_train and (1, 1-p) for downscale_in_infer."""
    d = case.dropout
    np_dtype = np.dtype(dtype)
    x, upstream = (a.astype(np_dtype) for a in data.dropout_inputs(case))
    if recorded is not None:
        mask = recorded.steps[0]["dropout_mask"]["dropout"].astype(np_dtype)
    else:
        mask = (np.random.default_rng([d.seed, 3]).uniform(size=d.shape) >= d.p).astype(np_dtype)
    keep = np_dtype.type(1 - d.p)
    train_scale, eval_scale = (1 / keep, np_dtype.type(1)) if d.mode == "upscale_in_train" else (np_dtype.type(1), keep)
    traj = Trajectory()
    step = traj.new_step()
    put(step, "dropout_mask", "dropout", mask)
    put(step, "output", "dropout", x * mask * train_scale)
    put(step, "input_grad", "dropout", upstream * mask * train_scale)
    put(step, "eval_output", "dropout", x * eval_scale)
    put(step, "keep_ratio", SCALAR, keep)
    return traj
