"""Configurations of issue 12 section 4: the reference of each new setting by hand."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence.reference.optimizers import ReferenceOptimizer

from .casefiles import load, tiny, write

pytestmark = pytest.mark.harness

G1, G2 = np.array([1.0, -2.0]), np.array([0.5, 4.0])


def two_steps(tmp_path, optimizer: dict):
    case = load(tmp_path, tiny(optimizer=optimizer))
    opt = ReferenceOptimizer(case, np.dtype("float64"))
    w = np.zeros(2)
    w1 = opt.step("linear0.bias", w, G1, 0.1)
    w2 = opt.step("linear0.bias", w1, G2, 0.1)
    return w1, w2, opt.states["linear0.bias"]


def test_dampening_starts_at_the_second_step(tmp_path):
    w1, w2, state = two_steps(tmp_path, {"name": "momentum", "lr": 0.1, "momentum": 0.9, "dampening": 0.5})
    assert np.allclose(w1, -0.1 * G1, rtol=0, atol=1e-15), "Torch's first buffer is the gradient, undampened"
    v2 = 0.9 * G1 + 0.5 * G2
    assert np.allclose(state["velocity"], v2, rtol=0, atol=1e-15) and np.allclose(w2, w1 - 0.1 * v2, atol=1e-15)


def test_rescale_grad_scales_every_gradient(tmp_path):
    w1, w2, state = two_steps(tmp_path, {"name": "momentum", "lr": 0.1, "momentum": 0.9, "rescale_grad": 0.25})
    v2 = 0.9 * 0.25 * G1 + 0.25 * G2
    assert np.allclose(w1, -0.1 * 0.25 * G1, atol=1e-15) and np.allclose(state["velocity"], v2, atol=1e-15)


def test_squared_penalty_gradient_is_twice_the_decay(tmp_path):
    from equivalence.reference import regularization_grad
    w = np.array([[0.5, -2.0]])
    for form, factor in (("half_squared", 1.0), ("squared", 2.0)):
        case = load(tmp_path, tiny(regularization={"l2": 0.1, "penalty_form": form}))
        g = regularization_grad(case, "linear0.weight", w, case.coefficients())
        assert np.allclose(g, factor * 0.1 * w, rtol=0, atol=1e-17), (form, g)
        # the gradient of the penalty as written, by central differences
        penalty = (lambda v: 0.1 * np.sum(v ** 2) * (0.5 if form == "half_squared" else 1.0))
        h = 1e-6
        numeric = [(penalty(w + h * e) - penalty(w - h * e)) / (2 * h) for e in np.eye(2).reshape(2, 1, 2)]
        assert np.allclose(g.reshape(-1), numeric, rtol=1e-8), (form, g, numeric)


def one_value_case(tmp_path, **reference):
    doc = {"id": "one", "description": "one value per channel", "kind": "normalization", "steps": 2,
           "normalization": {"layer": "batch_norm1d", "shape": [1, 3], "seed": 1, "momentum": 0.25}}
    if reference:
        doc["reference"] = reference
    return doc


def test_one_value_per_channel_normalizes_to_the_shift(tmp_path):
    from equivalence import data, reference
    case = load(tmp_path, one_value_case(tmp_path, batch_norm_running_var="biased"))
    traj = reference.run(case)
    out = traj.steps[0]["output"]["norm"]
    shift = data.normalization_inputs(case)["bias"]
    assert np.array_equal(out, shift.reshape(out.shape)), "(x - mean(x)) / sqrt(0 + eps) = 0, times the scale, plus the shift"
    assert np.array_equal(traj.steps[0]["input_grad"]["norm"], np.zeros_like(out)), "the output does not depend on x"
    assert np.array_equal(traj.steps[0]["running_var"]["norm"], np.full(3, 0.75)), \
        "0.75 * 1 + 0.25 * biased variance 0"


def test_one_value_per_channel_needs_the_biased_running_variance(tmp_path):
    from .test_spec import spec_error
    path = write(tmp_path, one_value_case(tmp_path))
    spec_error(path, key="normalization.shape", says=["divides by n - 1 = 0", "batch_norm_running_var = 'biased'"])


def test_new_losses_by_hand(tmp_path):
    from equivalence.reference import losses as loss_ref
    from .test_losses import literal, loss_doc
    hinge = load(tmp_path, loss_doc(name="hinge_embedding", shape=[1, 4], reduction="none",
                                    target_values=[-1.0, 0.0, 1.0, 2.0]), "h.toml")
    loss, grad = loss_ref.loss_and_input_grad(hinge, literal(hinge, [[0.3, -1.2, 0.4, 0.5]], [[0.0, 2.0, -1.0, 1.0]],
                                                             np.ones((1, 4))))
    assert np.allclose(loss, [[0.0, 0.0, 0.6, 0.5]]) and np.allclose(grad, [[0, 0, -1, 1]]), (loss, grad)
    soft = load(tmp_path, loss_doc(name="soft_margin", shape=[1, 2], reduction="sum"), "s.toml")
    loss, grad = loss_ref.loss_and_input_grad(soft, literal(soft, [[0.0, 2.0]], [[1.0, -1.0]]))
    assert np.isclose(loss, np.log(2) + np.log1p(np.exp(2.0))), loss
    assert np.allclose(grad, [[-0.5, 1 / (1 + np.exp(-2.0))]]), grad
    l1 = load(tmp_path, loss_doc(name="smooth_l1", shape=[1, 2], beta=0.0, reduction="none"), "l.toml")
    loss, grad = loss_ref.loss_and_input_grad(l1, literal(l1, [[0.5, -2.0]], [[0.0, 0.0]], np.ones((1, 2))))
    assert np.allclose(loss, [[0.5, 2.0]]) and np.allclose(grad, [[1, -1]]), (loss, grad)


def test_literal_inputs_take_nonfinite_numbers_and_are_checked(tmp_path):
    from equivalence import data
    from .test_spec import spec_error
    doc = {"id": "lit", "description": "literal dropout input", "kind": "dropout",
           "dropout": {"p": 1.0, "shape": [1, 3], "values": [float("nan"), float("inf"), 1.0], "evaluate": False}}
    case = load(tmp_path, doc)
    x, _ = data.dropout_inputs(case)
    assert np.isnan(x[0, 0]) and np.isposinf(x[0, 1]) and x[0, 2] == 1.0, x
    doc["dropout"]["values"] = [1.0, 2.0]
    spec_error(write(tmp_path, doc), key="dropout.values", says=["2 numbers for shape [1, 3]", "3 numbers"])
    loss = {"id": "lit", "description": "literal class targets", "kind": "loss",
            "loss_probe": {"name": "nll", "shape": [2, 3], "targets": [0.0] * 6}}
    spec_error(write(tmp_path, loss), key="loss_probe.targets", says=["nll takes class targets"])
    # everywhere else a non-finite number is still refused
    spec_error(write(tmp_path, tiny(optimizer={"name": "sgd", "lr": float("inf")})), key="optimizer.lr",
               says=["not finite"])


def lifecycle_case(tmp_path, gradients, optimizer=None, **top):
    return load(tmp_path, tiny(steps=4, optimizer=optimizer or {"name": "adam", "lr": 0.1}, gradients=gradients,
                               routes=["optimizer", "port"], **top))


def test_unused_parameter_moves_under_adam_only_with_zeroed_gradients(tmp_path):
    from equivalence import reference
    for reset, moves in (("zero", True), ("none", False)):
        traj = reference.run(lifecycle_case(tmp_path, {"unused_after": {"linear1.bias": 2}, "reset": reset}))
        late = traj.steps[2]  # step 3: the bias gets no data gradient
        assert np.any(late["update"]["linear1.bias"] != 0) == moves, (reset, late["update"]["linear1.bias"])
        assert ("linear1.bias" in late["grad"]) == moves, reset
        if moves:
            assert np.array_equal(late["grad"]["linear1.bias"], np.zeros(2)), "a detached parameter's gradient is 0"
        assert np.any(late["update"]["linear0.weight"] != 0), "the others keep training"


def test_frozen_parameter_is_never_updated_even_with_weight_decay(tmp_path):
    from equivalence import reference
    case = lifecycle_case(tmp_path, {"frozen": ["linear0.*"]}, {"name": "momentum", "lr": 0.1, "momentum": 0.9},
                          regularization={"l2": 0.5})
    traj = reference.run(case)
    for step in traj.steps:
        for name in ("linear0.weight", "linear0.bias"):
            assert not np.any(step["update"][name]) and name not in step["grad"], name
        assert np.any(step["update"]["linear1.weight"])


def test_gradients_spec_errors(tmp_path):
    from .test_spec import spec_error
    doc = tiny(steps=3, gradients={"unused_after": {"linear1.bias": 3}}, routes=["optimizer"])
    spec_error(write(tmp_path, doc), key="gradients.unused_after.linear1.bias", says=["leaves no step without it"])
    doc = tiny(steps=3, gradients={"frozen": ["conv*"]}, routes=["optimizer"])
    spec_error(write(tmp_path, doc), key="gradients.frozen[0]", says=["matches no parameter"])
    doc = tiny(steps=3, gradients={"frozen": ["linear0.bias"]}, regularization={"l2": 0.1})
    spec_error(write(tmp_path, doc), key="routes", says=["optimizer route (and its port)"])


def test_clip_exclude_leaves_parameters_out_of_the_norm(tmp_path):
    from equivalence.reference.clipping import clip_gradients
    case = load(tmp_path, tiny(clip={"kind": "global_norm", "max_norm": 1.0, "active": "some_steps",
                                     "exclude": ["*.bias"]}, routes=["clip_function"]))
    grads = {"linear0.weight": np.full((3, 4), 1.0), "linear0.bias": np.full(4, 100.0),
             "linear1.weight": np.zeros((4, 2)), "linear1.bias": np.full(2, -100.0)}
    clipped = clip_gradients(case, grads)
    assert np.allclose(clipped.norms["-"], np.sqrt(12)), "the norm counts the weights only"
    assert np.allclose(clipped.grads["linear0.weight"], 1 / np.sqrt(12))
    assert np.array_equal(clipped.grads["linear0.bias"], grads["linear0.bias"]), "an excluded gradient passes as is"


def test_as_tensor_wraps_whole_tuple_arguments(tmp_path):
    from equivalence.backends.common import optimizer_kwargs
    from .test_spec import spec_error
    case = load(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.1, "beta1": 0.8, "as_tensor": ["beta1"]}))
    wrap = lambda v: ("tensor", v)  # noqa: E731
    assert optimizer_kwargs(case, "torch", tensor=wrap)["betas"] == (("tensor", 0.8), ("tensor", 0.999))
    assert optimizer_kwargs(case, "paddle", tensor=wrap)["beta1"] == ("tensor", 0.8)
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.1, "as_tensor": ["beta2"]}))
    spec_error(path, key="optimizer.as_tensor[0]", says=["'beta2' is not a number hyper-parameter the case sets"])


def test_loop_index_epoch_repeats_epoch_zero(tmp_path):
    from equivalence import reference
    schedule = {"name": "exponential", "gamma": 0.5}
    lrs = {}
    for argument in ("none", "completed", "loop_index"):
        case = load(tmp_path, tiny(steps=4, schedule=dict(schedule, epoch_argument=argument)))
        lrs[argument] = [float(s["lr"]["-"]) for s in reference.run(case).steps]
    assert lrs["none"] == lrs["completed"] == [0.1, 0.05, 0.025, 0.0125], lrs
    assert lrs["loop_index"] == [0.1, 0.1, 0.05, 0.025], lrs
