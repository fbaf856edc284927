"""The normalization probe's reference against values worked out by hand and finite differences, its spec
errors, its momentum mapping and its sensitivity perturbations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from equivalence import data, reference
from equivalence.backends.common import norm_momentum
from equivalence.plan import perturb, perturbations
from equivalence.reference import normalization as norm_ref

from .casefiles import load, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def norm_doc(**normalization) -> dict:
    table = {"layer": "batch_norm1d", "shape": [2, 1], "momentum": 0.25, "epsilon": 1.0}
    table.update(normalization)
    return {"id": "norm", "description": "a normalization probe", "kind": "normalization", "steps": 1,
            "normalization": {k: v for k, v in table.items() if v is not None}}


def close(actual, expected, what, rtol=1e-12, atol=1e-14):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    assert np.allclose(actual, expected, rtol=rtol, atol=atol), (
        f"{what}: {actual.tolist()} vs expected {expected.tolist()}")


@pytest.fixture
def literal_inputs(monkeypatch):
    """Replace the drawn inputs by literal ones: batches [[1], [3]] (train) and [[2], [4]] (eval),
    upstream [[1], [0.5]], weight 2, bias 0.5."""
    inputs = {"batches": [np.array([[1.0], [3.0]]), np.array([[2.0], [4.0]])],
              "upstream": [np.array([[1.0], [0.5]]), np.array([[1.0], [1.0]])],
              "weight": np.array([2.0]), "bias": np.array([0.5])}
    monkeypatch.setattr(data, "normalization_inputs", lambda case: inputs)
    return inputs


@pytest.mark.parametrize("estimator, running_var", [("unbiased", 1.25), ("biased", 1.0)])
def test_batch_norm_step_by_hand(tmp_path, literal_inputs, estimator, running_var):
    """Channel values [1, 3]: mean 2, biased variance 1, unbiased 2. With epsilon 1, 1/sqrt(var + eps) =
    1/sqrt(2), xhat = [-1, 1]/sqrt(2). New-batch weight 0.25 from (0, 1): running mean 0.5, running variance
    0.75 + 0.25*2 = 1.25 (unbiased) or 0.75 + 0.25*1 = 1 (biased)."""
    case = load(tmp_path, dict(norm_doc(), reference={"batch_norm_running_var": estimator}))
    train, evaluation = reference.run(case).steps
    s = 1 / np.sqrt(2)
    close(train["output"]["norm"], [[-2 * s + 0.5], [2 * s + 0.5]], "output = 2 * xhat + 0.5")
    # dxhat = upstream * 2 = [2, 1]; dx = s * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    #        = s * ([0.5, -0.5] - [-s, s] * (-0.5 s)) = s * [0.25, -0.25]
    close(train["input_grad"]["norm"], [[0.25 * s], [-0.25 * s]], "input gradient through the batch statistics")
    close(train["grad"]["weight"], [-0.5 * s], "d/dweight = sum(upstream * xhat)")
    close(train["grad"]["bias"], [1.5], "d/dbias = sum(upstream)")
    close(train["running_mean"]["norm"], [0.5], "running mean")
    close(train["running_var"]["norm"], [running_var], f"{estimator} running variance")
    close(evaluation["eval_output"]["norm"], 2 * (np.array([[2.0], [4.0]]) - 0.5) / np.sqrt(running_var + 1) + 0.5,
          "eval output with the running statistics")
    close(evaluation["running_var"]["norm"], [running_var], "the eval forward leaves the running variance alone")


def test_global_stats_normalize_with_the_running_statistics(tmp_path, literal_inputs):
    """train_statistics = running: (x - 0) / sqrt(1 + eps), gradient upstream * weight / sqrt(2), nothing
    updated."""
    case = load(tmp_path, norm_doc(train_statistics="running"))
    train, evaluation = reference.run(case).steps
    s = 1 / np.sqrt(2)
    close(train["output"]["norm"], [[2 * s + 0.5], [6 * s + 0.5]], "output")
    close(train["input_grad"]["norm"], [[2 * s], [1 * s]], "input gradient with fixed statistics")
    close(train["running_mean"]["norm"], [0.0], "running mean not updated")
    close(evaluation["running_var"]["norm"], [1.0], "running variance not updated")


def test_layer_norm_by_hand(tmp_path, monkeypatch):
    """One sample [1, 3] over its last axis: mean 2, variance 1, eps 1: xhat = [-1, 1]/sqrt(2)."""
    inputs = {"batches": [np.array([[1.0, 3.0]])] * 2, "upstream": [np.array([[1.0, 0.5]])] * 2,
              "weight": np.array([2.0, 1.0]), "bias": np.array([0.5, -0.5])}
    monkeypatch.setattr(data, "normalization_inputs", lambda case: inputs)
    case = load(tmp_path, norm_doc(layer="layer_norm", shape=[1, 2], momentum=None))
    train, evaluation = reference.run(case).steps
    s = 1 / np.sqrt(2)
    close(train["output"]["norm"], [[-2 * s + 0.5, s - 0.5]], "output")
    close(train["grad"]["weight"], [-s, 0.5 * s], "d/dweight = upstream * xhat per element")
    close(evaluation["eval_output"]["norm"], train["output"]["norm"], "layer norm is the same in eval")
    assert "running_mean" not in train, f"layer norm recorded running statistics: {sorted(train)}"


def _finite_difference(case, f, x, h=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        grad[idx] = (f(plus) - f(minus)) / (2 * h)
    return grad


@pytest.mark.parametrize("table", [
    {"layer": "batch_norm1d", "shape": [5, 3, 2]},
    {"layer": "batch_norm2d", "shape": [3, 2, 2, 2], "train_statistics": "running"},
    {"layer": "layer_norm", "shape": [3, 2, 4], "normalized_dims": 2, "momentum": None},
])
def test_gradients_match_finite_differences(tmp_path, table):
    case = load(tmp_path, dict(norm_doc(**table), steps=2))
    inputs = data.normalization_inputs(case)
    x, g, w, b = inputs["batches"][0], inputs["upstream"][0], inputs["weight"], inputs["bias"]
    eps = np.float64(1.0)
    stats = None
    if case.normalization.train_statistics == "running":
        stats = (np.zeros((1, 2, 1, 1)), np.ones((1, 2, 1, 1)))

    def loss(x_, w_=w, b_=b):
        return float((norm_ref.forward_backward(case, x_, g, w_, b_, eps, stats)[0] * g).sum())

    _, input_grad, grads, _ = norm_ref.forward_backward(case, x, g, w, b, eps, stats)
    close(input_grad, _finite_difference(case, loss, x), "input gradient vs finite differences", rtol=1e-6, atol=1e-8)
    close(grads["weight"], _finite_difference(case, lambda w_: loss(x, w_), w), "weight gradient", rtol=1e-6, atol=1e-8)
    close(grads["bias"], _finite_difference(case, lambda b_: loss(x, w, b_), b), "bias gradient", rtol=1e-6, atol=1e-8)


def test_float32_attributes_flavour(tmp_path):
    """Paddle's kernel: momentum and epsilon as float32; the batch weight is 1 - float32(1 - m)."""
    case = load(tmp_path, dict(norm_doc(momentum=0.1, epsilon=1e-5), reference={"norm_attributes": "float32"}))
    old, new, eps = norm_ref.attributes(case, np.dtype("float64"))
    assert old == float(np.float32(0.9)) and new == 1 - float(np.float32(0.9)), (old, new)
    assert eps == float(np.float32(1e-5)) and eps != 1e-5, eps
    exact = load(tmp_path, norm_doc(momentum=0.1, epsilon=1e-5), "exact.toml")
    assert norm_ref.attributes(exact, np.dtype("float64")) == (0.9, 0.1, 1e-5)


