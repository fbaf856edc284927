"""The reference optimizers against updates worked out by hand from the documented formulas."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import data, reference
from equivalence.reference.optimizers import REGISTRY

from .test_reference import _two_batch_grads, close, linear_case

pytestmark = pytest.mark.harness


def _run(tmp_path, optimizer, *, steps=2, **top):
    case = linear_case(tmp_path, batches=2, steps=steps, optimizer=optimizer, **top)
    return case, reference.run(case), data.initial_params(case)["linear0.weight"]


def test_two_adam_steps_by_hand(tmp_path):
    """m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2, w -= lr * m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps)."""
    lr, b1, b2, eps = 0.1, 0.8, 0.9, 0.01
    case, traj, w0 = _run(tmp_path, {"name": "adam", "lr": lr, "beta1": b1, "beta2": b2, "epsilon": eps})
    g1, g2 = _two_batch_grads()
    m1, v1 = 0.2 * g1, 0.1 * g1 ** 2
    w1 = w0 - lr * (m1 / 0.2) / (np.sqrt(v1 / 0.1) + eps)  # = w0 - lr * g1 / (|g1| + eps)
    close(w1, w0 - lr * g1 / (np.abs(g1) + eps), "the first Adam step is lr * g / (|g| + eps)")
    m2, v2 = b1 * m1 + 0.2 * g2, b2 * v1 + 0.1 * g2 ** 2
    w2 = w1 - lr * (m2 / (1 - b1 ** 2)) / (np.sqrt(v2 / (1 - b2 ** 2)) + eps)
    step1, step2 = traj.steps
    close(step1["param"]["linear0.weight"], w1, "W after one Adam step")
    close(step2["state.moment1"]["linear0.weight"], m2, "m after two steps")
    close(step2["state.moment2"]["linear0.weight"], v2, "v after two steps")
    close(step2["param"]["linear0.weight"], w2, "W after two Adam steps")
    # Both representations of the step count: Torch's t, Paddle's beta powers for the next step.
    close(step2["state.step"]["linear0.weight"], 2, "step count")
    close(step2["state.beta1_power"]["linear0.weight"], b1 ** 3, "beta1^(t+1) as Paddle keeps it")
    close(step2["state.beta2_power"]["linear0.weight"], b2 ** 3, "beta2^(t+1) as Paddle keeps it")
    close(step1["hyper.epsilon"]["-"], eps, "recorded epsilon")


def test_amsgrad_divides_by_the_running_maximum(tmp_path):
    """With beta2 = 0.5 and a smaller second gradient on some elements, v falls and the max keeps v1."""
    lr, b2 = 0.1, 0.5
    case, traj, w0 = _run(tmp_path, {"name": "adam", "lr": lr, "beta2": b2, "amsgrad": True},
                          steps=2)
    g1, g2 = _two_batch_grads()
    v1 = 0.5 * g1 ** 2
    v2 = b2 * v1 + 0.5 * g2 ** 2
    close(traj.steps[1]["state.moment2_max"]["linear0.weight"], np.maximum(v1, v2), "running max of v")
    plain = reference.run(linear_case(tmp_path / "plain", batches=2, steps=2,
                                      optimizer={"name": "adam", "lr": lr, "beta2": b2}))
    close(traj.steps[0]["param"]["linear0.weight"], plain.steps[0]["param"]["linear0.weight"],
          "AMSGrad's first step is Adam's")


def test_adamw_decays_before_the_step(tmp_path):
    """AdamW: w *= 1 - lr*c first (with the old w), then the Adam step; excluded parameters skip the decay."""
    lr, c = 0.1, 0.25
    base = {"name": "adamw", "lr": lr, "weight_decay": c}
    case, traj, w0 = _run(tmp_path, base, steps=1)
    g1, _ = _two_batch_grads()
    close(traj.steps[0]["param"]["linear0.weight"], w0 * (1 - lr * c) - lr * g1 / (np.abs(g1) + 1e-8),
          "AdamW step 1")
    b0 = data.initial_params(case)["linear0.bias"]
    excluded = reference.run(linear_case(tmp_path / "x", batches=2, steps=1,
                                         optimizer={**base, "decay_exclude": ["*.bias"]}))
    close(excluded.steps[0]["param"]["linear0.bias"], b0 - lr * np.sign(traj.steps[0]["grad"]["linear0.bias"]),
          "an excluded bias takes the plain Adam step", atol=1e-8)
    close(excluded.steps[0]["param"]["linear0.weight"], traj.steps[0]["param"]["linear0.weight"],
          "the weight still decays")


def test_adamw_lr_ratio_scales_step_and_decay(tmp_path):
    lr, c, ratio = 0.1, 0.25, 0.5
    case, traj, w0 = _run(tmp_path, {"name": "adamw", "lr": lr, "weight_decay": c,
                                     "lr_ratio": {"*.weight": ratio}}, steps=1)
    g1, _ = _two_batch_grads()
    close(traj.steps[0]["param"]["linear0.weight"],
          w0 * (1 - lr * ratio * c) - lr * ratio * g1 / (np.abs(g1) + 1e-8), "AdamW step with lr * 0.5")


def test_coupled_l2_flavour_is_not_adamw(tmp_path):
    """The textbook flavour adds c*w to the gradient, so the first step is lr*sign(g + c*w), not a decay."""
    lr, c = 0.1, 0.25
    case, traj, w0 = _run(tmp_path, {"name": "adamw", "lr": lr, "weight_decay": c}, steps=1,
                          reference={"decay": "coupled_l2"})
    g1, _ = _two_batch_grads()
    g = g1 + c * w0
    close(traj.steps[0]["param"]["linear0.weight"], w0 - lr * g / (np.abs(g) + 1e-8), "Adam step on g + c*w")


def test_float32_attribute_flavour_rounds_only_paddle_float_attributes(tmp_path):
    """AdamW's decay coefficient is a C++ float in Paddle's kernel; Adam's betas are double Scalars."""
    opt = {"name": "adamw", "lr": 0.1, "weight_decay": 0.1, "beta1": 0.9}
    _, exact, w0 = _run(tmp_path / "exact", opt, steps=1)
    _, rounded, _ = _run(tmp_path / "f32", opt, steps=1, reference={"attributes": "float32"})
    g1, _ = _two_batch_grads()
    c32 = float(np.float32(0.1))
    close(rounded.steps[0]["param"]["linear0.weight"], w0 * (1 - 0.1 * c32) - 0.1 * g1 / (np.abs(g1) + 1e-8),
          "decay by float32(0.1)")
    diff = np.abs(rounded.steps[0]["param"]["linear0.weight"] - exact.steps[0]["param"]["linear0.weight"]).max()
    assert 0 < diff < 1e-9, f"the flavours must differ by the rounding of the coefficient only: {diff}"
    close(rounded.steps[0]["state.moment1"]["linear0.weight"], exact.steps[0]["state.moment1"]["linear0.weight"],
          "beta1 is not rounded (a double Scalar in Paddle's adam kernel)", rtol=0, atol=0)


