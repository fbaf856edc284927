"""A layer-list model in NumPy: every layer's forward and backward, written from the math.

``forward(layers, params, x, ctx)`` returns the output and one cache per layer; ``backward(layers, params,
caches, grad)`` returns the input gradient and every parameter's gradient under its canonical name. The
context carries what is not a parameter: training or eval, the running statistics (updated in place by a
training forward), dropout masks (replayed from an implementation, or drawn), and the flavours where the
frameworks differ (running-variance estimator, average-pool divisor, attribute precision).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..spec.layers import DEFAULT_EPSILON, DEFAULT_LEAKY_SLOPE, Layer, conv_geometry
from . import convolution as conv

DEFAULT_MOMENTUM = 0.1  # weight of the new batch statistic (Torch 0.1, Paddle 0.9 for the old value)
_erf = np.frompyfunc(math.erf, 1, 1)


@dataclass
class Context:
    dtype: np.dtype
    training: bool = True
    running_var: str = "unbiased"  # the estimator fed to batch norm's running variance
    norm_attributes: str = "exact"  # float32: momentum and epsilon rounded as Paddle's kernels take them
    exclude_padding: bool = False  # avg_pool2d divisor where a layer leaves it to the framework
    zero_padding_lookup: bool = False  # an embedding returns zeros for its padding id (Paddle), not the row
    mask: Callable[[str, tuple], np.ndarray] | None = None  # dropout name, shape -> keep mask (1 / 0)
    buffers: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # layer -> running_mean / running_var

    def scalar(self, value: float) -> np.generic:
        return self.dtype.type(value)


# --------------------------------------------------------------------------------------------- activations

def _gelu(x, approximate: str):
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        inner = c * (x + 0.044715 * x ** 3)
        t = np.tanh(inner)
        y = 0.5 * x * (1 + t)
        dy = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        return y, dy
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)).astype(x.dtype))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return x * cdf, cdf + x * pdf


def _activation(layer: Layer, x):
    """(y, dy/dx elementwise) for the elementwise activations."""
    kind, s = layer.kind, layer.spec
    if kind == "relu":
        return np.maximum(x, 0), (x > 0).astype(x.dtype)
    if kind == "tanh":
        y = np.tanh(x)
        return y, 1 - y * y
    if kind == "sigmoid":
        y = 1 / (1 + np.exp(-x))
        return y, y * (1 - y)
    if kind == "silu":
        sig = 1 / (1 + np.exp(-x))
        return x * sig, sig * (1 + x * (1 - sig))
    if kind == "leaky_relu":
        slope = x.dtype.type(s.arg("negative_slope", DEFAULT_LEAKY_SLOPE))
        return np.where(x > 0, x, slope * x), np.where(x > 0, x.dtype.type(1), slope)
    if kind == "gelu":
        y, dy = _gelu(x, s.arg("approximate", "none"))
        return y.astype(x.dtype), dy.astype(x.dtype)
    raise AssertionError(kind)


# ---------------------------------------------------------------------------------------------- normalization

def _normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    return (x - mean) * inv, inv, mean, var


def _normalize_backward(dxhat, xhat, inv, axes):
    """d/dx of (x - mean(x)) / sqrt(var(x) + eps) applied to the upstream dxhat, through the statistics."""
    return inv * (dxhat - dxhat.mean(axis=axes, keepdims=True) - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


def _channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _norm_attributes(layer: Layer, ctx: Context):
    """(old weight, new weight, epsilon) of a norm layer in the context dtype; float32 flavour: Paddle's kernels
    take momentum and epsilon as float attributes and form 1 - momentum from the rounded value."""
    m = layer.spec.arg("momentum", DEFAULT_MOMENTUM)
    eps = layer.spec.arg("epsilon", DEFAULT_EPSILON)
    if ctx.norm_attributes == "float32":
        old = float(np.float32(1.0 - m))
        return ctx.scalar(old), ctx.scalar(1.0 - old), ctx.scalar(float(np.float32(eps)))
    return ctx.scalar(1.0 - m), ctx.scalar(m), ctx.scalar(eps)


def _batch_norm(layer, params, x, ctx):
    axes = (0,) + tuple(range(2, x.ndim))
    old, new, eps = _norm_attributes(layer, ctx)
    stats = ctx.buffers[layer.name]
    if ctx.training:
        xhat, inv, mean, var = _normalize(x, axes, eps)
        count = x.size // x.shape[1]
        feed = var.reshape(-1) * (ctx.scalar(count / (count - 1)) if ctx.running_var == "unbiased" else 1)
        stats["running_mean"] = old * stats["running_mean"] + new * mean.reshape(-1)
        stats["running_var"] = old * stats["running_var"] + new * feed
    else:
        inv = _channel(1 / np.sqrt(stats["running_var"] + eps), x.ndim)
        xhat = (x - _channel(stats["running_mean"], x.ndim)) * inv
    y = xhat * _channel(params["weight"], x.ndim) + _channel(params["bias"], x.ndim)
    return y, (xhat, inv, axes, ctx.training)


def _batch_norm_backward(layer, params, cache, gy):
    xhat, inv, axes, training = cache
    dxhat = gy * _channel(params["weight"], gy.ndim)
    gx = _normalize_backward(dxhat, xhat, inv, axes) if training else dxhat * inv
    return gx, {"weight": (gy * xhat).sum(axis=axes), "bias": gy.sum(axis=axes)}


def _group_axes(layer: Layer, x):
    """(x reshaped for its statistics, the axes they are taken over, the axes the affine parameters are shared
    over in the original shape)."""
    kind = layer.kind
    if kind == "layer_norm":
        dims = len(layer.spec.normalized_shape)
        axes = tuple(range(x.ndim - dims, x.ndim))
        return x, axes, tuple(range(x.ndim - dims))
    spatial = tuple(range(2, x.ndim))
    if kind == "instance_norm":
        return x, spatial, (0,) + spatial
    groups = layer.spec.num_groups
    grouped = x.reshape(x.shape[0], groups, -1)
    return grouped, (2,), (0,) + spatial


def _affine_shape(layer: Layer, v, ndim):
    return v if layer.kind == "layer_norm" else _channel(v, ndim)


def _sample_norm(layer, params, x, ctx):
    """layer_norm, instance_norm, group_norm: statistics per sample (and channel or group), the same in
    training and eval."""
    eps = ctx.scalar(layer.spec.arg("epsilon", DEFAULT_EPSILON))
    if ctx.norm_attributes == "float32":
        eps = ctx.scalar(float(np.float32(layer.spec.arg("epsilon", DEFAULT_EPSILON))))
    grouped, axes, shared = _group_axes(layer, x)
    xhat, inv, _, _ = _normalize(grouped, axes, eps)
    xhat_full = xhat.reshape(x.shape)
    if "weight" in params:
        y = xhat_full * _affine_shape(layer, params["weight"], x.ndim) + _affine_shape(layer, params["bias"], x.ndim)
    else:
        y = xhat_full
    return y, (xhat, inv, axes, shared, x.shape)


def _sample_norm_backward(layer, params, cache, gy):
    xhat, inv, axes, shared, shape = cache
    xhat_full = xhat.reshape(shape)
    grads = {}
    dxhat = gy
    if "weight" in params:
        dxhat = gy * _affine_shape(layer, params["weight"], gy.ndim)
        grads = {"weight": (gy * xhat_full).sum(axis=shared), "bias": gy.sum(axis=shared)}
    gx = _normalize_backward(dxhat.reshape(xhat.shape), xhat, inv, axes).reshape(shape)
    return gx, grads


# ------------------------------------------------------------------------------------------------ the layers

def _as_2d(layer: Layer, x, w=None):
    """A 1-D conv as the 2-D one on [N, C, 1, L]: (x, weight, geometry) in 2-D."""
    g = conv_geometry(layer.spec)
    if layer.kind != "conv1d":
        return x, w, g
    g2 = {key: ((1, v[0]) if key != "padding" else (0, v[0])) if isinstance(v, tuple) else v for key, v in g.items()}
    return x[:, :, None, :], None if w is None else w[:, :, None, :], g2


def layer_forward(layer: Layer, params: dict, x, ctx: Context):
    """(y, cache) of one layer; params are the layer's own, by role (weight, bias)."""
    kind, s = layer.kind, layer.spec
    if kind == "linear":
        y = x @ params["weight"]
        return (y + params["bias"] if "bias" in params else y), x
    if kind in ("conv1d", "conv2d"):
        x2, w2, g = _as_2d(layer, x, params["weight"])
        y, cache = conv.conv2d(x2, w2, params.get("bias"), g)
        return (y[:, :, 0, :] if kind == "conv1d" else y), cache
    if kind == "conv2d_transpose":
        return conv.conv2d_transpose(x, params["weight"], params.get("bias"), conv_geometry(s))
    if kind == "embedding":
        y = params["weight"][x]
        if ctx.zero_padding_lookup and s.padding_idx is not None:
            y = np.where((x == s.padding_idx)[..., None], y.dtype.type(0), y)
        return y, x
    if kind == "batch_norm":
        return _batch_norm(layer, params, x, ctx)
    if kind in ("layer_norm", "instance_norm", "group_norm"):
        return _sample_norm(layer, params, x, ctx)
    if kind == "dropout":
        if not ctx.training:
            return x, None
        mask = ctx.mask(layer.name, x.shape).astype(x.dtype)
        scale = ctx.scalar(1 - s.p)
        return x * mask / scale, mask / scale
    if kind == "max_pool2d":
        return conv.max_pool2d(x, conv_geometry(s))
    if kind == "avg_pool2d":
        exclude = ctx.exclude_padding if s.exclude_padding is None else s.exclude_padding
        return conv.avg_pool2d(x, conv_geometry(s), exclude)
    if kind == "adaptive_avg_pool2d":
        return conv.adaptive_avg_pool2d(x, s.output_size)
    if kind == "flatten":
        return x.reshape(x.shape[0], -1), x.shape
    if kind == "softmax":
        z = x - x.max(axis=s.arg("axis", -1), keepdims=True)
        e = np.exp(z)
        y = e / e.sum(axis=s.arg("axis", -1), keepdims=True)
        return y, y
    return _activation(layer, x)  # cache: the elementwise derivative