# ------------------------------------------------------------------------------------ momentum mapping

@pytest.mark.parametrize("mapping, paddle, torch", [("converted", 0.875, 0.125), ("same_number", 0.125, 0.125)])
def test_momentum_mapping(tmp_path, mapping, paddle, torch):
    case = load(tmp_path, norm_doc(momentum=0.125, momentum_mapping=mapping))
    assert (norm_momentum(case, "old"), norm_momentum(case, "new")) == (paddle, torch), mapping


def test_omitted_momentum_is_left_to_each_framework(tmp_path):
    case = load(tmp_path, norm_doc(momentum=None))
    assert norm_momentum(case, "old") is None and norm_momentum(case, "new") is None


# ------------------------------------------------------------------------------------ perturbations

def test_batch_norm_perturbations_change_the_reference(tmp_path):
    case = load(tmp_path, dict(norm_doc(shape=[6, 2, 3]), steps=2))
    names = perturbations(case)
    assert names == ["norm-epsilon", "norm-momentum", "running-var-bias"], names
    base = reference.run(case)
    for name in names:
        moved = reference.run(perturb(case, name))
        changed = [q for q in ("output", "running_mean", "running_var")
                   if not np.array_equal(moved.steps[0][q]["norm"], base.steps[0][q]["norm"])]
        assert changed, f"perturbation {name} changed nothing"