def test_adagrad_by_hand(tmp_path):
    lr, eps, s0 = 0.1, 0.01, 0.5
    _, traj, w0 = _run(tmp_path, {"name": "adagrad", "lr": lr, "epsilon": eps, "initial_accumulator_value": s0})
    g1, g2 = _two_batch_grads()
    s1, s2 = s0 + g1 ** 2, s0 + g1 ** 2 + g2 ** 2
    w1 = w0 - lr * g1 / (np.sqrt(s1) + eps)
    close(traj.steps[1]["state.accumulator"]["linear0.weight"], s2, "sum of squared gradients")
    close(traj.steps[1]["param"]["linear0.weight"], w1 - lr * g2 / (np.sqrt(s2) + eps), "W after two steps")
    _, decayed, _ = _run(tmp_path / "decay", {"name": "adagrad", "lr": lr, "epsilon": eps, "lr_decay": 0.5,
                                              "initial_accumulator_value": s0}, reference={"follows": "torch"})
    close(decayed.steps[1]["update"]["linear0.weight"], -lr / 1.5 * g2 / (np.sqrt(s2) + eps),
          "Torch's lr_decay: lr / (1 + (t-1) * lr_decay)")


@pytest.mark.parametrize("follows", ["paddle", "torch"])
def test_rmsprop_flavours_by_hand(tmp_path, follows):
    """Paddle: v = mu*v + lr*g/sqrt(ms + eps), w -= v. Torch: v = mu*v + g/(sqrt(ms) + eps), w -= lr*v."""
    lr, rho, eps, mu = 0.1, 0.5, 0.04, 0.5
    _, traj, w0 = _run(tmp_path, {"name": "rmsprop", "lr": lr, "rho": rho, "epsilon": eps, "momentum": mu},
                       reference={"follows": follows})
    g1, g2 = _two_batch_grads()
    ms1 = 0.5 * g1 ** 2
    ms2 = rho * ms1 + 0.5 * g2 ** 2
    denom = (lambda ms: np.sqrt(ms + eps)) if follows == "paddle" else (lambda ms: np.sqrt(ms) + eps)
    v1 = g1 / denom(ms1)
    v2 = mu * v1 + g2 / denom(ms2)
    step2 = traj.steps[1]
    close(step2["state.mean_square"]["linear0.weight"], ms2, "running mean of g^2")
    close(step2["state.velocity"]["linear0.weight"], v2, "buffer without lr (Torch's)")
    close(step2["state.lr_velocity"]["linear0.weight"], lr * v2, "buffer with lr (Paddle's)")
    close(step2["param"]["linear0.weight"], w0 - lr * v1 - lr * v2, f"W after two {follows} steps")


