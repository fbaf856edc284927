"""One normalization layer in NumPy: batch norm (statistics per channel) or layer norm (per sample), with its
gradients and running statistics, fed ``steps`` train-mode batches and then one eval batch.

Batch norm, as in Ioffe & Szegedy (2015), Algorithm 1 and 2: a batch is normalized with its own mean and
biased variance (divide by n); the running variance that inference uses is the unbiased one (divide by
n - 1) unless the case picks the ``biased`` flavour, which is the hand-written tutorial BatchNorm.
"""

from __future__ import annotations

import numpy as np

from .. import data
from ..record import Trajectory, put
from ..spec import DEFAULT_NORM_EPSILON, DEFAULT_NORM_MOMENTUM, Case

NAME = "norm"  # the one layer of the probe


def attributes(case: Case, dtype: np.dtype) -> tuple:
    """(weight of the old running value, weight of the new batch statistic, epsilon) in ``dtype``. The
    float32 flavour is Paddle's kernel: momentum and epsilon are float attributes, and the batch weight is
    formed as (1. - momentum) from the rounded momentum (paddle/phi/kernels/batch_norm_kernel.h:31)."""
    n = case.normalization
    m = DEFAULT_NORM_MOMENTUM if n.momentum is None else n.momentum
    eps = DEFAULT_NORM_EPSILON if n.epsilon is None else n.epsilon
    if case.reference.norm_attributes == "float32":
        old = float(np.float32(1.0 - m))
        return dtype.type(old), dtype.type(1.0 - old), dtype.type(float(np.float32(eps)))
    return dtype.type(1.0 - m), dtype.type(m), dtype.type(eps)


def _broadcast(case: Case, vector: np.ndarray) -> np.ndarray:
    """A per-channel vector [C] as [1, C, 1, ...]; layer norm's parameters already broadcast."""
    n = case.normalization
    if n.layer == "layer_norm":
        return vector
    shape = [1] * len(n.shape)
    shape[1] = n.shape[1]
    return vector.reshape(shape)


def forward_backward(case: Case, x, upstream, weight, bias, eps, stats=None):
    """Output, input gradient, parameter gradients and the batch (mean, biased variance) of one forward.
    ``stats`` = (mean, var) broadcastable to x normalizes with fixed statistics (no gradient through them)."""
    n = case.normalization
    axes = n.normalized_axes()
    if stats is None:
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    else:
        mean, var = stats
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv
    w = _broadcast(case, weight)
    out = xhat * w + _broadcast(case, bias)
    dxhat = upstream * w
    if stats is None:
        # d/dx of (x - mean) / sqrt(var + eps) through the batch statistics.
        input_grad = inv * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                            - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    else:
        input_grad = dxhat * inv
    # The parameters are shared over every axis they do not span: all but the channel (batch norm), the
    # leading batch axes (layer norm).
    shared = tuple(range(len(x.shape) - n.normalized_dims)) if n.layer == "layer_norm" else axes
    grads = {"weight": (upstream * xhat).sum(axis=shared), "bias": upstream.sum(axis=shared)}
    return out, input_grad, grads, (mean, var)


def run_normalization(case: Case, dtype: str) -> Trajectory:
    n = case.normalization
    np_dtype = np.dtype(dtype)
    inputs = data.normalization_inputs(case)
    batches = [b.astype(np_dtype) for b in inputs["batches"]]
    upstream = [g.astype(np_dtype) for g in inputs["upstream"]]
    if n.affine:
        weight, bias = inputs["weight"].astype(np_dtype), inputs["bias"].astype(np_dtype)
    else:
        weight, bias = np.ones(n.param_shape(), np_dtype), np.zeros(n.param_shape(), np_dtype)
    old_weight, new_weight, eps = attributes(case, np_dtype)
    tracks = n.tracks_running_stats()
    channels = (n.shape[1],)
    running_mean, running_var = np.zeros(channels, np_dtype), np.ones(channels, np_dtype)
    count = int(np.prod([n.shape[i] for i in n.normalized_axes()]))  # 1 only with the biased flavour
    unbiased = np_dtype.type(count / (count - 1)) if tracks and count > 1 else np_dtype.type(1)

    def running():
        return _broadcast(case, running_mean), _broadcast(case, running_var)

    traj = Trajectory()
    for t in range(case.steps):
        step = traj.new_step()
        fixed = running() if n.train_statistics == "running" else None
        out, input_grad, grads, (mean, var) = forward_backward(case, batches[t], upstream[t], weight, bias, eps, fixed)
        if tracks and fixed is None:
            feed = var.reshape(channels) * (unbiased if case.reference.batch_norm_running_var == "unbiased" else 1)
            running_mean = old_weight * running_mean + new_weight * mean.reshape(channels)
            running_var = old_weight * running_var + new_weight * feed
        put(step, "output", NAME, out)
        put(step, "input_grad", NAME, input_grad)
        if n.affine:
            for key, value in grads.items():
                put(step, "grad", key, value)
        if tracks:
            put(step, "running_mean", NAME, running_mean)
            put(step, "running_var", NAME, running_var)
    step = traj.new_step()
    fixed = running() if tracks and n.eval_statistics == "running" else None
    out, *_ = forward_backward(case, batches[-1], upstream[-1], weight, bias, eps, fixed)
    put(step, "eval_output", NAME, out)
    if tracks:  # an eval forward leaves the running statistics alone
        put(step, "running_mean", NAME, running_mean)
        put(step, "running_var", NAME, running_var)
    return traj