def test_fixed_statistics_and_layer_norm_have_no_momentum_perturbation(tmp_path):
    fixed = load(tmp_path, norm_doc(train_statistics="running"))
    layer = load(tmp_path, norm_doc(layer="layer_norm", momentum=None), "ln.toml")
    assert perturbations(fixed) == ["norm-epsilon"], perturbations(fixed)
    assert perturbations(layer) == ["norm-epsilon"], perturbations(layer)
    assert perturb(layer, "norm-epsilon").normalization.epsilon == 10.0


def test_omitted_epsilon_perturbs_the_default(tmp_path):
    case = load(tmp_path, norm_doc(epsilon=None))
    assert perturb(case, "norm-epsilon").normalization.epsilon == pytest.approx(1e-4)


# ------------------------------------------------------------------------------------ spec errors

@pytest.mark.parametrize("change, key, says", [
    ({"layer": "batch_norm2d"}, "normalization.shape", ["batch_norm2d takes input of rank 4", "[2, 1]"]),
    ({"layer": "instance_norm"}, "normalization.layer", ["'instance_norm' is not known", "layer_norm"]),
    ({"momentum": 1.5}, "normalization.momentum", ["1.5 is not a weight", "0 <= momentum <= 1"]),
    ({"momentum": None, "momentum_mapping": "same_number"}, "normalization.momentum_mapping",
     ["same_number needs a momentum"]),
    ({"epsilon": 0.0}, "normalization.epsilon", ["0.0 <= 0", "a number > 0"]),
    ({"train_statistics": "running", "eval_statistics": "batch"}, "normalization.eval_statistics",
     ["neither framework's layer"]),
    ({"shape": [1, 3]}, "normalization.shape", ["1 value per channel", "N * spatial size >= 2"]),
    ({"normalized_dims": 2}, "normalization.normalized_dims", ["applies to layer_norm only"]),
    ({"layer": "layer_norm", "momentum": 0.1}, "normalization.momentum", ["layer_norm keeps no running statistics"]),
    ({"layer": "layer_norm", "momentum": None, "normalized_dims": 2}, "normalization.normalized_dims",
     ["2 trailing axes of a rank-2 input", "1..1"]),
])
def test_normalization_spec_errors(tmp_path, change, key, says):
    spec_error(write(tmp_path, norm_doc(**change)), key=key, says=says)


def test_normalization_case_needs_its_table(tmp_path):
    doc = norm_doc()
    del doc["normalization"]
    spec_error(write(tmp_path, doc), key="normalization", says=["needs a [normalization] table"])


def test_normalization_case_takes_no_dropout_table(tmp_path):
    doc = dict(norm_doc(), dropout={"p": 0.5, "shape": [4]})
    spec_error(write(tmp_path, doc), key="dropout", says=["does not apply to a normalization case"])


def test_normalization_routes(tmp_path):
    spec_error(write(tmp_path, dict(norm_doc(), routes=["optimizer"])), key="routes",
               says=["'optimizer' does not apply to a normalization case", "layer, functional"])
    case = load(tmp_path, norm_doc(), "ok.toml")
    assert case.selected_routes == ("layer", "functional"), case.selected_routes
    assert dataclasses.replace(case, routes=("functional",)).selected_routes == ("functional",)