def test_centered_rmsprop_by_hand(tmp_path):
    lr, rho = 0.1, 0.5
    _, traj, w0 = _run(tmp_path, {"name": "rmsprop", "lr": lr, "rho": rho, "epsilon": 0.0, "centered": True},
                       reference={"follows": "torch"})
    g1, g2 = _two_batch_grads()
    ms2 = rho * 0.5 * g1 ** 2 + 0.5 * g2 ** 2
    mg2 = rho * 0.5 * g1 + 0.5 * g2
    close(traj.steps[1]["state.mean_grad"]["linear0.weight"], mg2, "running mean of g")
    close(traj.steps[1]["update"]["linear0.weight"], -lr * g2 / np.sqrt(ms2 - mg2 ** 2), "centered step")


def test_adadelta_by_hand(tmp_path):
    """dx = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g, E[dx^2] kept without lr, w -= lr * dx."""
    lr, rho, eps = 0.5, 0.5, 0.01
    _, traj, w0 = _run(tmp_path, {"name": "adadelta", "lr": lr, "rho": rho, "epsilon": eps})
    g1, g2 = _two_batch_grads()
    eg1 = 0.5 * g1 ** 2
    dx1 = np.sqrt(eps) / np.sqrt(eg1 + eps) * g1
    ed1 = 0.5 * dx1 ** 2
    eg2 = rho * eg1 + 0.5 * g2 ** 2
    dx2 = np.sqrt(ed1 + eps) / np.sqrt(eg2 + eps) * g2
    close(traj.steps[0]["state.mean_square_update"]["linear0.weight"], ed1, "E[dx^2] after one step")
    close(traj.steps[1]["state.mean_square"]["linear0.weight"], eg2, "E[g^2] after two steps")
    close(traj.steps[1]["param"]["linear0.weight"], w0 - lr * dx1 - lr * dx2, "W after two steps")


