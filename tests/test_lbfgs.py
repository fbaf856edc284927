"""The L-BFGS reference against the math: the two-loop recursion is the BFGS inverse-Hessian update applied
to the gradient, the line search meets the strong Wolfe conditions, a quadratic is solved, and the spec
errors of an optimizer with a closure."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import reference
from equivalence.record import SCALAR
from equivalence.perturbations import perturb
from equivalence.reference.optimizers.lbfgs import C1, C2, _direction, lbfgs_step, strong_wolfe

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def bfgs_inverse(pairs, gamma, n):
    """H from H0 = gamma*I by the BFGS update H <- (I - rho s y')H(I - rho y s') + rho s s' (N&W eq. 6.17)."""
    h = gamma * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        left = np.eye(n) - rho * np.outer(s, y)
        h = left @ h @ left.T + rho * np.outer(s, s)
    return h


def test_two_loop_recursion_is_the_bfgs_inverse_update():
    rng = np.random.default_rng(0)
    n = 6
    a = rng.normal(size=(n, n))
    hessian = a @ a.T + n * np.eye(n)  # a quadratic's curvature: y = A s, so y.s > 0
    pairs = []
    state = {"ys": [], "ss": [], "rho": [], "h_diag": 1.0}
    for _ in range(3):
        s = rng.normal(size=n)
        y = hessian @ s
        pairs.append((s, y))
        state["ys"].append(y)
        state["ss"].append(s)
        state["rho"].append(1.0 / (y @ s))
    # _direction adds the newest pair itself: feed it through prev_grad, d and t.
    s_new = rng.normal(size=n)
    y_new = hessian @ s_new
    g = rng.normal(size=n)
    state.update(prev_grad=g - y_new, d=s_new / 0.5, t=0.5)
    gamma = (y_new @ s_new) / (y_new @ y_new)
    expected = -bfgs_inverse(pairs + [(s_new, y_new)], gamma, n) @ g
    assert np.allclose(_direction(g, state, history_size=10), expected, rtol=1e-12, atol=1e-14)
    # with history_size 2 only the last two pairs remain
    state = {"ys": [p[1] for p in pairs], "ss": [p[0] for p in pairs], "rho": [1 / (p[1] @ p[0]) for p in pairs],
             "h_diag": 1.0, "prev_grad": g - y_new, "d": s_new / 0.5, "t": 0.5}
    state["ys"], state["ss"], state["rho"] = state["ys"][-1:], state["ss"][-1:], state["rho"][-1:]
    expected = -bfgs_inverse([pairs[-1], (s_new, y_new)], gamma, n) @ g
    assert np.allclose(_direction(g, state, history_size=2), expected, rtol=1e-12, atol=1e-14)


def test_strong_wolfe_conditions_hold():
    def f(x):
        return float(np.sum(x ** 4) + np.sum(x ** 2)), 4 * x ** 3 + 2 * x
    x = np.array([1.5, -2.0, 0.5])
    loss, g = f(x)
    d = -g
    gtd = float(g @ d)
    new_loss, new_g, t, evals = strong_wolfe(lambda step: f(x + step * d), 1.0, d, loss, g, gtd, max_ls=25)
    assert new_loss <= loss + C1 * t * gtd, "sufficient decrease"
    assert abs(float(new_g @ d)) <= -C2 * gtd, "curvature condition"
    assert evals > 1, "a unit step on this quartic is far too long; the search must have shrunk it"


def test_lbfgs_solves_a_quadratic():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 5))
    hessian, b = a @ a.T + np.eye(5), rng.normal(size=5)
    solution = np.linalg.solve(hessian, b)

    def evaluate(x):
        return float(0.5 * x @ hessian @ x - b @ x), hessian @ x - b

    values = {"lr": 1.0, "max_iter": 50, "max_eval": 62, "tolerance_grad": 1e-10, "tolerance_change": 1e-14,
              "history_size": 10, "line_search": "strong_wolfe"}
    state = {}
    x = lbfgs_step(values, state, np.zeros(5), evaluate, None)
    assert np.allclose(x, solution, rtol=1e-8, atol=1e-8)
    assert state["func_evals"] >= state["n_iter"] >= 2


