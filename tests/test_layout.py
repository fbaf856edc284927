"""Canonical layout: a Linear weight is [in, out] in every trajectory, whatever the framework stores.

These run the framework backends in this process (no worker) on a small non-square case, so a mapping
that forgot a transpose shows up as a shape or value difference.
"""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import data, reference
from equivalence.compare import DEFAULT_TOLERANCES, compare, compare_arrays

from .casefiles import load, tiny

pytestmark = pytest.mark.harness

F64 = DEFAULT_TOLERANCES["float64"]
SIZES = [3, 4, 2]


@pytest.fixture
def case(tmp_path):
    return load(tmp_path, tiny(model={"sizes": SIZES, "bias": True}, steps=1))


def _assert_initial_and_grads(traj, case, framework):
    init = data.initial_params(case)
    assert list(traj.initial) == list(init), f"{framework} parameter names {list(traj.initial)} vs {list(init)}"
    for name, value in init.items():
        got = traj.initial[name]
        assert got.shape == value.shape, f"{framework} initial {name}: shape {got.shape}, canonical {value.shape}"
        assert np.array_equal(got, value), f"{framework} initial {name} differs: {got} vs {value}"
    ref = reference.run(case)
    for name, g_ref in ref.steps[0]["grad"].items():
        g = traj.steps[0]["grad"][name]
        assert g.shape == g_ref.shape, f"{framework} step-1 grad of {name}: shape {g.shape} vs {g_ref.shape}"
        bad, abs_err, _ = compare_arrays(g, g_ref, F64)
        assert not bad.any(), (f"{framework} step-1 grad of {name} differs from the reference at "
                               f"{np.argwhere(bad).tolist()}, max abs error {abs_err.max():.3g}")


# ------------------------------------------------------------------------------------------------ torch

@pytest.fixture
def torch_backend():
    pytest.importorskip("torch")
    from equivalence.backends import torch_backend
    return torch_backend


def test_torch_round_trip(torch_backend):
    import torch
    w = np.arange(12.0).reshape(3, 4)  # canonical [in, out]
    b = np.array([1.0, -2.0, 3.0, -4.0])
    stored = torch_backend.from_canonical("linear0.weight", w)
    assert stored.shape == (4, 3), f"torch stores [out, in], got {stored.shape}"
    assert np.array_equal(stored, w.T), stored
    back = torch_backend.to_canonical("linear0.weight", torch.from_numpy(np.ascontiguousarray(stored)))
    assert back.shape == (3, 4) and np.array_equal(back, w), back
    assert np.array_equal(torch_backend.from_canonical("linear0.bias", b), b), "a bias is not transposed"
    assert np.array_equal(torch_backend.to_canonical("linear0.bias", torch.from_numpy(b)), b), "bias round trip"


def test_torch_linear_computes_x_w_plus_b(torch_backend, case):
    import torch
    layers, params, _ = torch_backend.build(case, "optimizer")
    init = data.initial_params(case)
    x = data.batches(case)[0][0]
    for i, layer in enumerate(layers):
        w, b = init[f"linear{i}.weight"], init[f"linear{i}.bias"]
        assert tuple(layer.weight.shape) == w.T.shape, f"layer {i}: torch weight {tuple(layer.weight.shape)}"
        inputs = np.random.default_rng(i).uniform(size=(2, w.shape[0])) if i else x
        got = layer(torch.from_numpy(inputs)).detach().numpy()
        want = inputs @ w + b
        assert np.allclose(got, want, rtol=1e-12, atol=1e-14), f"layer {i}: {got} vs x @ W + b = {want}"


def test_torch_run_starts_from_canonical_params(torch_backend, case):
    _assert_initial_and_grads(torch_backend.run(case, "optimizer"), case, "torch")


def test_torch_missing_transpose_is_a_divergence(torch_backend, case):
    """A trajectory recorded without to_canonical's transpose has [out, in] weights: structural."""
    traj = torch_backend.run(case, "optimizer")
    for quantity in ("grad", "update", "param"):
        for name in list(traj.steps[0][quantity]):
            if name.endswith(".weight"):
                traj.steps[0][quantity][name] = traj.steps[0][quantity][name].T.copy()
    result = compare(traj, reference.run(case), case)
    assert not result.equal, f"transposed weights compared equal: {result.summary()}"
    assert "grad of linear0.weight: shape [4, 3] vs expected [3, 4]" in result.structural, result.structural


def test_torch_reshaped_weight_is_a_divergence(torch_backend, case, monkeypatch):
    """Loading the canonical weight with a reshape instead of a transpose keeps every shape right but
    puts values in the wrong places; the comparison must see it in the values."""
    real = torch_backend.from_canonical

    def wrong(name, value):
        return value.reshape(value.shape[::-1]) if name.endswith(".weight") else real(name, value)

    monkeypatch.setattr(torch_backend, "from_canonical", wrong)
    result = compare(torch_backend.run(case, "optimizer"), reference.run(case), case)
    assert not result.equal and not result.structural, f"expected a value divergence: {result.summary()}"
    # The starting parameters are compared as step 0, so the wrong mapping shows before any arithmetic.
    assert result.first is not None and (result.first.step, result.first.quantity) == (0, "param"), result.first


# ----------------------------------------------------------------------------------------------- paddle

@pytest.fixture
def paddle_backend():
    pytest.importorskip("paddle")
    from equivalence.backends import paddle_backend
    return paddle_backend


def test_paddle_linear_is_in_out(paddle_backend, case):
    import paddle
    layers, _, _ = paddle_backend.build(case, "optimizer")
    init = data.initial_params(case)
    x = data.batches(case)[0][0]
    for i, layer in enumerate(layers):
        w, b = init[f"linear{i}.weight"], init[f"linear{i}.bias"]
        assert list(layer.weight.shape) == list(w.shape), f"layer {i}: paddle weight {layer.weight.shape}, [in, out]"
        inputs = np.random.default_rng(i).uniform(size=(2, w.shape[0])) if i else x
        got = layer(paddle.to_tensor(inputs)).numpy()
        want = inputs @ w + b
        assert np.allclose(got, want, rtol=1e-12, atol=1e-14), f"layer {i}: {got} vs x @ W + b = {want}"


def test_paddle_run_starts_from_canonical_params(paddle_backend, case):
    _assert_initial_and_grads(paddle_backend.run(case, "optimizer"), case, "paddle")
