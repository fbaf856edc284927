"""Loss functions in NumPy: value and analytic input gradient, from the math, never calling a framework.

Every loss is written as per-element (or per-sample) terms ``l`` with their derivative ``dl`` (d l / d input,
element by element, or per sample for the class losses), then reduced. The recorded gradient is that of
sum(loss * upstream): for a reduced loss upstream is 1, and mean divides by the loss's denominator.

Conventions, each the documented definition (torch/nn/modules/loss.py docstrings, which Paddle's docs repeat):
- cross entropy with class weights w and target distribution q (one-hot, smoothed or soft):
  l_i = -sum_c w_c q_ic log softmax(x_i)_c; mean divides by sum_i w_{y_i} over the non-ignored samples for
  class-index targets, by N for probability targets (torch/nn/modules/loss.py:1258-1290). Label smoothing
  replaces q by (1 - eps) q + eps / C.
- bce clamps each log at -100, so probabilities exactly 0 or 1 give a finite loss (torch/nn/modules/loss.py:712);
  its gradient (x - y) / max(x (1 - x), 1e-12) is the derivative of the unclamped loss with the denominator
  kept away from 0, the form both frameworks' docs leave out; it is only ever compared where x(1-x) > 0 or
  against a framework that made the same choice.
- smooth_l1 (beta): 0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta (beta = 0: |d|); huber (delta): 0.5 d^2 for
  |d| <= delta, else delta (|d| - 0.5 delta). huber(delta) = delta * smooth_l1(beta=delta).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import data
from ..record import SCALAR, Trajectory, put
from ..spec import Case

NAME = "input"  # the one input of the probe
BCE_LOG_FLOOR = -100.0
BCE_GRAD_EPSILON = 1e-12


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softplus(z):
    """log(1 + exp(z)) without overflow."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _class_targets(lp, target, ignored, dt):
    """(q [N, C] target distribution, per-sample weight of the mean's denominator [N])."""
    n, c = lp.shape
    w = np.ones(c, dtype=dt) if lp.weight is None else np.asarray(lp.weight, dtype=dt)
    if lp.soft_labels:
        q = target.astype(dt)
        denominator = np.ones(n, dtype=dt)
    else:
        labels = np.where(ignored, 0, target)
        q = np.eye(c, dtype=dt)[labels]
        q[ignored] = 0
        denominator = np.where(ignored, 0, w[labels]).astype(dt)
    if lp.label_smoothing:
        eps = dt.type(lp.label_smoothing)
        q = np.where(ignored[:, None], 0, (1 - eps) * q + eps / c).astype(dt)
    return q, w, denominator


def _cross_entropy(lp, x, target, ignored, dt):
    q, w, denominator = _class_targets(lp, target, ignored, dt)
    logp = _log_softmax(x)
    a = q * w  # weight of each log-probability in the loss
    loss = -(a * logp).sum(axis=-1)
    grad = a.sum(axis=-1, keepdims=True) * np.exp(logp) - a
    return loss, grad, denominator.sum()


def _nll(lp, x, target, ignored, dt):
    q, w, denominator = _class_targets(lp, target, ignored, dt)
    a = q * w
    return -(a * x).sum(axis=-1), -a, denominator.sum()


def _multi_margin(lp, x, target, dt):
    n, c = lp.shape
    w = np.ones(c, dtype=dt) if lp.weight is None else np.asarray(lp.weight, dtype=dt)
    rows = np.arange(n)
    margin = dt.type(lp.option("margin"))
    h = margin - x[rows, target][:, None] + x  # hinge argument per (sample, class)
    others = np.ones((n, c), dtype=bool)
    others[rows, target] = False
    active = others & (h > 0)
    hp = np.where(active, h, 0)
    wy = w[target][:, None]
    loss = (wy * hp ** lp.p).sum(axis=-1) / c
    dj = np.where(active, wy * lp.p * hp ** (lp.p - 1), 0) / c
    grad = dj.copy()
    grad[rows, target] = -dj.sum(axis=-1)
    return loss, grad


