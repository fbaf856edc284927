"""The loss probe's reference against values worked out by hand and finite differences of every loss, its
spec errors and its sensitivity perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import data
from equivalence.plan import perturb, perturbations
from equivalence.reference import losses as loss_ref
from equivalence.spec import LOSS_OPTIONS

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def loss_doc(**probe) -> dict:
    table = {"name": "mse", "shape": [3, 4]}
    table.update(probe)
    return {"id": "loss", "description": "a loss probe", "kind": "loss",
            "loss_probe": {k: v for k, v in table.items() if v is not None}}


def literal(case, x, target, upstream=1.0):
    x = np.asarray(x, dtype=float)
    target = np.asarray(target)
    ignored = (target == case.loss_probe.ignore_index) if case.loss_probe.ignore_index is not None else \
        np.zeros(x.shape[0], dtype=bool)
    return {"input": x, "target": target if target.dtype.kind == "i" else target.astype(float),
            "upstream": np.asarray(upstream, dtype=float), "ignored": ignored}


def close(actual, expected, what, rtol=1e-12, atol=1e-14):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    assert np.allclose(actual, expected, rtol=rtol, atol=atol), f"{what}: {actual.tolist()} vs {expected.tolist()}"


def test_cross_entropy_with_weights_and_ignore_index_by_hand(tmp_path):
    """Logits [0, ln 3] (p = [1/4, 3/4]) for three samples, labels [1, 0, ignored]; weights [2, 1]:
    losses 1 * ln(4/3) and 2 * ln 4; the mean divides by w[1] + w[0] = 3, not by 3 samples."""
    case = load(tmp_path, loss_doc(name="cross_entropy", shape=[3, 2], weight=[2.0, 1.0], ignore_index=-1))
    row = [0.0, np.log(3.0)]
    loss, grad = loss_ref.loss_and_input_grad(case, literal(case, [row, row, row], np.array([1, 0, -1])))
    close(loss, (np.log(4 / 3) + 2 * np.log(4)) / 3, "weighted mean over non-ignored targets")
    # d/dx of w_y * -log p_y = w_y * (p - onehot(y)), divided by 3
    close(grad, np.array([[0.25, -0.25], [2 * -0.75, 2 * 0.75], [0, 0]]) / 3, "gradient, ignored row zero")


def test_label_smoothing_by_hand(tmp_path):
    """eps = 0.2, C = 2: targets 0.9 / 0.1; loss = -(0.9 log p_y + 0.1 log p_other)."""
    case = load(tmp_path, loss_doc(name="cross_entropy", shape=[1, 2], label_smoothing=0.2, reduction="sum"))
    loss, grad = loss_ref.loss_and_input_grad(case, literal(case, [[0.0, np.log(3.0)]], np.array([1])))
    close(loss, -(0.9 * np.log(0.75) + 0.1 * np.log(0.25)), "smoothed cross entropy")
    close(grad, [[0.25 - 0.1, 0.75 - 0.9]], "p - q")


def test_huber_is_delta_times_smooth_l1_and_bce_clamps_at_minus_100(tmp_path):
    d = np.array([[0.2, -0.3, 1.5, -2.0]])
    huber = load(tmp_path, loss_doc(name="huber", shape=[1, 4], delta=0.5, reduction="none"), "h.toml")
    smooth = load(tmp_path, loss_doc(name="smooth_l1", shape=[1, 4], beta=0.5, reduction="none"), "s.toml")
    h, _ = loss_ref.loss_and_input_grad(huber, literal(huber, d, np.zeros((1, 4)), np.ones((1, 4))))
    s, _ = loss_ref.loss_and_input_grad(smooth, literal(smooth, d, np.zeros((1, 4)), np.ones((1, 4))))
    close(h, [[0.02, 0.045, 0.5 * (1.5 - 0.25), 0.5 * (2.0 - 0.25)]], "huber(0.5)")
    close(h, 0.5 * s, "huber(delta) = delta * smooth_l1(beta=delta)")
    bce = load(tmp_path, loss_doc(name="bce", shape=[1, 2], reduction="none"), "b.toml")
    value, _ = loss_ref.loss_and_input_grad(bce, literal(bce, [[0.0, 1.0]], np.array([[1.0, 0.0]]), np.ones((1, 2))))
    close(value, [[100.0, 100.0]], "log(0) clamped at -100")


def test_multi_margin_and_kl_by_hand(tmp_path):
    """multi_margin, x = [0.5, 0, 1], y = 0, margin 1, p 2: hinges (1 - 0.5 + 0)^2 and (1 - 0.5 + 1)^2 over C = 3.
    kl_div batchmean: t log(t) - t x summed over one row of two."""
    mm = load(tmp_path, loss_doc(name="multi_margin", shape=[1, 3], p=2, reduction="sum"), "m.toml")
    loss, grad = loss_ref.loss_and_input_grad(mm, literal(mm, [[0.5, 0.0, 1.0]], np.array([0])))
    close(loss, (0.25 + 2.25) / 3, "multi-margin p=2")
    close(grad, [[-(1.0 + 3.0) / 3, 1.0 / 3, 3.0 / 3]], "2 h / C per class, minus their sum at the target")
    kl = load(tmp_path, loss_doc(name="kl_div", shape=[1, 2], reduction="batchmean"), "k.toml")
    x = np.log([[0.5, 0.5]])
    loss, grad = loss_ref.loss_and_input_grad(kl, literal(kl, x, np.array([[0.25, 0.75]])))
    close(loss, 0.25 * np.log(0.5) + 0.75 * np.log(1.5), "KL(t || p)")
    close(grad, [[-0.25, -0.75]], "-t")


SCENARIOS = [
    dict(name="mse"), dict(name="l1"), dict(name="smooth_l1", beta=0.7), dict(name="huber", delta=0.7),
    dict(name="cross_entropy", shape=[6, 5], weight=[0.5, 2, 1, 3, 0.25], ignore_index=2),
    dict(name="cross_entropy", shape=[6, 5], label_smoothing=0.1, weight=[0.5, 2, 1, 3, 0.25]),
    dict(name="cross_entropy", shape=[6, 5], soft_labels=True, weight=[0.5, 2, 1, 3, 0.25]),
    dict(name="nll", shape=[6, 5], weight=[0.5, 2, 1, 3, 0.25], ignore_index=-100),
    dict(name="bce"), dict(name="bce_with_logits", pos_weight=[0.5, 2, 1, 3]),
    dict(name="kl_div", shape=[6, 5], reduction="batchmean"), dict(name="kl_div", shape=[6, 5], log_target=True),
    dict(name="hinge_embedding", margin=0.5), dict(name="multi_margin", shape=[6, 5], p=2, margin=0.5),
    dict(name="multi_margin", shape=[6, 5], weight=[0.5, 2, 1, 3, 0.25]),
    dict(name="soft_margin"), dict(name="bce_with_logits", weight=[0.5, 2, 1, 3], pos_weight=[1, 2, 0.5, 1]),
    dict(name="smooth_l1", beta=0.0), dict(name="hinge_embedding", target_values=[-1.0, 0.0, 1.0, 2.0]),
    dict(name="cross_entropy", shape=[2, 3, 4]), dict(name="margin_ranking", shape=[8], margin=0.3),
]


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("probe", SCENARIOS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items() if k != "shape"))
def test_reference_gradients_match_finite_differences(tmp_path, probe, reduction):
    """Central differences of sum(loss * upstream) in float64 against the analytic input gradient."""
    reduction = probe.get("reduction", reduction)
    case = load(tmp_path, loss_doc(**dict(probe, reduction=reduction, seed=3)))
    inputs = data.loss_inputs(case)
    upstream = inputs["upstream"]
    _, grad = loss_ref.loss_and_input_grad(case, inputs)

    def objective(x):
        value, _ = loss_ref.loss_and_input_grad(case, dict(inputs, input=x))
        return float(np.sum(value * upstream))

    h, x0 = 1e-6, inputs["input"]
    numeric = np.zeros_like(x0)
    for index in np.ndindex(x0.shape):
        step = np.zeros_like(x0)
        step[index] = h
        numeric[index] = (objective(x0 + step) - objective(x0 - step)) / (2 * h)
    assert np.allclose(grad, numeric, rtol=1e-6, atol=1e-7), (
        f"{probe} {reduction}: analytic {grad.tolist()} vs numeric {numeric.tolist()}")


def test_ignore_index_marks_drawn_labels_equal_to_it(tmp_path):
    case = load(tmp_path, loss_doc(name="cross_entropy", shape=[30, 3], ignore_index=1))
    inputs = data.loss_inputs(case)
    assert np.array_equal(inputs["ignored"], inputs["target"] == 1), inputs["target"].tolist()
    assert inputs["ignored"][:10].all() and not inputs["ignored"].all(), inputs["ignored"].tolist()


def test_every_loss_case_has_a_perturbation_that_changes_the_reference(tmp_path):
    for probe in SCENARIOS + [dict(name="bce", scale=1e4)]:
        case = load(tmp_path, loss_doc(**dict(probe, seed=3)))
        names = perturbations(case)
        assert names, probe
        base = loss_ref.run_loss(case).steps[0]
        for name in names:
            moved = loss_ref.run_loss(perturb(case, name)).steps[0]
            differs = any(not np.array_equal(base[q][n], moved[q][n]) for q in base for n in base[q])
            assert differs, f"{name} leaves {probe} unchanged"


@pytest.mark.parametrize("probe, key, says", [
    (dict(name="hinge"), "loss_probe.name", ["'hinge' is not known", "multi_margin"]),
    (dict(name="mse", margin=1.0), "loss_probe.margin", ["mse takes no margin", "no options"]),
    (dict(name="cross_entropy", shape=[4, 3], weight=[1.0, 2.0]), "loss_probe.weight", ["2 values for 3 classes"]),
    (dict(name="cross_entropy", shape=[4]), "loss_probe.shape", ["takes [N, C]"]),
    (dict(name="mse", reduction="batchmean"), "loss_probe.reduction", ["batchmean applies to kl_div only"]),
    (dict(name="cross_entropy", shape=[4, 3], soft_labels=True, ignore_index=1), "loss_probe.ignore_index",
     ["soft_labels gives probabilities"]),
    (dict(name="cross_entropy", shape=[4, 3], label_smoothing=1.0), "loss_probe.label_smoothing",
     ["0 <= label_smoothing < 1"]),
    (dict(name="huber", delta=0.0), "loss_probe.delta", ["a number > 0"]),
    (dict(name="multi_margin", shape=[4, 3], p=3), "loss_probe.p", ["1, 2"]),
    (dict(name="mse", scale=-1.0), "loss_probe.scale", ["a number > 0"]),
    (dict(name="l1", mapping="by_name"), "loss_probe.mapping", ["l1 takes no mapping"]),
])
def test_loss_probe_spec_errors(tmp_path, probe, key, says):
    spec_error(write(tmp_path, loss_doc(**probe)), key=key, says=says)


def test_loss_probe_table_belongs_to_loss_cases_only(tmp_path):
    spec_error(write(tmp_path, tiny(loss_probe={"name": "mse", "shape": [2, 2]}), "t.toml"),
               key="loss_probe", says=["does not apply to a training case"])
    doc = {"id": "d", "description": "d", "kind": "dropout", "dropout": {"p": 0.5, "shape": [10]},
           "loss_probe": {"name": "mse", "shape": [2, 2]}}
    spec_error(write(tmp_path, doc, "d.toml"), key="loss_probe", says=["does not apply to a dropout case"])
    spec_error(write(tmp_path, dict(loss_doc(), model={"sizes": [2, 2]}), "m.toml"), key="model",
               says=["does not apply to a loss case", "[loss_probe] only"])
    spec_error(write(tmp_path, {"id": "l", "description": "l", "kind": "loss"}, "l.toml"), key="loss_probe",
               says=["a loss case needs a [loss_probe] table"])


def test_every_loss_lists_its_options():
    from equivalence.spec import LOSS_NAMES
    assert set(LOSS_OPTIONS) == set(LOSS_NAMES)