@pytest.mark.parametrize("follows", ["paddle", "torch"])
def test_adamax_epsilon_placement_by_hand(tmp_path, follows):
    """Paddle u = max(b2*u + eps, |g|); Torch u = max(b2*u, |g| + eps); w -= lr/(1-b1^t) * m/u."""
    lr, b1, b2, eps = 0.1, 0.5, 0.75, 0.2
    _, traj, w0 = _run(tmp_path, {"name": "adamax", "lr": lr, "beta1": b1, "beta2": b2, "epsilon": eps},
                       reference={"follows": follows})
    g1, g2 = _two_batch_grads()
    if follows == "paddle":
        u1 = np.maximum(eps, np.abs(g1))
        u2 = np.maximum(b2 * u1 + eps, np.abs(g2))
    else:
        u1 = np.abs(g1) + eps
        u2 = np.maximum(b2 * u1, np.abs(g2) + eps)
    m1 = 0.5 * g1
    m2 = b1 * m1 + 0.5 * g2
    w1 = w0 - lr / (1 - b1) * m1 / u1
    close(traj.steps[1]["state.inf_norm"]["linear0.weight"], u2, f"{follows} infinity norm")
    close(traj.steps[1]["param"]["linear0.weight"], w1 - lr / (1 - b1 ** 2) * m2 / u2, f"{follows} W after two")
    close(traj.steps[1]["state.beta1_power"]["linear0.weight"], b1 ** 3, "beta1^(t+1) as Paddle keeps it")


def test_nadam_by_hand(tmp_path):
    """Torch's arrangement: w -= lr*(1-mu_t)/(1-P_t) * g/d + lr*mu_{t+1}/(1-P_t*mu_{t+1}) * m/d, with
    d = sqrt(v/(1-b2^t)) + eps and P_t the product mu_1..mu_t."""
    lr, b1, b2, eps, psi = 0.1, 0.5, 0.75, 0.01, 0.5
    _, traj, w0 = _run(tmp_path, {"name": "nadam", "lr": lr, "beta1": b1, "beta2": b2, "epsilon": eps,
                                  "momentum_decay": psi})
    g1, g2 = _two_batch_grads()
    mus = [b1 * (1 - 0.5 * 0.96 ** (t * psi)) for t in (1, 2, 3)]
    w, m, v, product = w0, 0, 0, 1.0
    for t, g in ((1, g1), (2, g2)):
        mu, mu_next = mus[t - 1], mus[t]
        product *= mu
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        d = np.sqrt(v / (1 - b2 ** t)) + eps
        w = w - lr * (1 - mu) / (1 - product) * g / d - lr * mu_next / (1 - product * mu_next) * m / d
    step2 = traj.steps[1]
    close(step2["state.mu_product"]["linear0.weight"], mus[0] * mus[1], "mu_1 * mu_2")
    close(step2["state.momentum_decay_power"]["linear0.weight"], 0.96 ** 2, "0.96^t")
    close(step2["state.beta2_power"]["linear0.weight"], b2 ** 2, "beta2^t (NAdam keeps the current power)")
    close(step2["param"]["linear0.weight"], w, "W after two NAdam steps")


