"""The dropout family: the reference by hand (p = 0 and 1, whole channels, alpha dropout, training off),
mask recovery at the shape of one draw, the spec errors and the perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import data, reference
from equivalence.backends.common import recover_draw_mask
from equivalence.plan import perturb, perturbations
from equivalence.reference.dropout import SELU_ALPHA, SELU_SCALE, alpha_transform

from .casefiles import load, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def dropout_doc(routes=None, **dropout) -> dict:
    table = {"p": 0.5, "shape": [64, 32]}
    table.update(dropout)
    doc = {"id": "drop", "description": "a dropout probe", "kind": "dropout", "dropout": table}
    if routes is not None:
        doc["routes"] = routes
    return doc


def run(tmp_path, **dropout):
    case = load(tmp_path, dropout_doc(**dropout))
    x, upstream = data.dropout_inputs(case)
    return case, x, upstream, reference.run(case).steps[0]


# ------------------------------------------------------------------------------------ reference by hand

def test_p_zero_is_the_identity(tmp_path):
    _, x, upstream, step = run(tmp_path, p=0.0)
    assert np.array_equal(step["output"]["dropout"], x) and np.array_equal(step["input_grad"]["dropout"], upstream)
    assert step["keep_ratio"]["-"] == 1 and step["batch_agreement"]["-"] == 1


@pytest.mark.parametrize("variant, shape", [("dropout", [64, 32]), ("alpha_dropout", [64, 32]),
                                            ("dropout2d", [8, 4, 3, 3])])
def test_p_one_gives_zeros_not_nan(tmp_path, variant, shape):
    _, x, _, step = run(tmp_path, p=1.0, variant=variant, shape=shape)
    for q in ("output", "input_grad"):
        assert np.array_equal(step[q]["dropout"], np.zeros_like(x)), f"{variant} p=1 {q}: {step[q]['dropout']}"
    assert np.array_equal(step["eval_output"]["dropout"], x), "eval is still the identity"
    assert step["keep_ratio"]["-"] == 0


def test_whole_channels_are_dropped_together(tmp_path):
    case, x, _, step = run(tmp_path, p=0.5, variant="dropout2d", shape=[16, 8, 3, 3])
    mask = step["dropout_mask"]["dropout"]
    assert mask.shape == (16, 8, 1, 1), mask.shape
    out = step["output"]["dropout"]
    assert np.array_equal(out, x * mask * 2), "kept channels scaled by 1/(1-p), dropped ones zero"
    assert 0 < mask.mean() < 1, f"p = 0.5 over 128 channels kept {mask.mean()}"


def test_axis_mask_shape(tmp_path):
    case = load(tmp_path, dropout_doc(shape=[4, 5, 6], axis=[1]))
    assert case.dropout.mask_shape() == (1, 5, 1)
    assert load(tmp_path, dropout_doc(shape=[4, 5, 6], axis=[0, 2]), "b.toml").dropout.mask_shape() == (4, 1, 6)
    assert load(tmp_path, dropout_doc(shape=[5, 6], variant="dropout1d"), "c.toml").dropout.mask_shape() == (5, 1), \
        "a rank-2 dropout1d input is one unbatched sample [C, L]"


def test_alpha_dropout_by_hand(tmp_path):
    """a = ((1-p)(1 + p*s^2))^-1/2 with s = alpha*scale; kept: a*x + a*s*p; dropped: -a*s + a*s*p."""
    p = 0.5
    s = SELU_ALPHA * SELU_SCALE
    a = ((1 - p) * (1 + p * s * s)) ** -0.5
    case, x, upstream, step = run(tmp_path, p=p, variant="alpha_dropout", shape=[256, 256])
    mask = step["dropout_mask"]["dropout"]
    expected = np.where(mask == 1, a * x + a * s * p, -a * s + a * s * p)
    assert np.allclose(step["output"]["dropout"], expected, rtol=1e-13, atol=1e-15)
    assert np.allclose(step["input_grad"]["dropout"], upstream * a * mask, rtol=1e-13, atol=0)
    assert alpha_transform(p, np.dtype("float64")) == pytest.approx((a, -s, a * s * p), rel=1e-15)


def test_alpha_dropout_keeps_mean_and_variance():
    """The defining property (Klambauer et al. 2017): standard normal in, mean 0 and variance 1 out."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1_000_000)
    for p in (0.1, 0.3, 0.5):
        a, saturation, shift = alpha_transform(p, np.dtype("float64"))
        keep = rng.uniform(size=x.shape) >= p
        out = np.where(keep, a * x, a * saturation) + shift
        assert abs(out.mean()) < 5e-3 and abs(out.var() - 1) < 5e-3, (p, out.mean(), out.var())


