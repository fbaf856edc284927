"""The NumPy reference against values worked out by hand and against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import data, reference

from .casefiles import load, tiny

pytestmark = pytest.mark.harness

X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def linear_case(tmp_path, *, batches=1, optimizer=None, **top):
    """Linear(3, 2) with bias on the literal inputs X, mean loss."""
    batch_size = len(X) // batches
    return load(tmp_path, tiny(model={"sizes": [3, 2], "bias": True},
                               data={"seed": 0, "batch_size": batch_size, "batches": batches, "inputs": X},
                               optimizer=optimizer or {"name": "sgd", "lr": 0.5}, **top))


def close(actual, expected, what, rtol=1e-12, atol=1e-14):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    assert np.allclose(actual, expected, rtol=rtol, atol=atol), (
        f"{what}: {actual.tolist()} vs expected {expected.tolist()}, "
        f"max abs error {np.max(np.abs(actual - expected)):.3g}")


# ------------------------------------------------------------------------------------------ optimizers

def test_one_sgd_step_on_mean_loss(tmp_path):
    """d mean(x @ W + b) / dW[i, j] = sum_rows x[:, i] / (rows * outs) for every j; d/db = 1 / outs."""
    case = linear_case(tmp_path)
    w0, b0 = (data.initial_params(case)[k] for k in ("linear0.weight", "linear0.bias"))
    step = reference.run(case).steps[0]
    # x.sum(0) = [5, 7, 9]; output size 2 rows * 2 outs = 4.
    grad_w = np.array([[1.25, 1.25], [1.75, 1.75], [2.25, 2.25]])
    close(step["grad"]["linear0.weight"], grad_w, "grad of W")
    close(step["grad"]["linear0.bias"], [0.5, 0.5], "grad of b")
    close(step["loss"]["-"], (np.array(X) @ w0 + b0).mean(), "loss")
    close(step["param"]["linear0.weight"], w0 - 0.5 * grad_w, "W after one step of lr 0.5")
    close(step["update"]["linear0.bias"], [-0.25, -0.25], "update of b")
    assert "state.velocity" not in step, f"plain SGD recorded state: {sorted(step)}"


def _two_batch_grads():
    # batch 1 = row [1, 2, 3], batch 2 = row [4, 5, 6]; 1 row * 2 outs: grad of W is x / 2 in each column.
    g1 = np.repeat(np.array([[0.5], [1.0], [1.5]]), 2, axis=1)
    g2 = np.repeat(np.array([[2.0], [2.5], [3.0]]), 2, axis=1)
    return g1, g2


@pytest.mark.parametrize("flavour", ["heavy_ball", "ema"])
def test_momentum_velocity_after_two_steps(tmp_path, flavour):
    mu, lr = 0.9, 0.1
    case = linear_case(tmp_path, batches=2, steps=2, optimizer={"name": "momentum", "lr": lr, "momentum": mu},
                       reference={"momentum": flavour})
    g1, g2 = _two_batch_grads()
    traj = reference.run(case)
    close(traj.steps[0]["grad"]["linear0.weight"], g1, "step-1 grad")
    close(traj.steps[1]["grad"]["linear0.weight"], g2, "step-2 grad")
    if flavour == "heavy_ball":  # v = mu*v + g
        v1, v2 = g1, mu * g1 + g2
    else:  # v = mu*v + (1-mu)*g
        v1, v2 = (1 - mu) * g1, (1 - mu) * (mu * g1 + g2)
    close(traj.steps[0]["state.velocity"]["linear0.weight"], v1, f"{flavour} velocity after step 1")
    close(traj.steps[1]["state.velocity"]["linear0.weight"], v2, f"{flavour} velocity after step 2")
    w0 = data.initial_params(case)["linear0.weight"]
    close(traj.steps[1]["param"]["linear0.weight"], w0 - lr * v1 - lr * v2, f"{flavour} W after 2 steps")


def test_float32_momentum_attributes_flavour(tmp_path):
    """Paddle's flavour: mu and the L2 coefficient rounded to float32 before a float64 momentum update."""
    mu, c = 0.9, 0.1
    base = dict(batches=2, steps=2, optimizer={"name": "momentum", "lr": 0.1, "momentum": mu},
                regularization={"l2": c})
    exact = reference.run(linear_case(tmp_path / "exact", **base))
    rounded = reference.run(linear_case(tmp_path / "f32", **base, reference={"attributes": "float32"}))
    g1, g2 = _two_batch_grads()
    w0 = data.initial_params(linear_case(tmp_path / "exact", **base))["linear0.weight"]
    mu32, c32 = float(np.float32(mu)), float(np.float32(c))
    v1 = g1 + c32 * w0
    close(rounded.steps[0]["state.velocity"]["linear0.weight"], v1, "velocity with float32 c")
    w1 = w0 - 0.1 * v1
    close(rounded.steps[1]["state.velocity"]["linear0.weight"], mu32 * v1 + g2 + c32 * w1, "velocity with float32 mu")
    diff = np.abs(rounded.steps[1]["param"]["linear0.weight"] - exact.steps[1]["param"]["linear0.weight"]).max()
    assert 1e-12 < diff < 1e-6, f"the flavours must differ by float32 rounding of mu and c, not more: {diff}"


