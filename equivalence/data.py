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
    """Canonical layout: a Linear weight is [in, out] (y = x @ W + b), a bias is [out]; the other layers'
    layouts are in equivalence/layouts.py."""
    rng = np.random.default_rng([case.data.seed, 1])
    if case.model.layers:
        return _layer_params(case, rng)
    sizes, params = case.model.sizes, {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = case.model.init_bound or 1.0 / np.sqrt(fan_in)
        params[f"linear{i}.weight"] = _rounded(rng.uniform(-bound, bound, (fan_in, fan_out)), case.dtype)
        if case.model.bias:
            params[f"linear{i}.bias"] = _rounded(rng.uniform(-bound, bound, (fan_out,)), case.dtype)
    return params


def _layer_params(case: Case, rng) -> dict[str, np.ndarray]:
    """The seeded start of a layer-list model, in model order: weights and biases uniform(-b, b) with
    b = 1/sqrt(fan_in) (fan_in: every weight axis but the first, for a transposed conv every axis but the
    second); embeddings uniform(-1, 1) with the padding row 0 (both frameworks zero it at creation); norm
    scales uniform(0.5, 1.5) and shifts uniform(-0.5, 0.5), away from 1 and 0 so a dropped one shows."""
    from .spec.layers import walk
    params = {}
    for layer in walk(case.network()):
        for role, shape in layer.params.items():
            name = f"{layer.name}.{role}"
            weight = layer.params["weight"]
            if layer.kind in ("batch_norm", "layer_norm", "instance_norm", "group_norm"):
                low, high = (0.5, 1.5) if role == "weight" else (-0.5, 0.5)
            elif layer.kind == "embedding":
                low, high = -1.0, 1.0
            else:
                fan_in = int(np.prod(weight)) // weight[1 if layer.kind == "conv2d_transpose" else 0]
                low, high = -1.0 / np.sqrt(fan_in), 1.0 / np.sqrt(fan_in)
            value = rng.uniform(low, high, shape)
            if layer.kind == "embedding" and layer.spec.padding_idx is not None and not layer.spec.drawn_padding_row:
                value[layer.spec.padding_idx] = 0.0
            params[name] = _rounded(value, case.dtype)
    return params


def _layer_inputs(case: Case, rng, n: int) -> np.ndarray:
    d = case.data
    shape = (n,) + tuple(d.shape)
    if d.tokens is None:
        x = rng.uniform(0.0, 1.0, shape) if d.distribution == "uniform" else rng.standard_normal(shape)
        return _rounded(x, case.dtype)
    if d.pad_id is None:
        return rng.integers(0, d.tokens, shape).astype(np.int64)
    ids = rng.integers(0, d.tokens - 1, shape).astype(np.int64)
    ids[ids >= d.pad_id] += 1  # real tokens are never the padding id
    length = shape[-1]  # each sample ends in 1..L/2 padding ids
    for row, pads in zip(ids.reshape(n, -1), rng.integers(1, max(1, length // 2) + 1, n)):
        row[length - pads:] = d.pad_id
    return ids


def _targets(case: Case, rng, n: int) -> np.ndarray | None:
    out = (n,) + case.output_shape()
    if case.loss == "cross_entropy":
        axis = case.model.class_axis % len(out)
        labels = out[:axis] + out[axis + 1:]
        return rng.integers(0, out[axis], labels).astype(np.int64)
    if case.loss == "mse":
        return _rounded(rng.standard_normal(out), case.dtype)
    return None


def eval_inputs(case: Case) -> np.ndarray:
    """The batch of the eval forward that ends a layer-list run (its own draw, batch_size rows)."""
    return _layer_inputs(case, np.random.default_rng([case.data.seed, 6]), case.data.batch_size)


def batches(case: Case) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(inputs, targets) per batch; targets are None for the mean-of-outputs loss, int64 labels for
    cross entropy (over the output without its class axis), float values for MSE."""
    d, sizes = case.data, case.model.sizes
    if case.model.layers:
        rng = np.random.default_rng([d.seed, 0])
        n = d.batch_size * d.batches
        x, y = _layer_inputs(case, rng, n), _targets(case, rng, n)
        return [(x[b * d.batch_size:(b + 1) * d.batch_size],
                 None if y is None else y[b * d.batch_size:(b + 1) * d.batch_size]) for b in range(d.batches)]
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
    if d.values is not None:
        x = np.asarray(d.values, dtype=np.float64).reshape(d.shape)
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


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def loss_output_shape(case: Case) -> tuple[int, ...]:
    """Shape of the loss with reduction none: one value per sample for the class losses, else per element."""
    lp = case.loss_probe
    if lp.nd_classes():
        return lp.shape[:1] + lp.shape[2:]
    return lp.shape[:1] if lp.name in ("cross_entropy", "nll", "multi_margin") else lp.shape


def loss_inputs(case: Case) -> dict:
    """Inputs of a loss case: ``input`` (what the loss takes: logits, log-probabilities, probabilities or
    predictions, from logits drawn N(0, 1) times ``scale``), ``target`` (int64 class indices, probabilities,
    +-1 or N(0, 1) values), ``other`` (margin_ranking's second input), ``upstream`` (the gradient seeded into the loss: 1 for a reduced loss, else drawn
    with |g| in [0.5, 1.5] and no zeros) and ``ignored`` (the samples whose target is ignore_index, set or drawn).

    bce probabilities are sigmoid(scale * z), so a large scale gives exact 0s and 1s; targets of the ignored
    samples (the first third) are set to ignore_index after the draw."""
    lp = case.loss_probe
    rng = np.random.default_rng([lp.seed, 5])
    z = lp.scale * rng.standard_normal(lp.shape)
    classes = lp.classes()
    n = lp.shape[0]
    ignored = np.zeros(n, dtype=bool)
    extra = {}  # margin_ranking's second input
    if lp.name in ("cross_entropy", "nll", "multi_margin"):
        if lp.soft_labels:
            target = _rounded(np.exp(_log_softmax(rng.standard_normal(lp.shape))), case.dtype)
        else:
            target = rng.integers(0, classes, loss_output_shape(case) if lp.nd_classes() else n).astype(np.int64)
            if lp.ignore_index is not None:
                target[: max(1, n // 3)] = lp.ignore_index
                ignored = target == lp.ignore_index  # drawn labels equal to a valid ignore_index count too
        x = _log_softmax(z) if lp.name == "nll" else z
    elif lp.name == "kl_div":
        x = _log_softmax(z)
        t = _log_softmax(rng.standard_normal(lp.shape))
        target = _rounded(t if lp.log_target else np.exp(t), case.dtype)
    elif lp.name == "bce":
        with np.errstate(over="ignore"):
            x = 1.0 / (1.0 + np.exp(-z))
        target = _rounded(lp.target_scale * rng.uniform(0.0, 1.0, lp.shape), case.dtype)
    elif lp.name == "bce_with_logits":
        x = z
        target = _rounded(lp.target_scale * rng.uniform(0.0, 1.0, lp.shape), case.dtype)
    elif lp.name == "margin_ranking":
        x = z
        target = _rounded(rng.choice([-1.0, 1.0], lp.shape), case.dtype)
        extra["other"] = _rounded(lp.scale * rng.standard_normal(lp.shape), case.dtype)
    elif lp.name in ("hinge_embedding", "soft_margin"):
        x = z
        target = _rounded(rng.choice(list(lp.target_values or (-1.0, 1.0)), lp.shape), case.dtype)
    else:  # regression losses
        x = z
        target = _rounded(rng.standard_normal(lp.shape), case.dtype)
    if lp.inputs is not None:  # scaled like a draw, so the loss-input-scale perturbation moves it too
        x = lp.scale * np.asarray(lp.inputs, dtype=np.float64).reshape(lp.shape)
    if lp.targets is not None:
        target = _rounded(np.asarray(lp.targets, dtype=np.float64).reshape(lp.shape), case.dtype)
    if lp.reduction == "none":
        shape = loss_output_shape(case)
        upstream = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    else:
        upstream = np.array(1.0)
    return {"input": _rounded(x, case.dtype), "target": target, "upstream": _rounded(upstream, case.dtype),
            "ignored": ignored, **extra}
