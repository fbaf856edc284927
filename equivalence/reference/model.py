"""The model of a training case in NumPy: Linear layers, activations, dropout, the data loss."""

from __future__ import annotations

import numpy as np

from ..spec import Case

ACTIVATIONS = {
    "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
}


def to_bfloat16(values: np.ndarray) -> np.ndarray:
    """Values rounded to the nearest bfloat16 (ties to even), kept in their dtype: float32 with the low 16 bits
    of the mantissa cleared. A float64 value is rounded to float32 first, as a float32 computation would
    hold it before casting. Inf and NaN stay as they are."""
    values = np.asarray(values)
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    result = rounded.astype(np.uint32).view(np.float32)
    finite = np.isfinite(values)
    return np.where(finite, result, values).astype(values.dtype)


def rounding(case: Case):
    """Where the reference rounds to the autocast dtype: every value a lower-precision op outputs (identity
    without the bfloat16 autocast flavour)."""
    return to_bfloat16 if case.reference.autocast == "bfloat16" else (lambda v: v)


def forward(case: Case, params, x, masks, dtype):
    """Returns the output and the cache the backward pass needs. Under the bfloat16 autocast flavour each
    Linear takes and returns bfloat16 (Torch's autocast runs linear in the lower precision and the
    activation on its bfloat16 output); the cache holds the rounded values the backward pass multiplies by."""
    n_layers = len(case.model.sizes) - 1
    act, _ = ACTIVATIONS[case.model.activation]
    low = rounding(case)
    p = case.model.dropout
    h, cache = low(x), []
    for i in range(n_layers):
        z = h @ low(params[f"linear{i}.weight"])
        if case.model.bias:
            z = z + low(params[f"linear{i}.bias"])
        z = low(z)
        if i == n_layers - 1:
            cache.append((h, z, None, None))
            return z, cache
        a = low(act(z))
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
    """Gradients of the parameters. Under the bfloat16 autocast flavour the loss gradient enters the model
    cast to bfloat16 (the backward of the cast to float32 the loss takes) and every product and sum of the
    backward pass is rounded to bfloat16; the float32 parameters receive those values unchanged."""
    grads = {}
    _, dact = ACTIVATIONS[case.model.activation]
    low = rounding(case)
    p = case.model.dropout
    g = low(grad_out)
    for i in reversed(range(len(cache))):
        h, z, a, mask = cache[i]
        if a is not None:  # a hidden layer: back through dropout and the activation
            if mask is not None:
                g = g * mask / g.dtype.type(1 - p)
            g = low(g * dact(z, a))
        grads[f"linear{i}.weight"] = low(h.T @ g)
        if case.model.bias:
            grads[f"linear{i}.bias"] = low(g.sum(axis=0))
        g = low(g @ low(params[f"linear{i}.weight"]).T)
    return grads