def test_nesterov_update(tmp_path):
    """Nesterov as Paddle and Torch write it: v = mu*v + g; w -= lr * (g + mu*v)."""
    mu, lr = 0.9, 0.1
    case = linear_case(tmp_path, batches=2, steps=2,
                       optimizer={"name": "momentum", "lr": lr, "momentum": mu, "nesterov": True})
    g1, g2 = _two_batch_grads()
    traj = reference.run(case)
    v1, v2 = g1, mu * g1 + g2
    close(traj.steps[0]["update"]["linear0.weight"], -lr * (g1 + mu * v1), "nesterov update, step 1")
    close(traj.steps[1]["update"]["linear0.weight"], -lr * (g2 + mu * v2), "nesterov update, step 2")
    close(traj.steps[1]["state.velocity"]["linear0.weight"], v2, "nesterov velocity, step 2")


# ------------------------------------------------------------------------------------------ penalties

def test_l1_adds_sign_of_weight(tmp_path):
    case = linear_case(tmp_path, regularization={"l1": 0.3})
    step = reference.run(case).steps[0]
    for name, w in data.initial_params(case).items():
        assert np.all(w != 0), f"{name} has an exact zero, sign() is ambiguous there: {w}"
        added = step["grad_regularized"][name] - step["grad"][name]
        close(added, 0.3 * np.sign(w), f"L1 gradient of {name}")


