"""Hand-written tests of the CNN port through the Python API (equivalence.pair)."""

import pytest

from equivalence.pair import PairAssertionError, assert_equivalent, compare_pair

DATA = {"input_shape": [3, 8, 8], "batch_size": 8, "targets": "classes", "classes": 10}
RUNNING_VAR = {"quantities": {"running_var": {"rtol": 2.5e-3, "atol": 1e-6}}}  # see specs/cnn-port.toml


def test_correct_port_trains_alike():
    run = compare_pair(paddle="cnn.paddle_models:build", torch="cnn.torch_models:build", data=DATA,
                       loss="cross_entropy", optimizer={"name": "momentum", "lr": 0.05, "momentum": 0.9},
                       steps=3, tolerance=RUNNING_VAR)
    assert_equivalent(run)
    assert run.direct.equal and run.direct.compared > 10_000


def test_bn_momentum_copied_verbatim_is_localised_to_bn():
    run = compare_pair(paddle="cnn.paddle_models:build_bn_momentum_verbatim", torch="cnn.torch_models:build",
                       data=DATA, loss="cross_entropy", optimizer={"name": "sgd", "lr": 0.05}, steps=2)
    with pytest.raises(PairAssertionError, match="running_mean of bn"):
        assert_equivalent(run)
    assert run.layer.startswith("localised: layer 'bn'")
    assert "buffer update" in run.attribution


def test_dropout_disabled_compares_the_rest():
    run = compare_pair(paddle="cnn.paddle_models:build_with_dropout", torch="cnn.torch_models:build_with_dropout",
                       data=DATA, loss="cross_entropy", optimizer={"name": "sgd", "lr": 0.05}, steps=2,
                       dropout="disabled", tolerance=RUNNING_VAR)
    assert_equivalent(run)


def test_dropout_refused_by_default():
    run = compare_pair(paddle="cnn.paddle_models:build_with_dropout", torch="cnn.torch_models:build_with_dropout",
                       data=DATA, loss="cross_entropy", optimizer={"name": "sgd", "lr": 0.05}, steps=1)
    assert run.results[0].status == "error" and "pair.dropout" in run.results[0].message
