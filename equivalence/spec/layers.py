"""[[model.layers]]: a model as a list of layers, each a `kind` with its arguments.

Every layer kind lists the arguments it takes (``KINDS``); the loader rejects the others by name. Shapes are
inferred from the input shape ([data] shape) through the list, so a layer that does not fit its input is an
error naming the layer's key before anything runs. Parameter and buffer names are the canonical ones every
implementation records: a prefix per family and a counter in model order (``conv0.weight``,
``batch_norm0.running_mean``, ``linear1.bias``); a residual block's body is numbered in line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .base import _doc

ACTIVATION_KINDS = ("relu", "gelu", "silu", "tanh", "sigmoid", "softmax", "leaky_relu")
PARAMETRIC_KINDS = ("linear", "conv1d", "conv2d", "conv2d_transpose", "embedding", "batch_norm", "layer_norm",
                    "instance_norm", "group_norm")
SHAPE_KINDS = ("dropout", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "flatten", "residual")
LAYER_KINDS = PARAMETRIC_KINDS + SHAPE_KINDS + ACTIVATION_KINDS
GELU_APPROXIMATIONS = ("none", "tanh")
DEFAULT_LEAKY_SLOPE = 0.01  # paddle/nn/layer/activation.py LeakyReLU, torch/nn/modules/activation.py LeakyReLU
DEFAULT_EPSILON = 1e-5  # every normalization layer of both frameworks

# kind -> (required arguments, optional arguments)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "linear": (("in_features", "out_features"), ("bias",)),
    "conv1d": (("in_channels", "out_channels", "kernel_size"), ("stride", "padding", "dilation", "groups", "bias")),
    "conv2d": (("in_channels", "out_channels", "kernel_size"), ("stride", "padding", "dilation", "groups", "bias")),
    "conv2d_transpose": (("in_channels", "out_channels", "kernel_size"),
                         ("stride", "padding", "output_padding", "dilation", "groups", "bias")),
    "embedding": (("num_embeddings", "embedding_dim"), ("padding_idx", "drawn_padding_row")),
    "batch_norm": (("num_features",), ("epsilon", "momentum")),
    "layer_norm": (("normalized_shape",), ("epsilon", "affine")),
    "instance_norm": (("num_features",), ("epsilon", "affine")),
    "group_norm": (("num_groups", "num_channels"), ("epsilon", "affine")),
    "dropout": (("p",), ()),
    "max_pool2d": (("kernel_size",), ("stride", "padding")),
    "avg_pool2d": (("kernel_size",), ("stride", "padding", "exclude_padding")),
    "adaptive_avg_pool2d": (("output_size",), ()),
    "flatten": ((), ()),
    "residual": (("span",), ()),
    "relu": ((), ()), "tanh": ((), ()), "sigmoid": ((), ()), "silu": ((), ()),
    "gelu": ((), ("approximate",)),
    "softmax": ((), ("axis",)),
    "leaky_relu": ((), ("negative_slope",)),
}

PREFIXES = {"conv1d": "conv", "conv2d": "conv", "conv2d_transpose": "conv"}


@dataclass(frozen=True)
class LayerSpec:
    kind: str = field(metadata=_doc("The layer; its other keys are its arguments (see each).", LAYER_KINDS))
    in_features: int | None = field(default=None, metadata=_doc("linear: input width."))
    out_features: int | None = field(default=None, metadata=_doc("linear: output width."))
    in_channels: int | None = field(default=None, metadata=_doc("conv*: input channels."))
    out_channels: int | None = field(default=None, metadata=_doc("conv*: output channels."))
    kernel_size: tuple[int, ...] | None = field(default=None, metadata=_doc(
        "conv*, pools: kernel extent per spatial axis ([k] for conv1d, [kh, kw] otherwise)."))
    stride: tuple[int, ...] | None = field(default=None, metadata=_doc(
        "conv*, pools: stride per spatial axis; default 1 (conv) or kernel_size (pools)."))
    padding: tuple[int, ...] | None = field(default=None, metadata=_doc("conv*, pools: zero padding per axis; 0."))
    dilation: tuple[int, ...] | None = field(default=None, metadata=_doc("conv*: dilation per axis; default 1."))
    output_padding: tuple[int, ...] | None = field(default=None, metadata=_doc(
        "conv2d_transpose: extra rows/columns on one side of the output; default 0."))
    groups: int | None = field(default=None, metadata=_doc("conv*: channel groups; default 1."))
    bias: bool | None = field(default=None, metadata=_doc("linear, conv*: whether there is a bias; default true."))
    num_embeddings: int | None = field(default=None, metadata=_doc("embedding: vocabulary size."))
    embedding_dim: int | None = field(default=None, metadata=_doc("embedding: vector width."))
    padding_idx: int | None = field(default=None, metadata=_doc(
        "embedding: the id whose vector stays zero and gets no gradient (both frameworks zero it at creation)."))
    drawn_padding_row: bool | None = field(default=None, metadata=_doc(
        "embedding: the seeded start keeps the padding row as drawn, not zero (a loaded pretrained table). Paddle's "
        "lookup still returns zeros for the padding id, Torch's returns the row; the reference follows [reference] "
        "follows."))
    num_features: int | None = field(default=None, metadata=_doc("batch_norm, instance_norm: channels (axis 1)."))
    normalized_shape: tuple[int, ...] | None = field(default=None, metadata=_doc(
        "layer_norm: the trailing shape normalized per sample (also the shape of its scale and shift)."))
    num_groups: int | None = field(default=None, metadata=_doc("group_norm: channel groups."))
    num_channels: int | None = field(default=None, metadata=_doc("group_norm: channels (axis 1)."))
    epsilon: float | None = field(default=None, metadata=_doc(f"norms: epsilon; default {DEFAULT_EPSILON:g} in both."))
    momentum: float | None = field(default=None, metadata=_doc(
        "batch_norm: weight of the NEW batch statistic (Torch's convention); Paddle gets 1 - momentum. Default "
        "0.1 (Paddle's 0.9 is the same update)."))
    affine: bool | None = field(default=None, metadata=_doc(
        "layer_norm, group_norm, instance_norm: learnable scale and shift. Omitted = each framework's default: "
        "true, except Torch's InstanceNorm (affine=False) where Paddle's has scale and bias; the reference then "
        "follows [reference] follows."))
    p: float | None = field(default=None, metadata=_doc(
        "dropout: drop probability; each implementation's masks are recovered and replayed by the reference."))
    exclude_padding: bool | None = field(default=None, metadata=_doc(
        "avg_pool2d: divide by the count of real (not padded) elements: Paddle exclusive=True (its default), "
        "Torch count_include_pad=False (its default is True). Omitted = each framework's default; the reference "
        "then follows [reference] follows."))
    output_size: tuple[int, ...] | None = field(default=None, metadata=_doc("adaptive_avg_pool2d: [oh, ow]."))
    approximate: str | None = field(default=None, metadata=_doc(
        "gelu: none (exact, erf) or tanh (Paddle approximate=True, Torch approximate='tanh'); default none.",
        GELU_APPROXIMATIONS))
    axis: int | None = field(default=None, metadata=_doc(
        "softmax: the axis (Paddle's default -1, Torch needs dim); default -1."))
    negative_slope: float | None = field(default=None, metadata=_doc(
        f"leaky_relu: slope for x < 0; default {DEFAULT_LEAKY_SLOPE} in both."))
    span: int | None = field(default=None, metadata=_doc(
        "residual: how many of the following layers form f in y = x + f(x) (f must keep the shape); the list "
        "stays flat, so a residual block is a residual entry and then its layers."))

    def arg(self, name: str, default=None):
        value = getattr(self, name)
        return default if value is None else value


@dataclass(frozen=True)
class Layer:
    """A layer placed in the model: its spec, canonical name, input and output shapes (per sample), and
    the canonical shapes of its parameters and buffers."""
    spec: LayerSpec
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: dict[str, tuple[int, ...]]
    buffers: dict[str, tuple[int, ...]]
    body: tuple[Layer, ...] = ()
    key: str = ""  # the layer's key in the case file, for errors

    @property
    def kind(self) -> str:
        return self.spec.kind


class LayerError(ValueError):
    def __init__(self, key: str, problem: str, accepted: str | None = None):
        self.key, self.problem, self.accepted = key, problem, accepted
        super().__init__(f"{key}: {problem}")


def _spatial(spec: LayerSpec, name: str, dims: int, default: int, key: str) -> tuple[int, ...]:
    value = getattr(spec, name)
    if value is None:
        return (default,) * dims
    if len(value) == 1 and dims > 1:
        value = value * dims
    if len(value) != dims:
        raise LayerError(f"{key}.{name}", f"{list(value)} has {len(value)} entries", f"{dims} (one per spatial axis)")
    return tuple(value)


def conv_geometry(spec: LayerSpec, key: str = "") -> dict:
    """kernel, stride, padding, dilation, output_padding and groups of a conv or pool layer, one entry per
    spatial axis."""
    dims = 1 if spec.kind == "conv1d" else 2
    kernel = _spatial(spec, "kernel_size", dims, 1, key)
    pool = spec.kind.endswith("pool2d")
    return {"kernel": kernel, "stride": _spatial(spec, "stride", dims, 1, key) if not pool or spec.stride
            else kernel, "padding": _spatial(spec, "padding", dims, 0, key),
            "dilation": _spatial(spec, "dilation", dims, 1, key),
            "output_padding": _spatial(spec, "output_padding", dims, 0, key), "groups": spec.arg("groups", 1)}


def _need(ok: bool, key: str, problem: str, accepted: str | None = None) -> None:
    if not ok:
        raise LayerError(key, problem, accepted)


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def affine(spec: LayerSpec, follows: str | None) -> bool:
    """Whether a norm layer has a scale and shift: as written, else the default of the framework the reference
    follows (Paddle's InstanceNorm has them, paddle/nn/layer/norm.py:96; Torch's not, affine=False at
    torch/nn/modules/instancenorm.py InstanceNorm2d)."""
    if spec.affine is not None:
        return spec.affine
    return spec.kind != "instance_norm" or follows != "torch"


def _place(spec: LayerSpec, key: str, shape: tuple[int, ...], follows: str | None) -> tuple[tuple[int, ...], dict, dict]:
    """(output shape, parameter shapes, buffer shapes) of one layer on a per-sample input shape."""
    kind = spec.kind
    required, optional = KINDS[kind]
    for name in required:
        _need(getattr(spec, name) not in (None, ()), f"{key}.{name}", f"a {kind} layer needs it")
    for name in LayerSpec.__dataclass_fields__:
        if name not in ("kind",) + required + optional and getattr(spec, name) not in (None, ()):
            raise LayerError(f"{key}.{name}", f"does not apply to a {kind} layer",
                             ", ".join(required + optional) or "no arguments")
    if kind in ACTIVATION_KINDS:
        if kind == "softmax":
            axis = spec.arg("axis", -1)
            _need(-len(shape) - 1 <= axis <= len(shape), f"{key}.axis", f"{axis} is outside the input's axes")
        return shape, {}, {}
    if kind == "linear":
        _need(len(shape) >= 1 and shape[-1] == spec.in_features, f"{key}.in_features",
              f"{spec.in_features} does not match the input's last axis ({list(shape)})")
        params = {"weight": (spec.in_features, spec.out_features)}
        if spec.arg("bias", True):
            params["bias"] = (spec.out_features,)
        return shape[:-1] + (spec.out_features,), params, {}
    if kind in ("conv1d", "conv2d", "conv2d_transpose"):
        g = conv_geometry(spec, key)
        dims = len(g["kernel"])
        _need(len(shape) == dims + 1, key, f"a {kind} layer takes [C{', L' if dims == 1 else ', H, W'}] per sample, "
              f"got {list(shape)}")
        _need(shape[0] == spec.in_channels, f"{key}.in_channels", f"{spec.in_channels} vs {shape[0]} input channels")
        groups = g["groups"]
        _need(groups >= 1 and spec.in_channels % groups == 0 and spec.out_channels % groups == 0,
              f"{key}.groups", f"{groups} does not divide in_channels and out_channels")
        if kind == "conv2d_transpose":
            spatial = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, d, op in
                            zip(shape[1:], g["kernel"], g["stride"], g["padding"], g["dilation"], g["output_padding"]))
            for op, s, d in zip(g["output_padding"], g["stride"], g["dilation"]):
                _need(op < max(s, d), f"{key}.output_padding", f"{op} is not below stride or dilation")
            weight = (spec.in_channels, spec.out_channels // groups) + g["kernel"]
        else:
            spatial = tuple(_conv_out(n, k, s, p, d) for n, k, s, p, d in
                            zip(shape[1:], g["kernel"], g["stride"], g["padding"], g["dilation"]))
            weight = (spec.out_channels, spec.in_channels // groups) + g["kernel"]
        _need(all(n >= 1 for n in spatial), key, f"the output would be empty ({list(spatial)}) on input {list(shape)}")
        params = {"weight": weight}
        if spec.arg("bias", True):
            params["bias"] = (spec.out_channels,)
        return (spec.out_channels,) + spatial, params, {}
    if kind == "embedding":
        pad = spec.padding_idx
        _need(pad is None or 0 <= pad < spec.num_embeddings, f"{key}.padding_idx",
              f"{pad} is not an id", f"0 <= padding_idx < {spec.num_embeddings}")
        return shape + (spec.embedding_dim,), {"weight": (spec.num_embeddings, spec.embedding_dim)}, {}
    if kind in ("batch_norm", "instance_norm", "group_norm"):
        channels = spec.num_channels if kind == "group_norm" else spec.num_features
        field_name = "num_channels" if kind == "group_norm" else "num_features"
        _need(len(shape) >= 1 and shape[0] == channels, f"{key}.{field_name}",
              f"{channels} vs input {list(shape)} (channels on axis 1 of [N, C, ...])")
        if kind == "batch_norm":
            _need(len(shape) in (1, 2, 3), key, f"batch_norm takes [N, C], [N, C, L] or [N, C, H, W]; got per-sample "
                  f"{list(shape)}")
            m = spec.momentum
            _need(m is None or 0 <= m <= 1, f"{key}.momentum", f"{m} is not a momentum", "0 <= momentum <= 1")
            return shape, {"weight": (channels,), "bias": (channels,)}, \
                {"running_mean": (channels,), "running_var": (channels,)}
        if kind == "instance_norm":
            _need(len(shape) in (2, 3), key, f"instance_norm takes [N, C, L] or [N, C, H, W]; got per-sample {list(shape)}")
        else:
            _need(channels % spec.num_groups == 0, f"{key}.num_groups", f"{spec.num_groups} does not divide {channels}")
        params = {"weight": (channels,), "bias": (channels,)} if affine(spec, follows) else {}
        return shape, params, {}
    if kind == "layer_norm":
        ns = tuple(spec.normalized_shape)
        _need(shape[len(shape) - len(ns):] == ns and len(ns) <= len(shape), f"{key}.normalized_shape",
              f"{list(ns)} is not the trailing shape of the input {list(shape)}")
        return shape, ({"weight": ns, "bias": ns} if affine(spec, follows) else {}), {}
    if kind == "dropout":
        _need(0 <= spec.p < 1, f"{key}.p", f"{spec.p} is not a drop probability", "0 <= p < 1")
        return shape, {}, {}
    if kind in ("max_pool2d", "avg_pool2d"):
        g = conv_geometry(spec, key)
        _need(len(shape) == 3, key, f"a {kind} layer takes [C, H, W] per sample, got {list(shape)}")
        for k, p in zip(g["kernel"], g["padding"]):
            _need(2 * p <= k, f"{key}.padding", f"{p} is more than half the kernel {k}", "padding <= kernel_size / 2")
        spatial = tuple(_conv_out(n, k, s, p, 1) for n, k, s, p in zip(shape[1:], g["kernel"], g["stride"], g["padding"]))
        _need(all(n >= 1 for n in spatial), key, f"the output would be empty on input {list(shape)}")
        return (shape[0],) + spatial, {}, {}
    if kind == "adaptive_avg_pool2d":
        _need(len(shape) == 3 and len(spec.output_size) == 2, key,
              f"adaptive_avg_pool2d takes [C, H, W] per sample and output_size [oh, ow]; got {list(shape)}")
        return (shape[0],) + tuple(spec.output_size), {}, {}
    if kind == "flatten":
        return (math.prod(shape),), {}, {}
    raise AssertionError(kind)  # residual is placed by place_layers


def place_layers(specs: tuple[LayerSpec, ...], in_shape: tuple[int, ...], follows: str | None = None,
                 key: str = "model.layers", counters: dict | None = None, start: int = 0) -> tuple[Layer, ...]:
    """Every layer with its canonical name and shapes; raises LayerError naming the layer's key. ``follows``
    is the framework whose defaults fill arguments a case leaves to each framework (instance_norm affine). A
    residual entry takes the next ``span`` entries as its body."""
    counters = {} if counters is None else counters
    placed, shape, i = [], tuple(in_shape), 0
    while i < len(specs):
        spec, at = specs[i], f"{key}[{start + i}]"
        prefix = PREFIXES.get(spec.kind, spec.kind)
        name = f"{prefix}{counters.get(prefix, 0)}"
        counters[prefix] = counters.get(prefix, 0) + 1
        if spec.kind == "residual":
            span = spec.span or 0
            _need(1 <= span <= len(specs) - i - 1, f"{at}.span", f"{spec.span} layers do not follow it",
                  f"1..{len(specs) - i - 1}")
            for name_ in LayerSpec.__dataclass_fields__:
                _need(name_ in ("kind", "span") or getattr(spec, name_) is None, f"{at}.{name_}",
                      "does not apply to a residual layer", "span")
            body = place_layers(specs[i + 1: i + 1 + span], shape, follows, key, counters, start + i + 1)
            _need(body[-1].out_shape == shape, f"{at}.span", f"its layers change the shape {list(shape)} to "
                  f"{list(body[-1].out_shape)}; a residual add needs the same shape")
            placed.append(Layer(spec, name, shape, shape, {}, {}, body, at))
            i += 1 + span
            continue
        out, params, buffers = _place(spec, at, shape, follows)
        placed.append(Layer(spec, name, shape, out, params, buffers, (), at))
        shape = out
        i += 1
    return tuple(placed)


def walk(layers: tuple[Layer, ...]):
    """Every layer in model order, residual bodies in line (after their residual)."""
    for layer in layers:
        yield layer
        yield from walk(layer.body)


def parameter_shapes(layers: tuple[Layer, ...]) -> dict[str, tuple[int, ...]]:
    return {f"{layer.name}.{role}": shape for layer in walk(layers) for role, shape in layer.params.items()}
