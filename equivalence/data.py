"""Seeded inputs, targets and initial parameters, in NumPy, shared by every implementation of a case.

Everything is drawn in float64 and then rounded to the case dtype once, so every implementation (the
float64 reference included) starts from bit-identical values and only the arithmetic differs.
"""

from __future__ import annotations

import numpy as np

from .spec import Case


def _rounded(array: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(array, dtype=np.float64).astype(dtype).astype(np.float64)


def initial_params(case: Case) -> dict[str, np.ndarray]:
    """Canonical layout: a Linear weight is [in, out] (y = x @ W + b), a bias is [out]."""
    rng = np.random.default_rng([case.data.seed, 1])
    sizes, params = case.model.sizes, {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = case.model.init_bound or 1.0 / np.sqrt(fan_in)
        params[f"linear{i}.weight"] = _rounded(rng.uniform(-bound, bound, (fan_in, fan_out)), case.dtype)
        if case.model.bias:
            params[f"linear{i}.bias"] = _rounded(rng.uniform(-bound, bound, (fan_out,)), case.dtype)
    return params


def batches(case: Case) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(inputs, targets) per batch; targets are None for the mean-of-outputs loss, int64 labels for
    cross entropy, float values for MSE."""
    d, sizes = case.data, case.model.sizes
    rng = np.random.default_rng([d.seed, 0])
    n = d.batch_size * d.batches
    if d.inputs is not None:
        x = np.array(d.inputs, dtype=np.float64)
    elif d.distribution == "uniform":
        x = rng.uniform(0.0, 1.0, (n, sizes[0]))
    else:
        x = rng.standard_normal((n, sizes[0]))
    x = _rounded(x, case.dtype)
    if case.loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], n).astype(np.int64)
    elif case.loss == "mse":
        y = _rounded(rng.standard_normal((n, sizes[-1])), case.dtype)
    else:
        y = None
    out = []
    for b in range(d.batches):
        rows = slice(b * d.batch_size, (b + 1) * d.batch_size)
        out.append((x[rows], None if y is None else y[rows]))
    return out


def dropout_inputs(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """(x, upstream) for a dropout case: x with a fraction of exact zeros, upstream a gradient with no
    zeros (|g| in [0.5, 1.5]) so the mask at a zero input can still be read off the input gradient."""
    d = case.dropout
    rng = np.random.default_rng([d.seed, 2])
    x = rng.standard_normal(d.shape)
    x[rng.uniform(size=d.shape) < d.zero_fraction] = 0.0
    upstream = rng.uniform(0.5, 1.5, d.shape) * rng.choice([-1.0, 1.0], d.shape)
    return _rounded(x, case.dtype), _rounded(upstream, case.dtype)


def normalization_inputs(case: Case) -> dict:
    """Inputs of a normalization case: ``batches`` (steps + 1 arrays: the train-mode batches, then the eval
    batch), ``upstream`` (one gradient per batch, no zeros), and ``weight`` / ``bias`` (the affine
    parameters, away from 1 and 0 so that a dropped scale or shift shows).

    Each channel (axis 1) gets its own offset and scale, so a statistic taken over the wrong axes differs,
    and the variance stays within [0.25, 4]: an epsilon moved by 1e-4 then changes outputs by 1e-5 relative
    or more, which the float32 tolerance can still see."""
    n = case.normalization
    rng = np.random.default_rng([n.seed, 4])
    channel = [1] * len(n.shape)
    channel[1] = n.shape[1]
    offset = rng.uniform(-1.0, 1.0, channel)
    scale = rng.uniform(0.5, 2.0, channel)
    batches = [_rounded(offset + scale * rng.standard_normal(n.shape), case.dtype) for _ in range(case.steps + 1)]
    upstream = [_rounded(rng.uniform(0.5, 1.5, n.shape) * rng.choice([-1.0, 1.0], n.shape), case.dtype)
                for _ in range(case.steps + 1)]
    shape = n.param_shape()
    return {"batches": batches, "upstream": upstream,
            "weight": _rounded(rng.uniform(0.5, 1.5, shape), case.dtype),
            "bias": _rounded(rng.uniform(-0.5, 0.5, shape), case.dtype)}


def batch_for_step(case: Case, step: int) -> int:
    """Steps are numbered from 1; they cycle through the batches in order."""
    return (step - 1) % case.data.batches