def _elementwise(lp, x, t, dt):
    """(per-element loss, its derivative) for the element-wise losses."""
    name = lp.name
    if name == "mse":
        return (x - t) ** 2, 2 * (x - t)
    if name == "l1":
        return np.abs(x - t), np.sign(x - t)
    if name == "smooth_l1":
        beta, d = dt.type(lp.option("beta")), x - t
        if beta == 0:  # the limit of the smooth L1 loss as beta -> 0 is the L1 loss
            return np.abs(d), np.sign(d)
        small = np.abs(d) < beta
        return np.where(small, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta), np.where(small, d / beta, np.sign(d))
    if name == "huber":
        delta, d = dt.type(lp.option("delta")), x - t
        small = np.abs(d) <= delta
        return np.where(small, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta)), np.where(small, d, delta * np.sign(d))
    if name == "bce":
        with np.errstate(divide="ignore"):
            log_x, log_1mx = np.log(x), np.log1p(-x)
        loss = -(t * np.maximum(log_x, BCE_LOG_FLOOR) + (1 - t) * np.maximum(log_1mx, BCE_LOG_FLOOR))
        return loss, (x - t) / np.maximum(x * (1 - x), dt.type(BCE_GRAD_EPSILON))
    if name == "bce_with_logits":
        pw = np.ones(lp.shape[-1], dtype=dt) if lp.pos_weight is None else np.asarray(lp.pos_weight, dtype=dt)
        w = np.ones(lp.shape[-1], dtype=dt) if lp.weight is None else np.asarray(lp.weight, dtype=dt)
        loss = pw * t * _softplus(-x) + (1 - t) * _softplus(x)
        s = _sigmoid(x)
        return w * loss, w * (-pw * t * (1 - s) + (1 - t) * s)
    if name == "kl_div":
        if lp.log_target:
            return np.exp(t) * (t - x), -np.exp(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t > 0, t * (np.log(t) - x), 0), -t
    if name == "hinge_embedding":  # x for label 1, max(0, margin - x) for label -1, nothing for other labels
        margin = dt.type(lp.option("margin"))
        positive, negative = t == 1, t == -1
        hinge = negative & (margin - x > 0)
        loss = np.where(positive, x, 0) + np.where(negative, np.maximum(0, margin - x), 0)
        return loss.astype(dt), (positive.astype(dt) - hinge.astype(dt))
    if name == "soft_margin":  # log(1 + exp(-y x))
        return _softplus(-t * x), -t * _sigmoid(-t * x)
    raise ValueError(f"no reference for loss {name!r}")


def loss_and_input_grad(case: Case, inputs: dict, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    """(loss, gradient of sum(loss * upstream) w.r.t. the input) in ``dtype``."""
    lp = case.loss_probe
    dt = np.dtype(dtype)
    x = inputs["input"].astype(dt)
    target = inputs["target"] if inputs["target"].dtype.kind == "i" else inputs["target"].astype(dt)
    upstream = inputs["upstream"].astype(dt)
    denominator = None
    if lp.nd_classes():  # [N, C, L]: the classes of each (sample, position), as [N*L, C] rows
        n, c, length = lp.shape
        flat = dataclasses.replace(case, loss_probe=dataclasses.replace(lp, shape=(n * length, c), reduction="none"))
        rows = {"input": np.moveaxis(x, 1, -1).reshape(-1, c), "target": target.reshape(-1),
                "upstream": np.ones(n * length, dtype=dt), "ignored": np.zeros(n * length, dtype=bool)}
        loss, dl = loss_and_input_grad(flat, rows, dtype)
        loss, dl = loss.reshape(n, length), np.moveaxis(dl.reshape(n, length, c), -1, 1)
        if lp.reduction == "none":
            return loss, upstream[:, None, :] * dl
        scale = dt.type(1) if lp.reduction == "sum" else dt.type(1) / dt.type(n * length)
        return np.asarray(loss.sum() * scale), dl * scale
    if lp.name == "cross_entropy":
        loss, dl, denominator = _cross_entropy(lp, x, target, inputs["ignored"], dt)
    elif lp.name == "nll":
        loss, dl, denominator = _nll(lp, x, target, inputs["ignored"], dt)
    elif lp.name == "multi_margin":
        loss, dl = _multi_margin(lp, x, target, dt)
    elif lp.name == "margin_ranking":  # max(0, -y (x - other) + margin), differentiated w.r.t. x
        h = -target * (x - inputs["other"].astype(dt)) + dt.type(lp.option("margin"))
        loss, dl = np.maximum(h, 0), np.where(h > 0, -target, 0).astype(dt)
    else:
        loss, dl = _elementwise(lp, x, target, dt)
    per_sample = loss.ndim < x.ndim  # class losses: one value per row, dl per element of the row
    if lp.reduction == "none":
        return loss, (upstream[:, None] if per_sample else upstream) * dl
    if lp.reduction == "sum":
        scale = dt.type(1)
    elif lp.reduction == "batchmean":
        scale = dt.type(1) / dt.type(lp.shape[0])
    elif denominator is not None:
        scale = dt.type(1) / denominator
    else:
        scale = dt.type(1) / dt.type(loss.size)
    return np.asarray(loss.sum() * scale), dl * scale


def run_loss(case: Case, dtype: str = "float64") -> Trajectory:
    loss, grad = loss_and_input_grad(case, data.loss_inputs(case), dtype)
    traj = Trajectory()
    step = traj.new_step()
    put(step, "loss", SCALAR, loss)
    put(step, "input_grad", NAME, grad)
    return traj