def layer_backward(layer: Layer, params: dict, cache, gy):
    """(input gradient, {role: parameter gradient}) of one layer."""
    kind, s = layer.kind, layer.spec
    if kind == "linear":
        x = cache
        grads = {"weight": x.reshape(-1, x.shape[-1]).T @ gy.reshape(-1, gy.shape[-1])}
        if "bias" in params:
            grads["bias"] = gy.reshape(-1, gy.shape[-1]).sum(axis=0)
        return gy @ params["weight"].T, grads
    if kind in ("conv1d", "conv2d"):
        gy2, w2, g = _as_2d(layer, gy, params["weight"])
        gx, grads = conv.conv2d_backward(w2, cache, gy2, g, "bias" in params)
        if kind == "conv1d":
            gx, grads["weight"] = gx[:, :, 0, :], grads["weight"][:, :, 0, :]
        return gx, grads
    if kind == "conv2d_transpose":
        return conv.conv2d_transpose_backward(params["weight"], cache, gy, conv_geometry(s), "bias" in params)
    if kind == "embedding":
        ids = cache
        gw = np.zeros_like(params["weight"])
        np.add.at(gw, ids, gy)
        if s.padding_idx is not None:
            gw[s.padding_idx] = 0  # the padding vector gets no gradient, in both frameworks
        return None, {"weight": gw}
    if kind == "batch_norm":
        return _batch_norm_backward(layer, params, cache, gy)
    if kind in ("layer_norm", "instance_norm", "group_norm"):
        return _sample_norm_backward(layer, params, cache, gy)
    if kind == "dropout":
        return (gy if cache is None else gy * cache), {}
    if kind == "max_pool2d":
        return conv.max_pool2d_backward(cache, gy, conv_geometry(s)), {}
    if kind == "avg_pool2d":
        return conv.avg_pool2d_backward(cache, gy, conv_geometry(s)), {}
    if kind == "adaptive_avg_pool2d":
        return conv.adaptive_avg_pool2d_backward(cache, gy), {}
    if kind == "flatten":
        return gy.reshape(cache), {}
    if kind == "softmax":
        y = cache
        return y * (gy - (gy * y).sum(axis=s.arg("axis", -1), keepdims=True)), {}
    return gy * cache, {}


def _own(layer: Layer, params: dict) -> dict:
    return {role: params[f"{layer.name}.{role}"] for role in layer.params}


def forward(layers: tuple[Layer, ...], params: dict, x, ctx: Context):
    """(output, caches) of the whole list; a residual layer's cache is its body's caches."""
    caches = []
    for layer in layers:
        if layer.kind == "residual":
            body_out, body_caches = forward(layer.body, params, x, ctx)
            caches.append(body_caches)
            x = x + body_out
            continue
        x, cache = layer_forward(layer, _own(layer, params), x, ctx)
        caches.append(cache)
    return x, caches


def backward(layers: tuple[Layer, ...], params: dict, caches: list, gy) -> tuple[np.ndarray, dict]:
    grads = {}
    for layer, cache in zip(reversed(layers), reversed(caches)):
        if layer.kind == "residual":
            g_body, body_grads = backward(layer.body, params, cache, gy)
            grads.update(body_grads)
            gy = gy + g_body
            continue
        gy, own = layer_backward(layer, _own(layer, params), cache, gy)
        grads.update({f"{layer.name}.{role}": g for role, g in own.items()})
    return gy, grads
