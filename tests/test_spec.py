"""The case loader: every error names the file, the dotted key and what is accepted."""

from __future__ import annotations

import dataclasses

import pytest

from equivalence.plan import plan
from equivalence.runner import load_all
from equivalence.spec import Case, Coefficients, SpecError, load_case

from .casefiles import TINY, load, tiny, write

pytestmark = pytest.mark.harness


def spec_error(path, *, key: str, says: list[str]) -> SpecError:
    """Load path, expect a SpecError whose message names the file, the key and each of `says`."""
    with pytest.raises(SpecError) as info:
        load_case(path)
    err, text = info.value, str(info.value)
    assert str(path) in text and err.file == str(path), f"file {path} not named: {text!r}"
    assert err.key == key and f": {key or '<file>'}:" in text, f"key {err.key!r} (message {text!r}), expected {key!r}"
    for fragment in says:
        assert fragment in text, f"{fragment!r} missing from {text!r}"
    return err


def test_minimal_case_loads(tmp_path):
    case = load(tmp_path, tiny())
    assert (case.id, case.model.sizes, case.optimizer.lr) == ("tiny", (3, 4, 2), 0.1), case
    assert case.path == str(tmp_path / "case.toml"), case.path


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, tiny(optimiser={"name": "sgd"}))
    err = spec_error(path, key="optimiser", says=["unknown key", "optimizer", "regularization", "steps"])
    assert "path" not in err.accepted.split(", "), f"internal field offered as accepted: {err.accepted}"


def test_unknown_nested_key(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "momentum", "lr": 0.1, "betas": [0.9, 0.99]}))
    spec_error(path, key="optimizer.betas", says=["unknown key", "name, lr, momentum, nesterov"])


def test_wrong_type(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "sgd", "lr": "0.1"}))
    spec_error(path, key="optimizer.lr", says=["expected a number", "'0.1'"])


def test_bool_is_not_an_integer(tmp_path):
    path = write(tmp_path, tiny(data={"seed": True, "batch_size": 2}))
    spec_error(path, key="data.seed", says=["expected an integer"])


def test_missing_required_key(tmp_path):
    path = write(tmp_path, tiny(optimizer={"lr": 0.1}))
    spec_error(path, key="optimizer.name", says=["missing required key", "string"])


def test_unknown_optimizer(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adamm", "lr": 0.1}))
    spec_error(path, key="optimizer.name", says=["'adamm' is not known", "accepted: sgd, momentum, adam, adamw"])


def test_negative_lr(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "sgd", "lr": -0.1}))
    spec_error(path, key="optimizer.lr", says=["-0.1", "a number > 0"])


def test_inputs_shape_mismatch(tmp_path):
    inputs = [[1.0, 2.0], [3.0, 4.0]]  # batch_size 2 rows of sizes[0] = 3 needed
    path = write(tmp_path, tiny(data={"seed": 0, "batch_size": 2, "inputs": inputs}))
    spec_error(path, key="data.inputs", says=["shape mismatch", "2 rows of [2] values",
                                              "2 rows (batch_size*batches) of 3 values (model.sizes[0])"])


def test_invalid_toml(tmp_path):
    path = write(tmp_path, 'id = "x"\n[model\nsizes = [3, 4]\n')
    spec_error(path, key="", says=["not valid TOML", "line 2"])


def test_rtol_without_atol(tmp_path):
    path = write(tmp_path, tiny(tolerance={"rtol": 1e-6}))
    spec_error(path, key="tolerance", says=["together", "both rtol and atol"])


def test_divergence_without_references(tmp_path):
    entry = {"implementations": ["torch/optimizer"], "reason": "a known difference"}
    path = write(tmp_path, tiny(expect={"divergent": [entry]}))
    spec_error(path, key="expect.divergent[0].references", says=["missing required key", "list of string"])


def test_divergence_with_empty_references(tmp_path):
    entry = {"implementations": ["torch/optimizer"], "reason": "a known difference", "references": []}
    path = write(tmp_path, tiny(expect={"divergent": [entry]}))
    spec_error(path, key="expect.divergent[0].references", says=["is empty", "'framework/file.py:line' or URL"])


def test_override_pattern_matching_no_parameter(tmp_path):
    reg = {"l2": 0.1, "overrides": {"linear9.weight": {"l2": 0.0}}}
    path = write(tmp_path, tiny(regularization=reg))
    spec_error(path, key="regularization.overrides.linear9.weight",
               says=["'linear9.weight' matches no parameter",
                     "linear0.weight, linear0.bias, linear1.weight, linear1.bias"])


def test_parameters_pattern_matching_no_parameter(tmp_path):
    path = write(tmp_path, tiny(regularization={"l2": 0.1, "parameters": ["*.weight", "*.gamma"]}))
    spec_error(path, key="regularization.parameters[1]", says=["'*.gamma' matches no parameter", "linear1.bias"])


