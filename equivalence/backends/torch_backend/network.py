"""Torch modules for a layer-list model (equivalence/backends/network.py drives them)."""

from __future__ import annotations

import numpy as np
import torch

from ...spec import Case
from ...spec.layers import DEFAULT_EPSILON, Layer, conv_geometry, walk
from .. import network

nn = torch.nn


def _module(case: Case, layer: Layer, dtype, device):
    kind, s = layer.kind, layer.spec
    eps = s.arg("epsilon", DEFAULT_EPSILON)
    made = dict(dtype=dtype, device=device)
    bias = "bias" in layer.params
    if kind == "linear":
        return nn.Linear(s.in_features, s.out_features, bias=bias, **made)
    if kind in ("conv1d", "conv2d"):
        g = conv_geometry(s)
        cls = nn.Conv1d if kind == "conv1d" else nn.Conv2d
        return cls(s.in_channels, s.out_channels, g["kernel"], stride=g["stride"], padding=g["padding"],
                   dilation=g["dilation"], groups=g["groups"], bias=bias, **made)
    if kind == "conv2d_transpose":
        g = conv_geometry(s)
        return nn.ConvTranspose2d(s.in_channels, s.out_channels, g["kernel"], stride=g["stride"], padding=g["padding"],
                                  output_padding=g["output_padding"], groups=g["groups"], bias=bias,
                                  dilation=g["dilation"], **made)
    if kind == "embedding":
        return nn.Embedding(s.num_embeddings, s.embedding_dim, padding_idx=s.padding_idx, **made)
    if kind == "batch_norm":
        cls = nn.BatchNorm2d if len(layer.in_shape) == 3 else nn.BatchNorm1d
        kwargs = {} if s.momentum is None else {"momentum": s.momentum}
        return cls(s.num_features, eps=eps, **kwargs, **made)
    if kind == "layer_norm":
        return nn.LayerNorm(list(s.normalized_shape), eps=eps, elementwise_affine=bool(layer.params), **made)
    if kind == "instance_norm":
        cls = nn.InstanceNorm2d if len(layer.in_shape) == 3 else nn.InstanceNorm1d
        kwargs = {} if s.affine is None else {"affine": s.affine}  # Torch's default: no scale or bias
        return cls(s.num_features, eps=eps, **kwargs, **made)
    if kind == "group_norm":
        return nn.GroupNorm(s.num_groups, s.num_channels, eps=eps, affine=bool(layer.params), **made)
    if kind == "dropout":
        return nn.Dropout(p=s.p)
    if kind == "max_pool2d":
        g = conv_geometry(s)
        return nn.MaxPool2d(g["kernel"], stride=g["stride"], padding=g["padding"])
    if kind == "avg_pool2d":
        g = conv_geometry(s)
        kwargs = {} if s.exclude_padding is None else {"count_include_pad": not s.exclude_padding}
        return nn.AvgPool2d(g["kernel"], stride=g["stride"], padding=g["padding"], **kwargs)
    if kind == "adaptive_avg_pool2d":
        return nn.AdaptiveAvgPool2d(tuple(s.output_size))
    if kind == "flatten":
        return nn.Flatten()
    if kind == "gelu":
        return nn.GELU(approximate=s.arg("approximate", "none"))
    if kind == "softmax":
        return nn.Softmax(dim=s.arg("axis", -1))
    if kind == "leaky_relu":
        return nn.LeakyReLU(**({} if s.negative_slope is None else {"negative_slope": s.negative_slope}))
    return {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[kind]()


def build(case: Case, dtype, device, fw) -> network.Network:
    modules = {layer.name: _module(case, layer, dtype, device) for layer in walk(case.network())
               if layer.kind != "residual"}
    return network.Network(case, "torch", modules, fw)


def set_parameter(param, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(param.device))
