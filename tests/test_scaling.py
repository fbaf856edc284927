"""Dynamic loss scaling: the reference policy against sequences written out by hand, its place in the
reference training loop, and the [loss_scaling] spec errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from equivalence import reference
from equivalence.plan import perturb, perturbations
from equivalence.reference.scaling import LossScaler
from equivalence.spec import Injection, LossScalingSpec

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def scales_used(spec: LossScalingSpec, overflows: list[bool]) -> list[float]:
    scaler, used = LossScaler(spec), []
    for found in overflows:
        used.append(float(scaler.scale))
        scaler.update(found)
    return used


def test_growth_and_backoff_by_hand():
    spec = LossScalingSpec(init_scale=8.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2)
    overflows = [False, False, True, False, True, True, False, False, False]
    # Two finite steps grow 8 -> 16; an overflow halves and restarts the count; consecutive overflows halve
    # twice; growth needs two finite steps since the last overflow.
    expected = [8, 8, 16, 8, 8, 4, 2, 2, 4]
    got = scales_used(spec, overflows)
    assert got == expected, f"scale used per step {got}, expected {expected}"


def test_backoff_interval_counts_overflows_in_a_row():
    spec = LossScalingSpec(init_scale=8.0, growth_interval=100, backoff_interval=2)
    # One overflow alone never backs off: a finite step resets the count (Paddle's decr_count = 0).
    overflows = [True, False, True, True, True, True]
    expected = [8, 8, 8, 8, 4, 4]
    got = scales_used(spec, overflows)
    assert got == expected, f"scale used per step {got}, expected {expected}"


def test_scale_is_float32():
    scaler = LossScaler(LossScalingSpec(init_scale=8.0, backoff_factor=0.3))
    scaler.update(True)
    assert scaler.scale.dtype == np.float32 and scaler.scale == np.float32(2.4), (scaler.scale, scaler.scale.dtype)
    assert float(scaler.scale) != 2.4, "a float64 scale would hide the float32 storage both frameworks use"


def test_growth_stops_where_float32_overflows():
    scaler = LossScaler(LossScalingSpec(init_scale=2.0 ** 127, growth_interval=1))
    scaler.update(False)
    assert scaler.scale == np.float32(2.0 ** 127), f"scale {scaler.scale}: 2**128 is inf in float32"


def test_unscale_flavours():
    g = np.array([0.3, -1.7])
    exact = LossScaler(LossScalingSpec(init_scale=1000.0))
    rounded = LossScaler(LossScalingSpec(init_scale=1000.0, unscale="float32_inverse"))
    assert np.array_equal(exact.unscaled(g), g), exact.unscaled(g)
    expected = (g * 1000.0) * float(np.float32(1 / 1000.0))
    assert np.array_equal(rounded.unscaled(g), expected), (rounded.unscaled(g), expected)
    rel = np.abs(rounded.unscaled(g) - g) / np.abs(g)
    assert np.all((rel > 1e-10) & (rel < 6e-8)), f"relative error {rel}: float32 rounding of 1/1000"


def test_overflow_detection():
    scaler = LossScaler(LossScalingSpec(init_scale=4.0))
    grads = {"w": np.array([0.5, 0.0])}
    assert not scaler.overflowed(grads, 1.0)
    assert scaler.overflowed(grads, float("inf")), "inf * 0 is NaN, inf * 0.5 is inf"
    assert scaler.overflowed(grads, float("nan"))
    assert scaler.overflowed({"w": np.array([np.float32(1e38)], dtype=np.float32)}, 1.0), \
        "1e38 * 4 overflows float32"


def test_reference_skips_an_overflowing_step(tmp_path):
    case = load(tmp_path, tiny(steps=4, optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.5},
                               loss_scaling={"init_scale": 16.0, "growth_interval": 2,
                                             "inject": [{"step": 2, "value": "nan"}]}))
    steps = reference.run(case).steps
    skipped = [s["step_skipped"]["-"].item() for s in steps]
    assert skipped == [0.0, 1.0, 0.0, 0.0], skipped
    scales = [s["loss_scale"]["-"].item() for s in steps]
    assert scales == [16.0, 16.0, 8.0, 8.0], f"scale per step {scales}: halved after step 2, grown after 4"
    assert "grad" not in steps[1], f"step 2 recorded its NaN gradient: {sorted(steps[1])}"
    for name, before in steps[0]["param"].items():
        assert np.array_equal(steps[1]["param"][name], before), f"{name} moved on the skipped step"
        assert np.array_equal(steps[1]["state.velocity"][name], steps[0]["state.velocity"][name]), \
            f"velocity of {name} moved on the skipped step"
        assert not np.any(steps[1]["update"][name]), f"update of {name} on the skipped step"


def test_loss_scaling_perturbations(tmp_path):
    case = load(tmp_path, tiny(steps=6, loss_scaling={"growth_interval": 2, "inject": [{"step": 3, "value": "inf"}]}))
    assert perturbations(case) == ["lr", "loss-scale-growth", "loss-scale-interval", "loss-scale-backoff"], \
        perturbations(case)
    assert perturb(case, "loss-scale-interval").loss_scaling.growth_interval == 3
    late = load(tmp_path, tiny(steps=6, loss_scaling={"inject": [{"step": 6, "value": "inf"}]}))
    # Growth after 2000 steps and a backoff after the last step cannot show in 6 steps: not claimed.
    assert perturbations(late) == ["lr"], perturbations(late)


def test_injected_factor():
    spec = LossScalingSpec(inject=(Injection(step=2, value="inf"), Injection(step=3, value="nan")))
    assert spec.injected(1) == 1.0 and spec.injected(2) == float("inf") and np.isnan(spec.injected(3))


# ---------------------------------------------------------------------------------------------- spec errors

def test_injection_outside_the_run(tmp_path):
    path = write(tmp_path, tiny(steps=3, loss_scaling={"inject": [{"step": 4, "value": "inf"}]}))
    spec_error(path, key="loss_scaling.inject[0].step", says=["not a step of this case", "from 1 to steps = 3"])


def test_injected_value(tmp_path):
    path = write(tmp_path, tiny(steps=3, loss_scaling={"inject": [{"step": 1, "value": "huge"}]}))
    spec_error(path, key="loss_scaling.inject[0].value", says=["'huge' is not known", "inf, nan"])


def test_backoff_factor_range(tmp_path):
    path = write(tmp_path, tiny(loss_scaling={"backoff_factor": 1.5}))
    spec_error(path, key="loss_scaling.backoff_factor", says=["out of range", "0 < backoff_factor < 1"])


def test_loss_scaling_needs_the_optimizer_route(tmp_path):
    path = write(tmp_path, tiny(loss_scaling={}, regularization={"l2": 0.1}))
    spec_error(path, key="routes", says=["optimizer route only", "routes = ['optimizer']"])


def test_device_variable_is_checked():
    """EQUIVALENCE_DEVICE picks where the backends run; a typo fails loudly instead of running on the CPU."""
    code = "import equivalence.backends.common as c; print(c.DEVICE)"
    env = {k: v for k, v in os.environ.items() if k != "EQUIVALENCE_DEVICE"}
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert plain.stdout.strip() == "cpu", (plain.stdout, plain.stderr)
    wrong = subprocess.run([sys.executable, "-c", code], env={**env, "EQUIVALENCE_DEVICE": "gpu0"},
                           capture_output=True, text=True)
    assert wrong.returncode != 0 and "accepted: cpu, cuda" in wrong.stderr, (wrong.returncode, wrong.stderr[-300:])