def test_radam_switches_to_the_rectified_step(tmp_path):
    """rho_t = rho_inf - 2*t*b2^t/(1-b2^t): with b2 = 0.5, rho_inf = 3 < 5, so every step is lr*m/(1-b1^t);
    with b2 = 0.96875 step 6 is the first rectified one."""
    lr, b1 = 0.1, 0.5
    _, traj, w0 = _run(tmp_path, {"name": "radam", "lr": lr, "beta1": b1, "beta2": 0.5})
    g1, g2 = _two_batch_grads()
    m1, m2 = 0.5 * g1, b1 * 0.5 * g1 + 0.5 * g2
    close(traj.steps[1]["param"]["linear0.weight"], w0 - lr * m1 / 0.5 - lr * m2 / 0.75, "two momentum steps")
    close(traj.steps[1]["state.rho_term"]["linear0.weight"], 2 * 0.25 / 0.75, "t*b2^t/(1-b2^t)")
    b2, eps = 0.96875, 1e-3
    case, traj, w0 = _run(tmp_path / "long", {"name": "radam", "lr": lr, "beta1": b1, "beta2": b2,
                                              "epsilon": eps}, steps=6)
    rho_inf = 2 / (1 - b2) - 1
    rho = [rho_inf - 2 * t * b2 ** t / (1 - b2 ** t) for t in range(1, 7)]
    assert rho[4] < 5 < rho[5], rho
    s5, s6 = traj.steps[4], traj.steps[5]
    m6, v6 = s6["state.moment1"]["linear0.weight"], s6["state.moment2"]["linear0.weight"]
    r = np.sqrt((rho[5] - 4) * (rho[5] - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho[5]))
    want = -lr * m6 / (1 - b1 ** 6) * r * np.sqrt(1 - b2 ** 6) / (np.sqrt(v6) + eps)
    close(s6["update"]["linear0.weight"], want, "the rectified step 6")
    close(s5["update"]["linear0.weight"], -lr * s5["state.moment1"]["linear0.weight"] / (1 - b1 ** 5),
          "step 5 is still a momentum step")


def test_rprop_by_hand(tmp_path):
    """The linear case's gradient keeps its sign (x > 0, mean loss): step sizes grow by eta_plus each step
    from lr, up to step_max, and w moves by sign(g) * size."""
    lr, eta_plus, step_max = 0.1, 1.5, 0.2
    _, traj, w0 = _run(tmp_path, {"name": "rprop", "lr": lr, "eta_plus": eta_plus, "step_max": step_max,
                                  "step_min": 1e-6}, steps=3)
    sizes = [lr, lr * eta_plus, step_max]  # 0.1, 0.15, then 0.225 clamped to 0.2
    for t, size in enumerate(sizes):
        close(traj.steps[t]["state.step_size"]["linear0.weight"], np.full((3, 2), size), f"step size at {t + 1}")
    close(traj.steps[2]["param"]["linear0.weight"], w0 - sum(sizes), "W after three same-sign steps")


def test_rprop_sign_flip_skips_the_step(tmp_path):
    """Where the gradient flips sign: the size shrinks by eta_minus, the element does not move, and its
    stored gradient is zeroed so the next step does not shrink it again."""
    from equivalence.reference.optimizers.base import Step
    from equivalence.reference.optimizers.registry import REGISTRY
    case = linear_case(tmp_path, optimizer={"name": "rprop", "lr": 0.1, "step_min": 1e-6})
    step = Step(case, REGISTRY["rprop"], {"lr": 0.1, "eta_minus": 0.5, "eta_plus": 1.2, "step_min": 1e-6,
                                          "step_max": 50.0}, np.dtype("float64"), name="w", lr=0.1)
    state = {"prev_grad": np.array([1.0, 1.0, 0.0]), "step_size": np.array([0.1, 0.1, 0.1])}
    w = REGISTRY["rprop"].update(step, np.zeros(3), np.array([2.0, -2.0, 3.0]), state)
    close(w, [-0.12, 0.0, -0.1], "grow, skip, keep")
    close(state["step_size"], [0.12, 0.05, 0.1], "sizes after grow, flip, first sign")
    close(state["prev_grad"], [2.0, 0.0, 3.0], "the flipped gradient is forgotten")


def test_asgd_paddle_is_sag(tmp_path):
    """Paddle: d = d - y[slot] + g, y[slot] = g, w -= lr * d / min(t, n); three steps over two slots."""
    lr = 0.1
    case, traj, w0 = _run(tmp_path, {"name": "asgd", "lr": lr, "batch_num": 2}, steps=3,
                          reference={"follows": "paddle"})
    g1, g2 = _two_batch_grads()  # batches cycle: g1, g2, g1
    d1, d2, d3 = g1, g1 + g2, g2 + g1
    close(traj.steps[2]["state.grad_sum"]["linear0.weight"], d3, "sum over the two slots")
    close(traj.steps[2]["state.grad_table"]["linear0.weight"], np.stack([g1, g2]), "slots after three steps")
    close(traj.steps[2]["param"]["linear0.weight"], w0 - lr * d1 - lr * d2 / 2 - lr * d3 / 2, "SAG steps")


