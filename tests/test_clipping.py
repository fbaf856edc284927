"""Gradient clipping and per-parameter learning rates: the reference formulas against values worked out by
hand, the case keys' errors, the routes and perturbations a case plans, and the backends' refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equivalence import data, reference
from equivalence.compare import compare
from equivalence.plan import implementations, perturb, perturbations, plan
from equivalence.record import SCALAR
from equivalence.reference.clipping import clip_gradients, vector_norm
from equivalence.runner import load_all
from equivalence.spec import SpecError

from .casefiles import load, tiny, write
from .test_reference import X, close, linear_case
from .test_spec import spec_error

pytestmark = pytest.mark.harness

GLOBAL = {"kind": "global_norm", "max_norm": 1.0, "active": "some_steps"}


def clip_case(tmp_path, clip, reference_flavour=None, **top):
    doc = tiny(clip=clip, **top)
    if reference_flavour:
        doc["reference"] = reference_flavour
    return load(tmp_path, doc)


# Two tensors whose joint L2 norm is 5: [3, 0] and [[0, 4]]; per tensor 3 and 4.
GRADS = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, -4.0]])}


# ------------------------------------------------------------------------------------------ formulas

def test_vector_norms_by_hand():
    arrays = list(GRADS.values())
    assert vector_norm(arrays, "2") == 5.0, vector_norm(arrays, "2")
    assert vector_norm(arrays, "1") == 7.0, vector_norm(arrays, "1")
    assert vector_norm(arrays, "inf") == 4.0, vector_norm(arrays, "inf")


@pytest.mark.parametrize("formula, scale", [("exact", 1 / 5), ("epsilon", 1 / (5 + 1e-6)), ("unclamped", 1 / 5)])
def test_global_norm_above_the_threshold(tmp_path, formula, scale):
    case = clip_case(tmp_path, GLOBAL, {"clip_norm_formula": formula})
    out = clip_gradients(case, GRADS)
    close(out.grads["a"], [3 * scale, 0.0], f"a clipped ({formula})", rtol=1e-15, atol=0)
    close(out.grads["b"], [[0.0, -4 * scale]], f"b clipped ({formula})", rtol=1e-15, atol=0)
    assert out.norms == {SCALAR: 5.0} and out.engaged, (out.norms, out.engaged)


@pytest.mark.parametrize("formula", ["exact", "epsilon"])
def test_global_norm_below_the_threshold_is_an_exact_no_op(tmp_path, formula):
    case = clip_case(tmp_path, {**GLOBAL, "max_norm": 10.0}, {"clip_norm_formula": formula})
    out = clip_gradients(case, GRADS)
    for name, g in GRADS.items():
        assert np.array_equal(out.grads[name], g), f"{formula}: {name} {out.grads[name]} changed from {g}"
    assert not out.engaged, "a clip below its threshold reported as engaged"


def test_unclamped_formula_scales_small_gradients_up(tmp_path):
    case = clip_case(tmp_path, {**GLOBAL, "max_norm": 10.0}, {"clip_norm_formula": "unclamped"})
    close(clip_gradients(case, GRADS).grads["a"], [6.0, 0.0], "a scaled up to norm 10", rtol=1e-15, atol=0)


def test_epsilon_clips_a_norm_just_below_the_threshold(tmp_path):
    """norm = max_norm - 1e-7: the exact coefficient is 1, the epsilon one max_norm / (norm + 1e-6) < 1."""
    grads = {"a": np.array([1.0 - 1e-7])}
    exact = clip_gradients(clip_case(tmp_path, GLOBAL), grads)
    epsilon = clip_gradients(clip_case(tmp_path, GLOBAL, {"clip_norm_formula": "epsilon"}), grads)
    assert exact.grads["a"][0] == 1.0 - 1e-7 and not exact.engaged, exact
    close(epsilon.grads["a"], [(1.0 - 1e-7) / (1.0 + 9e-7)], "epsilon coefficient", rtol=1e-15, atol=0)


def test_per_tensor_norm_clips_each_tensor_by_its_own_norm(tmp_path):
    case = clip_case(tmp_path, {**GLOBAL, "kind": "norm", "max_norm": 3.5})
    out = clip_gradients(case, GRADS)
    assert np.array_equal(out.grads["a"], GRADS["a"]), f"norm 3 <= 3.5 must be unchanged: {out.grads['a']}"
    close(out.grads["b"], [[0.0, -3.5]], "b clipped to norm 3.5", rtol=1e-15, atol=0)
    assert out.norms == {"a": 3.0, "b": 4.0}, out.norms


@pytest.mark.parametrize("norm_type, total", [("inf", 4.0), ("1", 7.0)])
def test_global_norm_of_other_orders(tmp_path, norm_type, total):
    case = clip_case(tmp_path, {**GLOBAL, "norm_type": norm_type})
    out = clip_gradients(case, GRADS)
    close(out.grads["b"], [[0.0, -4.0 / total]], f"{norm_type}-norm clip", rtol=1e-15, atol=0)


def test_value_clip_with_asymmetric_bounds(tmp_path):
    case = clip_case(tmp_path, {"kind": "value", "min": -0.3, "max": 0.8, "active": "some_steps"})
    out = clip_gradients(case, {"g": np.array([-1.0, -0.2, 0.5, 2.0])})
    assert out.grads["g"].tolist() == [-0.3, -0.2, 0.5, 0.8] and out.engaged and out.norms == {}, out


def test_value_clip_min_defaults_to_minus_max(tmp_path):
    case = clip_case(tmp_path, {"kind": "value", "max": 0.5, "active": "some_steps"})
    assert case.clip.bounds == (-0.5, 0.5), case.clip.bounds
    assert clip_gradients(case, {"g": np.array([-1.0, 1.0])}).grads["g"].tolist() == [-0.5, 0.5]


# ------------------------------------------------------------------------------------------ the training loop

# Linear(3, 2) on X with mean loss (tests/test_reference.py): grad W = rows [1.25, 1.75, 2.25] twice, grad b = 0.5.
GRAD_W = np.array([[1.25, 1.25], [1.75, 1.75], [2.25, 2.25]])
GRAD_B = np.array([0.5, 0.5])
GLOBAL_NORM = math.sqrt(2 * (1.25 ** 2 + 1.75 ** 2 + 2.25 ** 2) + 2 * 0.5 ** 2)


def test_one_clipped_sgd_step(tmp_path):
    case = linear_case(tmp_path, clip=GLOBAL)
    w0 = data.initial_params(case)["linear0.weight"]
    step = reference.run(case).steps[0]
    close(step["grad_norm"][SCALAR], GLOBAL_NORM, "global norm before clipping")
    close(step["grad_clipped"]["linear0.weight"], GRAD_W / GLOBAL_NORM, "clipped grad of W")
    close(step["param"]["linear0.weight"], w0 - 0.5 * GRAD_W / GLOBAL_NORM, "W after a clipped step of lr 0.5")


@pytest.mark.parametrize("order", ["clip_then_decay", "decay_then_clip"])
def test_clip_and_decay_order(tmp_path, order):
    c = 0.1
    doc = tiny(model={"sizes": [3, 2], "bias": True}, data={"seed": 0, "batch_size": 2, "inputs": X},
               optimizer={"name": "sgd", "lr": 0.5}, clip=GLOBAL, regularization={"l2": c})
    doc["reference"] = {"clip_order": order}
    case = load(tmp_path, doc)
    w0, b0 = (data.initial_params(case)[k] for k in ("linear0.weight", "linear0.bias"))
    step = reference.run(case).steps[0]
    if order == "clip_then_decay":
        applied = GRAD_W / GLOBAL_NORM + c * w0
    else:
        decayed_w, decayed_b = GRAD_W + c * w0, GRAD_B + c * b0
        norm = math.sqrt((decayed_w ** 2).sum() + (decayed_b ** 2).sum())
        applied = decayed_w / norm
    close(step["param"]["linear0.weight"], w0 - 0.5 * applied, f"W after one step ({order})")


def test_per_parameter_learning_rate(tmp_path):
    case = linear_case(tmp_path, lr_multipliers={"linear0.bias": 0.25})
    b0 = data.initial_params(case)["linear0.bias"]
    step = reference.run(case).steps[0]
    close(step["param_lr"]["linear0.bias"], 0.125, "bias lr = 0.5 * 0.25")
    close(step["param_lr"]["linear0.weight"], 0.5, "weight lr unchanged")
    close(step["param"]["linear0.bias"], b0 - 0.125 * GRAD_B, "bias after a step at its own lr")
    close(step["lr"][SCALAR], 0.5, "the recorded lr is the optimizer's")


@pytest.mark.parametrize("active, max_norm, says", [("every_step", 100.0, "changes no gradient at steps [1, 2]"),
                                                    ("never", 0.01, "changes gradients at steps [1, 2]")])
def test_reference_checks_the_clip_activity_claim(tmp_path, active, max_norm, says):
    case = linear_case(tmp_path, steps=2, clip={"kind": "global_norm", "max_norm": max_norm, "active": active})
    with pytest.raises(ValueError) as info:
        reference.run(case)
    assert says in str(info.value) and f"'{active}'" in str(info.value), str(info.value)


# ------------------------------------------------------------------------------------------ spec errors

@pytest.mark.parametrize("clip, key, says", [
    ({"kind": "global_norm", "active": "never"}, "clip.max_norm", ["missing", "a number > 0"]),
    ({"kind": "norm", "max_norm": 0.0, "active": "never"}, "clip.max_norm", ["0.0 is not a norm threshold"]),
    ({"kind": "global_norm", "max_norm": 1.0, "max": 2.0, "active": "never"}, "clip.max",
     ["applies to kind = 'value' only", "max_norm, norm_type"]),
    ({"kind": "value", "active": "never"}, "clip.max", ["missing"]),
    ({"kind": "value", "max": -0.5, "active": "never"}, "clip.max", ["no min (min defaults to -max)"]),
    ({"kind": "value", "min": 0.5, "max": 0.2, "active": "never"}, "clip.min", ["0.5 is not below max 0.2", "min < max"]),
    ({"kind": "value", "max": 0.5, "max_norm": 1.0, "active": "never"}, "clip.max_norm", ["norm kinds only"]),
    ({"kind": "value", "max": 0.5, "norm_type": "2", "active": "never"}, "clip.norm_type", ["norm kinds only"]),
    ({"kind": "global_norm", "max_norm": 1.0, "norm_type": "3", "active": "never"}, "clip.norm_type",
     ["'3' is not known", "2, 1, inf"]),
    ({"kind": "by_norm", "max_norm": 1.0, "active": "never"}, "clip.kind", ["global_norm, norm, value"]),
    ({"kind": "norm", "max_norm": 1.0}, "clip.active", ["missing required key"]),
])
def test_clip_spec_errors(tmp_path, clip, key, says):
    spec_error(write(tmp_path, tiny(clip=clip)), key=key, says=says)


def test_clip_route_needs_a_clip_table(tmp_path):
    path = write(tmp_path, tiny(routes=["optimizer", "clip_function"]))
    spec_error(path, key="routes", says=["'clip_function' clips, and the case has no [clip] table", "per_parameter"])


def test_clip_case_routes_must_clip(tmp_path):
    path = write(tmp_path, tiny(clip=GLOBAL, routes=["clip_argument", "per_parameter"]))
    spec_error(path, key="routes", says=["'per_parameter' does not clip", "per_parameter+clip_argument"])


def test_unknown_composite_route(tmp_path):
    path = write(tmp_path, tiny(clip=GLOBAL, routes=["optimizer+clip_function"]))
    spec_error(path, key="routes", says=["'optimizer+clip_function' is not known", "clip_function"])


def test_lr_multiplier_errors(tmp_path):
    spec_error(write(tmp_path, tiny(lr_multipliers={"linear7.*": 0.5})), key="lr_multipliers.linear7.*",
               says=["'linear7.*' matches no parameter", "linear1.bias"])
    spec_error(write(tmp_path, tiny(lr_multipliers={"linear0.bias": -1.0})), key="lr_multipliers.linear0.bias",
               says=["-1.0 is negative", "a multiplier >= 0"])


def test_last_matching_multiplier_wins(tmp_path):
    case = load(tmp_path, tiny(lr_multipliers={"linear0.*": 0.5, "linear0.bias": 2.0}))
    assert case.lr_multiplier_of() == {"linear0.weight": 0.5, "linear0.bias": 2.0, "linear1.weight": 1.0,
                                       "linear1.bias": 1.0}, case.lr_multiplier_of()


# ------------------------------------------------------------------------------------------ routes and plan

def test_default_routes_of_a_clip_case(tmp_path):
    case = load(tmp_path, tiny(clip=GLOBAL, regularization={"l2": 0.1}))
    assert case.selected_routes == ("clip_function", "clip_argument", "per_parameter+clip_function",
                                    "per_parameter+clip_argument", "loss_penalty+clip_function",
                                    "loss_penalty+clip_argument"), case.selected_routes
    ids = [impl for _, _, impl in implementations(case, ["paddle", "torch"])]
    assert ids[:4] == ["paddle/clip_fn", "paddle/grad_clip", "paddle/param_attr+clip_fn",
                       "paddle/param_attr+grad_clip"], ids
    assert "torch/param_group+clip_fn" in ids and "torch/loss_penalty+grad_clip" in ids, ids


def test_torch_runs_its_param_groups_once_for_every_paddle_form(tmp_path):
    case = load(tmp_path, tiny(lr_multipliers={"linear1.*": 2.0}))
    assert case.selected_routes == ("per_parameter", "parameter_groups", "param_attr_in_groups"), case.selected_routes
    runs = implementations(case, ["paddle", "torch"])
    assert [impl for _, _, impl in runs] == ["paddle/param_attr", "paddle/param_group", "paddle/param_attr_in_groups",
                                             "torch/param_group"], runs
    direct = {(c.implementation, c.compared_with) for c in plan(case, ["paddle", "torch"]) if c.kind == "direct"}
    assert direct == {("torch/param_group", f"paddle/{p}") for p in ("param_attr", "param_group", "param_attr_in_groups")}, direct


@pytest.mark.parametrize("clip, regularization, multipliers, expected", [
    ({**GLOBAL, "active": "every_step"}, None, {}, ["lr", "clip-ignored", "clip-threshold"]),
    ({**GLOBAL, "active": "never"}, None, {}, ["lr", "clip-unclamped"]),
    ({"kind": "value", "max": 1.0, "active": "never"}, None, {}, ["lr"]),
    ({**GLOBAL, "active": "some_steps"}, {"l2": 0.1}, {"linear0.*": 0.5},
     ["lr", "no-regularization", "clip-ignored", "clip-threshold", "clip-order-swapped", "ignore-lr-multipliers"]),
])
def test_default_perturbations(tmp_path, clip, regularization, multipliers, expected):
    doc = tiny(clip=clip, lr_multipliers=multipliers or None, regularization=regularization)
    assert perturbations(load(tmp_path, doc)) == expected


def test_perturbed_clips_keep_no_activity_claim(tmp_path):
    case = load(tmp_path, tiny(clip={**GLOBAL, "active": "every_step"}))
    threshold = perturb(case, "clip-threshold")
    assert threshold.clip.max_norm == pytest.approx(1.01) and threshold.clip.active == "some_steps", threshold.clip
    assert perturb(case, "clip-kind-swapped").clip.kind == "norm"
    assert perturb(case, "clip-unclamped").reference.clip_norm_formula == "unclamped"
    assert perturb(case, "clip-ignored").clip is None


def test_perturbation_that_does_not_apply(tmp_path):
    case = load(tmp_path, tiny(clip={"kind": "value", "max": 1.0, "active": "never"},
                               expect={"sensitivity": ["clip-kind-swapped"]}))
    with pytest.raises(SpecError) as info:
        plan(case, ["paddle", "torch"])
    assert "'clip-kind-swapped' does not apply" in str(info.value), str(info.value)


def _clip_or_lr_cases():
    return [c for c in load_all(["cases"]) if not isinstance(c, SpecError) and (c.clip or c.lr_multipliers)]


@pytest.mark.parametrize("case", _clip_or_lr_cases(), ids=lambda c: c.id)
def test_perturbations_show_in_what_every_route_records(case):
    """Paddle's grad_clip= clips inside step(), so its route records no grad_clipped: a wrong mapping must
    show in update and param, which every route records, at the case's tolerance."""
    ref = reference.run(case)
    for name in perturbations(case):
        result = compare(reference.run(perturb(case, name)), ref, case, {"update", "param"})
        assert not result.equal, f"{case.id}: {name} is invisible in update and param ({result.summary()})"


