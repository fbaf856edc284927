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
