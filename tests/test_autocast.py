"""Autocast: bfloat16 rounding by hand, the reference's bfloat16 flavour, and the spec errors."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import reference
from equivalence.plan import perturbations
from equivalence.reference.model import to_bfloat16

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness

ULP_AT_ONE = 2.0 ** -7  # bfloat16 keeps 7 mantissa bits


def test_bfloat16_rounding_by_hand():
    values = np.array([1.0, 1 + ULP_AT_ONE / 2, 1 + 1.5 * ULP_AT_ONE, 1 + 0.75 * ULP_AT_ONE, -3.0 - ULP_AT_ONE,
                       np.inf, -np.inf, 0.0])
    # ties go to the even mantissa: 1 + ulp/2 -> 1, 1 + 1.5 ulp -> 1 + 2 ulp; above half rounds up; 3 + 2**-7
    # sits below half an ulp of 3 (2**-6) and rounds to 3
    expected = np.array([1.0, 1.0, 1 + 2 * ULP_AT_ONE, 1 + ULP_AT_ONE, -3.0, np.inf, -np.inf, 0.0])
    got = to_bfloat16(values)
    assert got.dtype == np.float64 and np.array_equal(got, expected), got
    assert np.isnan(to_bfloat16(np.array([np.nan]))).all()


def autocast_case(tmp_path, flavour="off", **top):
    doc = tiny(dtype="float32", loss="mse", autocast="bfloat16", steps=3, reference={"autocast": flavour}, **top)
    doc["model"] = {"sizes": [4, 6, 2], "activation": "tanh"}
    doc["data"] = {"seed": 5, "batch_size": 4}
    return load(tmp_path, doc)


def test_bfloat16_flavour_rounds_gradients_and_outputs(tmp_path):
    exact = reference.run(autocast_case(tmp_path, "off"))
    low = reference.run(autocast_case(tmp_path, "bfloat16"))
    for step in low.steps:
        for name, g in step["grad"].items():
            assert np.array_equal(to_bfloat16(g), g), f"{name}: a gradient under bfloat16 autocast is bfloat16"
    g_low, g_exact = low.steps[0]["grad"]["linear0.weight"], exact.steps[0]["grad"]["linear0.weight"]
    assert not np.array_equal(g_low, g_exact), "the flavour changed nothing"
    # a handful of bfloat16 roundings on the way: within a few bfloat16 ulps of the float64 gradient
    assert np.all(np.abs(g_low - g_exact) <= 8 * ULP_AT_ONE * np.abs(g_exact).max()), (g_low, g_exact)
    assert perturbations(autocast_case(tmp_path)) == ["lr", "autocast-flavour"]


def test_autocast_needs_float32(tmp_path):
    path = write(tmp_path, tiny(dtype="float64", loss="mse", autocast="bfloat16"))
    spec_error(path, key="autocast", says=["autocasts a float64 model", "dtype = 'float32'"])


def test_autocast_needs_a_float32_loss(tmp_path):
    path = write(tmp_path, tiny(dtype="float32", autocast="bfloat16"))
    spec_error(path, key="autocast", says=["loss 'mean' runs in bfloat16", "loss = 'mse' or 'cross_entropy'"])


def test_reference_flavour_needs_the_case_autocast(tmp_path):
    path = write(tmp_path, tiny(dtype="float32", reference={"autocast": "bfloat16"}))
    spec_error(path, key="reference.autocast", says=["the case runs with autocast = None"])