@pytest.mark.parametrize("form", ["half_squared", "norm"])
def test_l2_penalty_forms(tmp_path, form):
    """half_squared: d(0.5*c*sum(w**2)) = c*w; norm: d(c*||w||) = c*w/||w||, each parameter its own norm."""
    c = 0.2
    case = linear_case(tmp_path, regularization={"l2": c, "penalty_form": form})
    step = reference.run(case).steps[0]
    for name, w in data.initial_params(case).items():
        added = step["grad_regularized"][name] - step["grad"][name]
        want = c * w / np.linalg.norm(w.ravel()) if form == "norm" else c * w
        close(added, want, f"{form} L2 gradient of {name}")
        if form == "norm":  # the formula itself, by central differences of c*||w||
            fd = _central_difference(lambda v: c * np.linalg.norm(v.ravel()), w)
            close(added, fd, f"finite differences of c*||{name}||", rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------------------------------ losses

def _central_difference(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (f(plus) - f(minus)) / (2 * h)
    return grad


def _rel_err(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def test_cross_entropy_gradient(tmp_path):
    case = load(tmp_path, tiny(loss="cross_entropy"))
    rng = np.random.default_rng(7)
    out = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    loss, grad = reference.loss_and_grad(case, out, labels)
    softmax = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
    close(loss, -np.mean(np.log(softmax[np.arange(4), labels])), "cross entropy")
    close(grad, (softmax - np.eye(3)[labels]) / 4, "(softmax - onehot) / B")
    fd = _central_difference(lambda o: reference.loss_and_grad(case, o, labels)[0], out)
    assert _rel_err(grad, fd) < 1e-7, f"cross entropy gradient vs finite differences: rel err {_rel_err(grad, fd):.3g}"


def test_cross_entropy_is_stable_for_large_logits(tmp_path):
    case = load(tmp_path, tiny(loss="cross_entropy"))
    out = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    loss, grad = reference.loss_and_grad(case, out, np.array([1, 1]))
    assert np.isfinite(loss) and np.all(np.isfinite(grad)), f"loss {loss}, grad {grad}"
    close(loss, 500.0, "half the rows miss by 1000")
    close(grad, [[0.5, -0.5], [0.0, 0.0]], "gradient with saturated softmax")


def test_mse_gradient(tmp_path):
    case = load(tmp_path, tiny(loss="mse"))
    rng = np.random.default_rng(8)
    out, target = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    loss, grad = reference.loss_and_grad(case, out, target)
    close(loss, np.mean((out - target) ** 2), "mse")
    close(grad, 2 * (out - target) / 8, "2 (out - target) / N")
    fd = _central_difference(lambda o: reference.loss_and_grad(case, o, target)[0], out)
    assert _rel_err(grad, fd) < 1e-7, f"mse gradient vs finite differences: rel err {_rel_err(grad, fd):.3g}"


# ------------------------------------------------------------------------------------------ backprop

_ACT = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "identity": lambda z: z,
        "relu": lambda z: np.maximum(z, 0)}


def _loss_of(case, params, x, y):
    """The model and loss written out independently of equivalence.reference."""
    h = _ACT[case.model.activation](x @ params["linear0.weight"] + params["linear0.bias"])
    out = h @ params["linear1.weight"] + params["linear1.bias"]
    if case.loss == "mean":
        return out.mean()
    if case.loss == "mse":
        return ((out - y) ** 2).mean()
    z = out - out.max(axis=1, keepdims=True)
    return -np.mean(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1)))


@pytest.mark.parametrize("loss", ["mean", "mse", "cross_entropy"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "identity", "relu"])
def test_two_layer_gradients_match_finite_differences(tmp_path, activation, loss):
    case = load(tmp_path, tiny(model={"sizes": [3, 5, 2], "bias": True, "activation": activation},
                               data={"seed": 3, "batch_size": 4, "distribution": "normal"}, loss=loss))
    params = data.initial_params(case)
    x, y = data.batches(case)[0]
    step = reference.run(case).steps[0]
    close(step["loss"]["-"], _loss_of(case, params, x, y), f"{activation}/{loss} loss")
    for name, value in params.items():
        def f(v, name=name):
            return _loss_of(case, {**params, name: v}, x, y)
        fd = _central_difference(f, value)
        grad = step["grad"][name]
        err = _rel_err(grad, fd)
        assert err < 1e-6, f"{activation}/{loss}: grad of {name} vs central differences, rel err {err:.3g}"


def test_float32_reference_rounds(tmp_path):
    """The case-dtype reference computes in float32: close to the float64 one, but not equal to it."""
    case = load(tmp_path, tiny(dtype="float32", steps=3))
    p64 = reference.run(case).steps[-1]["param"]["linear0.weight"]
    p32 = reference.run(case, dtype="float32").steps[-1]["param"]["linear0.weight"]
    assert not np.array_equal(p32, p64), "the float32 reference gave the float64 result bit for bit"
    assert np.allclose(p32, p64, rtol=1e-5, atol=1e-6), f"max abs difference {np.max(np.abs(p32 - p64)):.3g}"
    assert np.array_equal(p32, p32.astype(np.float32)), "float32 reference values are not float32-representable"
