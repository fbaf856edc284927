"""The learning rate of each parameter is recorded (param_lr) wherever parameters train at different rates, and
the optimizer's own lr is read from the optimizer, not from whichever param group comes first."""

from __future__ import annotations

import pytest

from equivalence import reference
from equivalence.compare import compare
from equivalence.record import SCALAR

from .casefiles import load, tiny

pytestmark = pytest.mark.harness


@pytest.fixture
def torch_backend():
    pytest.importorskip("torch")
    from equivalence.backends import torch_backend
    return torch_backend


def ratio_case(tmp_path, ratios):
    return load(tmp_path, tiny(dtype="float64", steps=3, loss="mse", model={"sizes": [3, 4, 2], "bias": True},
                               optimizer={"name": "adamw", "lr": 0.01, "weight_decay": 0.125, "lr_ratio": ratios},
                               routes=["optimizer"]))


def test_reference_records_each_parameters_lr_with_lr_ratio(tmp_path):
    case = ratio_case(tmp_path, {"*.weight": 0.5})
    step = reference.run(case).steps[0]
    assert step["lr"][SCALAR] == 0.01
    assert step["param_lr"] == {"linear0.weight": 0.005, "linear0.bias": 0.01, "linear1.weight": 0.005,
                                "linear1.bias": 0.01}, step["param_lr"]


def test_torch_lr_ratio_on_the_first_group_is_not_its_lr(tmp_path, torch_backend):
    """linear0.weight, the first parameter, trains at lr * 0.5: Torch's first param group holds 0.005, the
    optimizer's lr is still 0.01, and every parameter's lr is recorded and equal to the reference."""
    case = ratio_case(tmp_path, {"*.weight": 0.5})
    actual = torch_backend.run(case, "optimizer")
    assert actual.steps[0]["lr"][SCALAR] == pytest.approx(0.01, rel=1e-15)
    assert actual.steps[0]["param_lr"]["linear0.weight"] == pytest.approx(0.005, rel=1e-15)
    result = compare(actual, reference.run(case), case)
    assert result.equal, result.summary()
    assert "param_lr" in result.quantities and "lr" in result.quantities


def test_torch_lr_multiplier_on_the_first_group(tmp_path, torch_backend):
    case = load(tmp_path, tiny(dtype="float64", steps=2, optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.5},
                               lr_multipliers={"linear0.weight": 0.25}, routes=["per_parameter"]))
    actual = torch_backend.run(case, "per_parameter")
    result = compare(actual, reference.run(case), case)
    assert result.equal, result.summary()
    assert actual.steps[0]["param_lr"]["linear0.weight"] == pytest.approx(0.025, rel=1e-15)