def test_routes_must_fit_the_kind(tmp_path):
    path = write(tmp_path, tiny(routes=["optimizer", "layer"]))
    spec_error(path, key="routes", says=["'layer' does not apply to a training case",
                                         "optimizer, per_parameter, loss_penalty"])


# ------------------------------------------------------------------------------------------ load_all

def test_one_broken_case_does_not_stop_the_others(tmp_path):
    broken = write(tmp_path, tiny(id="broken", optimizer={"name": "sgd", "lr": "fast"}), "a-broken.toml")
    good = write(tmp_path, tiny(id="good"), "b-good.toml")
    loaded = load_all([tmp_path])
    kinds = [type(item).__name__ for item in loaded]
    assert kinds == ["SpecError", "Case"], f"load_all gave {kinds} for [{broken.name}, {good.name}]"
    assert loaded[0].file == str(broken) and loaded[0].key == "optimizer.lr", str(loaded[0])
    assert loaded[1].id == "good" and loaded[1].path == str(good), loaded[1]


def test_duplicate_ids_name_both_files(tmp_path):
    first = write(tmp_path, tiny(id="same"), "first.toml")
    second = write(tmp_path, tiny(id="same"), "sub/second.toml")
    loaded = load_all([tmp_path])
    errors = [item for item in loaded if isinstance(item, SpecError)]
    cases = [item for item in loaded if isinstance(item, Case)]
    # Neither copy runs: which one is the real case cannot be known, and results under one id would mix them.
    assert len(errors) == 2 and not cases, f"expected two errors and no case, got {loaded}"
    for error, other in zip(errors, (second, first)):
        text = str(error)
        assert error.file != str(other) and str(other) in text, f"{other} should be named: {text!r}"
        assert error.key == "id" and "unique ids" in text, text


# ------------------------------------------------------------------------------------------ plan

def test_plan_rejects_unknown_divergent_implementation(tmp_path):
    entry = {"implementations": ["torch/adam"], "reason": "r", "references": ["torch/optim/adam.py:1"]}
    case = load(tmp_path, tiny(expect={"divergent": [entry]}))
    with pytest.raises(SpecError) as info:
        plan(case, ["paddle", "torch"])
    text = str(info.value)
    assert info.value.key == "expect.divergent[0].implementations", text
    assert case.path in text and "'torch/adam'" in text, text
    assert "paddle/optimizer" in info.value.accepted and "torch/optimizer" in info.value.accepted, text


def test_plan_marks_declared_divergence(tmp_path):
    entry = {"implementations": ["torch/optimizer"], "reason": "r", "references": ["torch/optim/sgd.py:1"]}
    case = load(tmp_path, tiny(expect={"divergent": [entry]}))
    expected = {(c.implementation, c.compared_with): c.expected for c in plan(case, ["paddle", "torch"])}
    assert expected[("torch/optimizer", "reference")] == "divergent", expected
    assert expected[("paddle/optimizer", "reference")] == "equal", expected


# ------------------------------------------------------------------------------------------ coefficients

def test_overrides_take_priority(tmp_path):
    reg = {"l2": 0.1, "overrides": {"linear0.bias": {"l2": 0.0}, "linear1.*": {"l1": 0.5}}}
    case = load(tmp_path, tiny(regularization=reg))
    got = case.coefficients()
    want = {"linear0.weight": Coefficients(l2=0.1), "linear0.bias": Coefficients(),
            "linear1.weight": Coefficients(l1=0.5), "linear1.bias": Coefficients(l1=0.5)}
    assert got == want, f"coefficients {got}"
    assert case.overridden() == ("linear0.bias", "linear1.weight", "linear1.bias"), case.overridden()
    ignored = case.coefficients(ignore_overrides=True)
    assert set(ignored.values()) == {Coefficients(l2=0.1)}, f"ignoring overrides gave {ignored}"


def test_parameters_restrict_regularization(tmp_path):
    case = load(tmp_path, tiny(regularization={"l1": 0.2, "l2": 0.1, "parameters": ["*.weight"]}))
    got = case.coefficients()
    assert got["linear0.weight"] == got["linear1.weight"] == Coefficients(l1=0.2, l2=0.1), got
    assert got["linear0.bias"] == got["linear1.bias"] == Coefficients(), got


def test_no_regularization_means_zero_coefficients(tmp_path):
    case = load(tmp_path, tiny())
    assert set(case.coefficients().values()) == {Coefficients()}, case.coefficients()
    no_bias = dataclasses.replace(case, model=dataclasses.replace(case.model, bias=False))
    assert no_bias.parameter_names() == ("linear0.weight", "linear1.weight"), no_bias.parameter_names()


def test_tiny_fixture_is_not_mutated():
    doc = tiny(optimizer={"name": "adam"})
    assert TINY["optimizer"]["name"] == "sgd" and doc is not TINY, TINY
