"""EMA of the weights: the reference flavours worked out by hand, the recorded 'ema' against the recorded
parameters, and the [ema] spec errors."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import reference
from equivalence.plan import perturbations, plan
from equivalence.reference.ema import Ema
from equivalence.spec import EmaSpec

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness

W0, W1, W2 = (np.array([v]) for v in (0.0, 2.0, 4.0))


def run(spec: EmaSpec) -> list[float]:
    ema = Ema(spec, {"w": W0})
    return [ema.update(step, {"w": w})["w"].item() for step, w in ((1, W1), (2, W2))]


@pytest.mark.parametrize("spec, expected", [
    (EmaSpec(decay=0.5), [2.0, 3.0]),                                      # S1 = W1, S2 = .5*2 + .5*4
    (EmaSpec(decay=0.5, init="initial_params"), [1.0, 2.5]),               # from W0 = 0
    (EmaSpec(decay=0.5, init="zero"), [1.0, 2.5]),
    (EmaSpec(decay=0.5, init="zero", bias_correction=True), [2.0, 2.5 / 0.75]),
    # thres_steps: beta_1 = min(0.5, 2/11), beta_2 = min(0.5, 3/12) = 0.25
    (EmaSpec(decay=0.5, init="zero", warmup="thres_steps"), [(9 / 11) * 2, 0.25 * (9 / 11) * 2 + 0.75 * 4]),
    (EmaSpec(decay=0.5, init="zero", bias_correction=True, warmup="thres_steps"),
     [(9 / 11) * 2 / (1 - 2 / 11), (0.25 * (9 / 11) * 2 + 0.75 * 4) / (1 - 0.25 ** 2)]),
], ids=["first_update", "initial_params", "zero", "zero-corrected", "thres_steps", "thres_steps-corrected"])
def test_flavours_by_hand(spec, expected):
    got = run(spec)
    assert np.allclose(got, expected, rtol=1e-14), f"{spec}: {got} vs expected {expected}"


def test_recorded_ema_follows_the_recorded_params(tmp_path):
    case = load(tmp_path, tiny(steps=5, ema={"decay": 0.8}))
    traj = reference.run(case)
    for name in traj.initial:
        average = traj.steps[0]["param"][name]
        for t, step in enumerate(traj.steps, start=1):
            if t > 1:
                average = 0.8 * average + 0.2 * step["param"][name]
            assert np.allclose(step["ema"][name], average, rtol=1e-14), f"ema of {name} at step {t}"


def test_ema_routes_and_perturbation(tmp_path):
    case = load(tmp_path, tiny(steps=3, ema={"decay": 0.9}))
    assert case.selected_routes == ("ema_module", "ema_manual"), case.selected_routes
    assert "ema-decay" in perturbations(case), perturbations(case)
    ids = {c.implementation for c in plan(case, ["paddle", "torch"])}
    assert {"paddle/static_ema", "paddle/manual_ema", "torch/averaged_model", "torch/manual_ema"} <= ids, ids


# ---------------------------------------------------------------------------------------------- spec errors

def test_bias_correction_needs_a_zero_start(tmp_path):
    path = write(tmp_path, tiny(ema={"decay": 0.9, "bias_correction": True}))
    spec_error(path, key="ema.bias_correction", says=["corrects a zero start", "init = 'zero'"])


def test_decay_range(tmp_path):
    path = write(tmp_path, tiny(ema={"decay": 1.0}))
    spec_error(path, key="ema.decay", says=["out of range", "0 < decay < 1"])


def test_ema_route_without_ema(tmp_path):
    path = write(tmp_path, tiny(routes=["ema_manual"]))
    spec_error(path, key="routes", says=["need an [ema] table"])


def test_ema_case_on_a_training_route(tmp_path):
    path = write(tmp_path, tiny(ema={"decay": 0.9}, routes=["optimizer", "ema_manual"]))
    spec_error(path, key="routes", says=["records the EMA on its EMA routes", "ema_module, ema_manual"])
