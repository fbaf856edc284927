"""Paddle layers for a layer-list model (equivalence/backends/network.py drives them)."""

from __future__ import annotations

import numpy as np
import paddle

from ...spec import Case
from ...spec.layers import DEFAULT_EPSILON, Layer, conv_geometry, walk
from .. import network

nn = paddle.nn


def _attrs(layer: Layer, attr, affine: bool = True):
    """(weight_attr, bias_attr): the route's ParamAttr (regularizer, learning rate) or None; False removes
    a parameter (a Linear or conv without bias, a norm without affine)."""
    if not affine:
        return False, False
    bias = attr(f"{layer.name}.bias") if "bias" in layer.params else False
    return attr(f"{layer.name}.weight"), bias


def _module(case: Case, layer: Layer, attr):
    kind, s = layer.kind, layer.spec
    eps = s.arg("epsilon", DEFAULT_EPSILON)
    if kind == "linear":
        w, b = _attrs(layer, attr)
        return nn.Linear(s.in_features, s.out_features, weight_attr=w, bias_attr=b)
    if kind in ("conv1d", "conv2d"):
        g = conv_geometry(s)
        w, b = _attrs(layer, attr)
        cls = nn.Conv1D if kind == "conv1d" else nn.Conv2D
        return cls(s.in_channels, s.out_channels, list(g["kernel"]), stride=list(g["stride"]), padding=list(g["padding"]),
                   dilation=list(g["dilation"]), groups=g["groups"], weight_attr=w, bias_attr=b)
    if kind == "conv2d_transpose":
        g = conv_geometry(s)
        w, b = _attrs(layer, attr)
        return nn.Conv2DTranspose(s.in_channels, s.out_channels, list(g["kernel"]), stride=list(g["stride"]),
                                  padding=list(g["padding"]), output_padding=list(g["output_padding"]),
                                  dilation=list(g["dilation"]), groups=g["groups"], weight_attr=w, bias_attr=b)
    if kind == "embedding":
        return nn.Embedding(s.num_embeddings, s.embedding_dim, padding_idx=s.padding_idx,
                            weight_attr=attr(f"{layer.name}.weight"))
    if kind == "batch_norm":
        cls = nn.BatchNorm2D if len(layer.in_shape) == 3 else nn.BatchNorm1D
        kwargs = {} if s.momentum is None else {"momentum": 1.0 - s.momentum}  # Paddle weighs the old value
        w, b = _attrs(layer, attr)
        return cls(s.num_features, epsilon=eps, weight_attr=w, bias_attr=b, **kwargs)
    if kind == "layer_norm":
        w, b = _attrs(layer, attr, bool(layer.params))
        return nn.LayerNorm(list(s.normalized_shape), epsilon=eps, weight_attr=w, bias_attr=b)
    if kind == "instance_norm":
        cls = nn.InstanceNorm2D if len(layer.in_shape) == 3 else nn.InstanceNorm1D
        if s.affine is None:  # Paddle's default: a learnable scale and bias
            return cls(s.num_features, epsilon=eps)
        w, b = _attrs(layer, attr, s.affine)
        return cls(s.num_features, epsilon=eps, weight_attr=w, bias_attr=b)
    if kind == "group_norm":
        w, b = _attrs(layer, attr, bool(layer.params))
        return nn.GroupNorm(s.num_groups, s.num_channels, epsilon=eps, weight_attr=w, bias_attr=b)
    if kind == "dropout":
        return nn.Dropout(p=s.p)
    if kind == "max_pool2d":
        g = conv_geometry(s)
        return nn.MaxPool2D(list(g["kernel"]), stride=list(g["stride"]), padding=list(g["padding"]))
    if kind == "avg_pool2d":
        g = conv_geometry(s)
        kwargs = {} if s.exclude_padding is None else {"exclusive": s.exclude_padding}
        return nn.AvgPool2D(list(g["kernel"]), stride=list(g["stride"]), padding=list(g["padding"]), **kwargs)
    if kind == "adaptive_avg_pool2d":
        return nn.AdaptiveAvgPool2D(list(s.output_size))
    if kind == "flatten":
        return nn.Flatten()
    if kind == "gelu":
        return nn.GELU(approximate=s.arg("approximate", "none") == "tanh")
    if kind == "softmax":
        return nn.Softmax(axis=s.arg("axis", -1))
    if kind == "leaky_relu":
        return nn.LeakyReLU(**({} if s.negative_slope is None else {"negative_slope": s.negative_slope}))
    return {"relu": nn.ReLU, "silu": nn.Silu, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[kind]()


def build(case: Case, attr, fw) -> network.Network:
    modules = {layer.name: _module(case, layer, attr) for layer in walk(case.network()) if layer.kind != "residual"}
    return network.Network(case, "paddle", modules, fw)


def set_parameter(param, value: np.ndarray) -> None:
    param.set_value(value)
