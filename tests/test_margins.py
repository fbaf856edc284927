"""Framework constructor arguments passed as written, and the note on float32 verdicts near the allowance."""

from __future__ import annotations

import pytest

from equivalence.backends.common import framework_arguments
from equivalence.compare import Comparison, QuantityError
from equivalence.margins import margin_note
from equivalence.spec import Tolerance

from .casefiles import load, tiny

pytestmark = pytest.mark.harness


class FakeOptimizer:
    def __init__(self, params, lr=0.1, foreach=None, amsgrad=False):
        pass


def test_framework_arguments(tmp_path):
    case = load(tmp_path, tiny(optimizer={"name": "sgd", "lr": 0.1, "torch": {"foreach": "None", "amsgrad": False}}))
    assert framework_arguments(case, "torch", FakeOptimizer) == {"foreach": None, "amsgrad": False}
    assert framework_arguments(case, "paddle", FakeOptimizer) == {}
    moved = load(tmp_path, tiny(optimizer={"name": "sgd", "lr": 0.1, "torch": {"foreach": True, "amsgrad": True}}))
    with pytest.raises(ValueError, match="amsgrad = True: not .*changes the update"):
        framework_arguments(moved, "torch", FakeOptimizer)
    unknown = load(tmp_path, tiny(optimizer={"name": "sgd", "lr": 0.1, "torch": {"fused": True}}))
    with pytest.raises(ValueError, match="has no argument 'fused'; it takes params, lr, foreach, amsgrad"):
        framework_arguments(unknown, "torch", FakeOptimizer)


def comparison(ratio: float, quantity: str = "param") -> Comparison:
    detail = QuantityError(1, quantity, "w", 0.0, 0.0, int(ratio > 1), 1, Tolerance(1e-5, 1e-6), ratio)
    return Comparison(mismatches=int(ratio > 1), compared=1, details=[detail])


@pytest.mark.parametrize("ratio, noted", [(0.3, False), (0.6, True), (1.04, True), (1.9, True), (2.5, False)])
def test_margin_note_float32(tmp_path, ratio, noted):
    case = load(tmp_path, tiny(dtype="float32"))
    note = margin_note(case, comparison(ratio))
    assert bool(note) == noted, note
    if noted:
        assert f"{ratio:.2f}x the tolerance" in note and 'dtype = "float64"' in note
        assert ("past it" in note) == (ratio > 1)


def test_margin_note_only_for_float32_and_not_for_hyper_parameters(tmp_path):
    assert margin_note(load(tmp_path, tiny(dtype="float64")), comparison(1.04)) == ""
    assert margin_note(load(tmp_path, tiny(dtype="float32")), comparison(1.04, "hyper.epsilon")) == ""


def test_no_margin_note_when_a_hyper_parameter_decides(tmp_path):
    near = comparison(1.04)
    near.details.append(QuantityError(1, "hyper.lambd", "-", 1e-4, 1.0, 1, 1, Tolerance(1e-7, 0.0), float("inf")))
    assert margin_note(load(tmp_path, tiny(dtype="float32")), near) == ""