def lbfgs_case(tmp_path, **optimizer):
    return load(tmp_path, tiny(optimizer={"name": "lbfgs", "lr": 0.5, **optimizer}, steps=3, loss="mse"))


def test_reference_records_lbfgs_state_and_perturbations_move_it(tmp_path):
    case = lbfgs_case(tmp_path, max_iter=6, history_size=2)
    steps = reference.run(case).steps
    first = case.parameter_names()[0]
    assert [float(s["state.n_iter"][first]) for s in steps] == [6.0, 12.0, 18.0]
    assert all(float(s["state.history"][first]) <= 2 for s in steps)
    assert float(steps[0]["hyper.max_eval"][SCALAR]) == 7.0  # max_iter * 5 // 4
    base = reference.run(case)
    for name in ("history-size", "lr"):
        moved = reference.run(perturb(case, name))
        assert not np.allclose(moved.steps[-1]["param"][first], base.steps[-1]["param"][first], rtol=1e-9), name


@pytest.mark.parametrize("top, key, says", [
    ({"model": {"sizes": [3, 4, 2], "dropout": 0.5}}, "model.dropout", ["redraw"]),
    ({"schedule": {"name": "exponential", "gamma": 0.5}}, "schedule", ["re-evaluates the loss"]),
    ({"routes": ["per_parameter"]}, "routes", ["optimizer, loss_penalty"]),
])
def test_closure_optimizer_errors(tmp_path, top, key, says):
    doc = tiny(optimizer={"name": "lbfgs", "lr": 0.5}, **top)
    spec_error(write(tmp_path, doc), key=key, says=says)


def test_line_search_must_be_known(tmp_path):
    doc = tiny(optimizer={"name": "lbfgs", "line_search": "backtracking"})
    spec_error(write(tmp_path, doc), key="optimizer.line_search", says=["none, strong_wolfe"])


@pytest.mark.parametrize("framework, arg, says", [
    ("torch", "eps", ["neutral key optimizer.epsilon"]),
    ("paddle", "beta1", ["neutral key optimizer.beta1"]),
    ("torch", "params", ["model supplies it"]),
])
def test_framework_arguments_with_a_neutral_key_are_refused(tmp_path, framework, arg, says):
    doc = tiny(optimizer={"name": "adam", "lr": 0.1, framework: {arg: 0.5}})
    spec_error(write(tmp_path, doc), key=f"optimizer.{framework}.{arg}", says=says)


def test_maximize_without_decay(tmp_path):
    doc = tiny(optimizer={"name": "adam", "lr": 0.1, "maximize": True}, regularization={"l2": 0.1})
    spec_error(write(tmp_path, doc), key="regularization", says=["maximize = true"])


def test_lbfgs_at_realistic_size():
    """1M parameters, 100 steps of one iteration each: the history stays at history_size and the loss of an
    ill-conditioned quadratic (curvatures 1 to 100) falls by orders of magnitude."""
    rng = np.random.default_rng(2)
    n = 1_000_000
    curvature, b = rng.uniform(1, 100, n), rng.normal(size=n)

    def evaluate(x):
        return float(0.5 * np.dot(curvature * x, x) - np.dot(b, x)), curvature * x - b

    optimum = -0.5 * float(np.dot(b / curvature, b))
    values = {"lr": 1.0, "max_iter": 1, "max_eval": 2, "tolerance_grad": 1e-12, "tolerance_change": 1e-15,
              "history_size": 5, "line_search": "none"}
    state, x = {}, np.zeros(n)
    start = evaluate(x)[0] - optimum
    for _ in range(100):
        x = lbfgs_step(values, state, x, evaluate, None)
    assert len(state["ys"]) == 5 and state["n_iter"] == 100 and state["func_evals"] == 100
    assert evaluate(x)[0] - optimum < 1e-4 * start
