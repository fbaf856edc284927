"""The NumPy reference of every layer kind: gradients against central finite differences (float64), and
forwards against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equivalence.reference import layers as L
from equivalence.spec.layers import LayerSpec, parameter_shapes, place_layers

pytestmark = pytest.mark.harness


def _spec(kind, **kw):
    return LayerSpec(kind=kind, **{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})


# (layer specs, per-sample input shape, token ids?)
CASES = {
    "linear": ([_spec("linear", in_features=4, out_features=3)], (4,)),
    "linear-3d": ([_spec("linear", in_features=4, out_features=3, bias=False)], (2, 4)),
    "conv1d": ([_spec("conv1d", in_channels=2, out_channels=4, kernel_size=[3], stride=[2], padding=[1],
                      dilation=[1], groups=2)], (2, 7)),
    "conv2d": ([_spec("conv2d", in_channels=2, out_channels=3, kernel_size=[3, 2], stride=[2, 1], padding=[1, 1],
                      dilation=[1, 2])], (2, 6, 5)),
    "conv2d-groups": ([_spec("conv2d", in_channels=4, out_channels=2, kernel_size=[2, 2], groups=2)], (4, 4, 4)),
    "conv2d_transpose": ([_spec("conv2d_transpose", in_channels=2, out_channels=4, kernel_size=[3, 3], stride=[2, 2],
                                padding=[1, 1], output_padding=[1, 0], groups=2)], (2, 3, 4)),
    "conv2d_transpose-dilated": ([_spec("conv2d_transpose", in_channels=2, out_channels=3, kernel_size=[2, 3],
                                        dilation=[2, 1], bias=False)], (2, 3, 3)),
    "batch_norm1d": ([_spec("batch_norm", num_features=3)], (3,)),
    "batch_norm1d-nlc": ([_spec("batch_norm", num_features=3)], (3, 4)),
    "batch_norm2d": ([_spec("batch_norm", num_features=2)], (2, 3, 3)),
    "layer_norm": ([_spec("layer_norm", normalized_shape=[3, 4])], (2, 3, 4)),
    "instance_norm": ([_spec("instance_norm", num_features=2, affine=True)], (2, 3, 3)),
    "instance_norm-plain": ([_spec("instance_norm", num_features=2, affine=False)], (2, 5)),
    "group_norm": ([_spec("group_norm", num_groups=2, num_channels=4)], (4, 2, 3)),
    "max_pool2d": ([_spec("max_pool2d", kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])], (2, 5, 5)),
    "avg_pool2d-include": ([_spec("avg_pool2d", kernel_size=[3, 3], stride=[2, 2], padding=[1, 1],
                                  exclude_padding=False)], (2, 5, 5)),
    "avg_pool2d-exclude": ([_spec("avg_pool2d", kernel_size=[3, 3], stride=[2, 2], padding=[1, 1],
                                  exclude_padding=True)], (2, 5, 5)),
    "adaptive_avg_pool2d": ([_spec("adaptive_avg_pool2d", output_size=[2, 3])], (2, 5, 7)),
    "flatten": ([_spec("flatten")], (2, 3, 2)),
    "relu": ([_spec("relu")], (5,)),
    "gelu": ([_spec("gelu")], (5,)),
    "gelu-tanh": ([_spec("gelu", approximate="tanh")], (5,)),
    "silu": ([_spec("silu")], (5,)),
    "tanh": ([_spec("tanh")], (5,)),
    "sigmoid": ([_spec("sigmoid")], (5,)),
    "softmax": ([_spec("softmax", axis=1)], (4, 3)),
    "leaky_relu": ([_spec("leaky_relu", negative_slope=0.2)], (5,)),
    "residual": ([_spec("residual", span=3), _spec("linear", in_features=4, out_features=4), _spec("tanh"),
                  _spec("layer_norm", normalized_shape=[4]), _spec("sigmoid")], (4,)),
    "dropout": ([_spec("dropout", p=0.25)], (6,)),
}


def _setup(specs, shape, rng):
    layers = place_layers(tuple(specs), shape)
    params = {name: rng.uniform(0.5, 1.5, s) * rng.choice([-1, 1], s) for name, s in parameter_shapes(layers).items()}
    x = rng.standard_normal((3,) + tuple(shape))
    return layers, params, x


def _ctx(layers, rng, masks=None):
    ctx = L.Context(np.dtype("float64"), mask=lambda name, shape: masks.setdefault(name, (rng.uniform(size=shape) >= 0.25)
                                                                                   .astype(float)))
    for layer in layers:
        if layer.buffers:
            c = layer.buffers["running_mean"]
            ctx.buffers[layer.name] = {"running_mean": np.zeros(c), "running_var": np.ones(c)}
    return ctx


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_finite_differences(name):
    rng = np.random.default_rng(0)
    specs, shape = CASES[name]
    layers, params, x = _setup(specs, shape, rng)
    masks: dict = {}
    ctx = _ctx(layers, rng, masks)
    out, _ = L.forward(layers, params, x, ctx)
    upstream = rng.uniform(0.5, 1.5, out.shape) * rng.choice([-1, 1], out.shape)

    def objective(p, xi):
        y, _ = L.forward(layers, p, xi, _ctx(layers, rng, masks))
        return float((y * upstream).sum())

    _, caches = L.forward(layers, params, x, _ctx(layers, rng, masks))
    gx, grads = L.backward(layers, params, caches, upstream)
    h = 1e-6
    for key in ["x"] + sorted(params):
        target = x if key == "x" else params[key]
        analytic = gx if key == "x" else grads[key]
        assert analytic.shape == target.shape, key
        numeric = np.zeros_like(target)
        for idx in np.ndindex(target.shape):
            old = target[idx]
            target[idx] = old + h
            up = objective(params, x)
            target[idx] = old - h
            down = objective(params, x)
            target[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        if name == "max_pool2d" and key == "x":  # the max is not differentiable at ties; there are none here
            pass
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7, err_msg=f"{name}: {key}")


def test_gelu_values_by_hand():
    layers = place_layers((_spec("gelu"),), (1,))
    x = np.array([[1.0]])
    y, _ = L.forward(layers, {}, x, _ctx(layers, None))
    assert y[0, 0] == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))))
    layers = place_layers((_spec("gelu", approximate="tanh"),), (1,))
    y, _ = L.forward(layers, {}, x, _ctx(layers, None))
    assert y[0, 0] == pytest.approx(0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715)))


def test_avg_pool_divisors_by_hand():
    x = np.ones((1, 1, 2, 2))
    for exclude, corner in ((True, 1.0), (False, 0.25)):
        layers = place_layers((_spec("avg_pool2d", kernel_size=[2, 2], stride=[2, 2], padding=[1, 1],
                                     exclude_padding=exclude),), (1, 2, 2))
        y, _ = L.forward(layers, {}, x, _ctx(layers, None))
        assert y[0, 0, 0, 0] == corner  # one real element in the corner window


def test_conv2d_values_by_hand():
    layers = place_layers((_spec("conv2d", in_channels=1, out_channels=1, kernel_size=[2, 2], bias=False),), (1, 2, 3))
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    w = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    y, _ = L.forward(layers, {"conv0.weight": w}, x, _ctx(layers, None))
    np.testing.assert_array_equal(y[0, 0], [[0 + 2 + 9 + 16, 1 + 4 + 12 + 20]])


def test_conv2d_transpose_is_the_adjoint_of_conv2d():
    rng = np.random.default_rng(1)
    conv = place_layers((_spec("conv2d", in_channels=2, out_channels=3, kernel_size=[3, 3], stride=[2, 2],
                               padding=[1, 1], bias=False),), (2, 7, 7))
    tconv = place_layers((_spec("conv2d_transpose", in_channels=3, out_channels=2, kernel_size=[3, 3], stride=[2, 2],
                                padding=[1, 1], bias=False),), (3, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    x, u = rng.standard_normal((1, 2, 7, 7)), rng.standard_normal((1, 3, 4, 4))
    y, _ = L.forward(conv, {"conv0.weight": w}, x, _ctx(conv, None))
    v, _ = L.forward(tconv, {"conv0.weight": w}, u, _ctx(tconv, None))
    assert float((y * u).sum()) == pytest.approx(float((x * v).sum()))  # <conv x, u> = <x, conv^T u>


def test_batch_norm_running_statistics_flavours():
    layers = place_layers((_spec("batch_norm", num_features=1, momentum=0.5),), (1,))
    x = np.array([[0.0], [2.0]])  # mean 1, biased variance 1, unbiased 2
    params = {"batch_norm0.weight": np.ones(1), "batch_norm0.bias": np.zeros(1)}
    for flavour, var in (("unbiased", 0.5 * 1 + 0.5 * 2), ("biased", 0.5 * 1 + 0.5 * 1)):
        ctx = _ctx(layers, None)
        ctx.running_var = flavour
        L.forward(layers, params, x, ctx)
        assert ctx.buffers["batch_norm0"]["running_mean"][0] == 0.5
        assert ctx.buffers["batch_norm0"]["running_var"][0] == var


def test_embedding_padding_row_gets_no_gradient():
    layers = place_layers((_spec("embedding", num_embeddings=4, embedding_dim=2, padding_idx=0),), (3,))
    w = np.arange(8.0).reshape(4, 2)
    ids = np.array([[0, 1, 1]])
    y, caches = L.forward(layers, {"embedding0.weight": w}, ids, _ctx(layers, None))
    _, grads = L.backward(layers, {"embedding0.weight": w}, caches, np.ones_like(y))
    np.testing.assert_array_equal(grads["embedding0.weight"], [[0, 0], [2, 2], [0, 0], [0, 0]])