# ------------------------------------------------------------------------------------------ backends

def test_paddle_refusal_is_not_applicable_with_paddles_message(tmp_path):
    paddle_backend = pytest.importorskip("equivalence.backends.paddle_backend")
    from equivalence.backends.common import NotApplicable
    case = load(tmp_path, tiny(dtype="float64", clip={"kind": "norm", "max_norm": 0.1, "active": "some_steps"}))
    with pytest.raises(NotApplicable) as info:
        paddle_backend.run(case, "clip_argument")
    text = str(info.value)
    assert "clip_by_norm" in text and "float32" in text and "[Hint" not in text, text


def test_torch_records_the_optimizers_lr_with_multiplied_groups(tmp_path):
    torch_backend = pytest.importorskip("equivalence.backends.torch_backend")
    case = load(tmp_path, tiny(lr_multipliers={"linear0.*": 0.0, "linear1.weight": 3.0}))
    _, params, optimizer = torch_backend.build(case, "per_parameter")
    assert torch_backend.lr(optimizer) == 0.1, [g["lr"] for g in optimizer.param_groups]  # the plain group's
    every = load(tmp_path, tiny(lr_multipliers={"*": 3.0}))
    _, _, scaled = torch_backend.build(every, "per_parameter")
    assert torch_backend.lr(scaled) == pytest.approx(0.1, rel=1e-15), scaled.param_groups[0]["lr"]
    lrs = {n: torch_backend.param_lr(optimizer, p) for n, p in params.items()}
    assert lrs == pytest.approx({"linear0.weight": 0.0, "linear0.bias": 0.0, "linear1.weight": 0.3,
                                 "linear1.bias": 0.1}), lrs