def test_training_off_is_the_eval_formula(tmp_path):
    _, x, upstream, step = run(tmp_path, p=0.3, training=False, mode="downscale_in_infer")
    assert np.allclose(step["output"]["dropout"], x * 0.7), "training off: the eval formula, x * (1 - p)"
    assert np.allclose(step["input_grad"]["dropout"], upstream * 0.7)
    assert np.all(step["dropout_mask"]["dropout"] == 1) and step["keep_ratio"]["-"] == 1


def test_float32_dropout_attribute_flavour(tmp_path):
    """Paddle's kernel: scale 1 / (1.0f - float(p)), 1.4285715 for p = 0.3, not 1.4285714285714286."""
    case = load(tmp_path, dict(dropout_doc(p=0.3), reference={"dropout_attributes": "float32"}))
    x, _ = data.dropout_inputs(case)
    step = reference.run(case).steps[0]
    kept = step["dropout_mask"]["dropout"] == 1
    scale = step["output"]["dropout"][kept & (x != 0)] / x[kept & (x != 0)]
    assert np.allclose(scale, 1 / float(np.float32(1) - np.float32(0.3)), rtol=1e-15), scale[:3]
    assert not np.allclose(scale, 1 / 0.7, rtol=1e-10, atol=0)


def test_batch_agreement_by_hand(tmp_path):
    """q^2 + (1-q)^2: 0.58 for q = 0.7; no entry for a mask with a single row."""
    _, _, _, step = run(tmp_path, p=0.3)
    assert step["batch_agreement"]["-"] == pytest.approx(0.58)
    _, _, _, shared = run(tmp_path, p=0.3, shape=[4, 5], axis=[1])
    assert "batch_agreement" not in shared, sorted(shared)


# ------------------------------------------------------------------------------------ mask recovery

def test_alpha_mask_is_read_off_the_gradient(tmp_path):
    case = load(tmp_path, dropout_doc(variant="alpha_dropout", shape=[2, 3]))
    x = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 3.0]])
    out = np.full_like(x, -1.2)  # every output is the same constant: the output says nothing
    grad = np.array([[0.9, 0.0, 0.0], [0.9, 0.9, 0.0]])
    assert np.array_equal(recover_draw_mask(case.dropout, x, out, grad), [[1, 0, 0], [1, 1, 0]])


def test_channel_mask_counts_a_channel_kept_if_any_element_is(tmp_path):
    case = load(tmp_path, dropout_doc(variant="dropout2d", shape=[1, 2, 1, 2]))
    x = np.array([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    out = np.array([[[[2.0, 0.0]], [[0.0, 0.0]]]])  # channel 0 half dropped: the output check must catch it
    grad = np.where(out != 0, 2.0, 0.0)
    assert np.array_equal(recover_draw_mask(case.dropout, x, out, grad), [[[[1.0]], [[0.0]]]])


# ------------------------------------------------------------------------------------ spec and perturbations

@pytest.mark.parametrize("change, key, says", [
    ({"p": 1.5}, "dropout.p", ["1.5 is not a drop probability", "0 <= p <= 1"]),
    ({"variant": "dropout2d"}, "dropout.shape", ["dropout2d takes input of rank 4", "[64, 32]"]),
    ({"variant": "spatial"}, "dropout.variant", ["'spatial' is not known", "feature_alpha_dropout"]),
    ({"axis": [2]}, "dropout.axis", ["[2] is not a set of axes of [64, 32]", "0..1"]),
    ({"axis": [0, 0]}, "dropout.axis", ["is not a set of axes"]),
    ({"variant": "alpha_dropout", "axis": [0]}, "dropout.axis", ["applies to variant dropout, not alpha_dropout"]),
    ({"variant": "alpha_dropout", "mode": "downscale_in_infer"}, "dropout.mode", ["applies to variant dropout only"]),
    ({"omit_training": True}, "dropout.omit_training", ["only the functional route", "routes = ['functional']"]),
    ({"variant": "feature_alpha_dropout", "shape": [8]}, "dropout.shape", ["needs [N, C, ...]"]),
])
def test_dropout_spec_errors(tmp_path, change, key, says):
    spec_error(write(tmp_path, dropout_doc(**change)), key=key, says=says)


def test_omit_training_with_the_functional_route_loads(tmp_path):
    case = load(tmp_path, dropout_doc(routes=["functional"], omit_training=True, variant="alpha_dropout"))
    assert case.dropout.omit_training and case.selected_routes == ("functional",)


def test_dropout_perturbations(tmp_path):
    on = load(tmp_path, dropout_doc(p=1.0))
    assert perturbations(on) == ["dropout-p"] and perturb(on, "dropout-p").dropout.p == pytest.approx(0.99), \
        "p = 1 must move down, or the perturbation would be no change"
    off = load(tmp_path, dropout_doc(training=False), "off.toml")
    assert perturbations(off) == ["dropout-training"], perturbations(off)
    assert perturb(off, "dropout-training").dropout.training is True