def test_asgd_torch_is_averaged_sgd(tmp_path):
    """Torch: w = w*(1 - lambd*eta) - eta*g; eta = lr/(1 + lambd*lr*t)^alpha; ax = w until t0, then averages."""
    lr, lambd, alpha, t0 = 0.1, 0.5, 0.75, 1.0
    _, traj, w0 = _run(tmp_path, {"name": "asgd", "lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0}, steps=4,
                       reference={"follows": "torch"})
    g1, g2 = _two_batch_grads()
    eta = [lr] + [lr / (1 + lambd * lr * t) ** alpha for t in (1, 2, 3)]
    w = [w0]
    for t, g in enumerate((g1, g2, g1, g2)):
        w.append(w[-1] * (1 - lambd * eta[t]) - eta[t] * g)
    # mu = 1/max(1, t - t0) for the next step: 1 after steps 1 and 2, 1/2 after step 3.
    ax3 = w[3]
    ax4 = ax3 + (w[4] - ax3) / 2
    close(traj.steps[3]["param"]["linear0.weight"], w[4], "averaged-SGD steps")
    close(traj.steps[1]["state.eta"]["linear0.weight"], eta[2], "eta for step 3")
    close(traj.steps[2]["state.mu"]["linear0.weight"], 1 / 2, "mu after step 3 = 1/(3 - t0)")
    close(traj.steps[2]["state.average"]["linear0.weight"], ax3, "the average is w until mu < 1")
    close(traj.steps[3]["state.average"]["linear0.weight"], ax4, "then it averages")


def test_lamb_trust_ratio_by_hand(tmp_path):
    """r = m_hat/(sqrt(v_hat) + eps) + wd*w; w -= lr * ||w||/||r|| * r; an excluded parameter has wd = 0
    and ratio 1."""
    lr, wd, eps = 0.1, 0.5, 0.01
    case, traj, w0 = _run(tmp_path, {"name": "lamb", "lr": lr, "weight_decay": wd, "epsilon": eps,
                                     "decay_exclude": ["*.bias"]}, steps=1)
    g1, _ = _two_batch_grads()
    r = g1 / (np.abs(g1) + eps) + wd * w0  # one step: m_hat = g, v_hat = g^2
    ratio = np.linalg.norm(w0) / np.linalg.norm(r)
    close(traj.steps[0]["param"]["linear0.weight"], w0 - lr * ratio * r, "LAMB step with the trust ratio")
    b0, gb = data.initial_params(case)["linear0.bias"], traj.steps[0]["grad"]["linear0.bias"]
    close(traj.steps[0]["param"]["linear0.bias"], b0 - lr * gb / (np.abs(gb) + eps), "excluded: no decay, ratio 1")
    close(traj.steps[0]["state.beta1_power"]["linear0.weight"], 0.9 ** 2, "beta1^(t+1) as Paddle keeps it")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_recorded_quantity_is_documented(tmp_path, name):
    """Each optimizer's reference records only quantities record.py orders and documents."""
    from equivalence.record import HYPER, QUANTITY_DOCS, is_quantity

    case = linear_case(tmp_path, batches=2, steps=2, optimizer={"name": name, "lr": 0.1},
                       reference={"follows": "torch" if name != "lamb" else "paddle"})
    recorded = reference.run(case).quantities()
    assert all(is_quantity(q) for q in recorded), f"{name}: undocumented {sorted(q for q in recorded if not is_quantity(q))}"
    assert all(q in QUANTITY_DOCS or q.startswith("hyper.") for q in recorded) and HYPER in QUANTITY_DOCS
    if name != "sgd":
        assert any(q.startswith("state.") for q in recorded), f"{name} records no optimizer state: {sorted(recorded)}"
