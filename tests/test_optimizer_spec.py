"""The [optimizer] table: hyper-parameters under neutral names, accepted per optimizer by the registry."""

from __future__ import annotations

import pytest

from equivalence.plan import perturb, perturbations
from equivalence.reference.optimizers import REGISTRY, resolve

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def test_hyper_parameters_are_flat_keys(tmp_path):
    case = load(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "beta2": 0.99, "amsgrad": True}))
    assert case.optimizer.hyper == {"beta2": 0.99, "amsgrad": True}, case.optimizer
    assert isinstance(case.optimizer.hyper["beta2"], float) and case.optimizer.hyper["amsgrad"] is True


def test_integer_written_for_a_number_is_a_float(tmp_path):
    case = load(tmp_path, tiny(optimizer={"name": "adamw", "lr": 0.01, "weight_decay": 0}))
    assert case.optimizer.hyper == {"weight_decay": 0.0} and isinstance(case.optimizer.hyper["weight_decay"], float)


def test_hyper_parameter_of_another_optimizer(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "momentum": 0.9}))
    spec_error(path, key="optimizer.momentum",
               says=["adam has no hyper-parameter 'momentum'", "accepted: name, lr, beta1, beta2, epsilon, amsgrad"])


def test_misspelt_hyper_parameter_gets_a_suggestion(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "epsilom": 1e-7}))
    spec_error(path, key="optimizer.epsilom", says=["unknown key", "did you mean 'epsilon'"])


def test_weight_decay_on_adam_points_to_l2_and_adamw(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "weight_decay": 0.01}))
    spec_error(path, key="optimizer.weight_decay",
               says=["adam has no hyper-parameter 'weight_decay'", "Torch Adam(weight_decay=c)",
                     "[regularization] l2 = c", "name = 'adamw'"])


def test_key_of_another_optimizer_is_not_suggested_as_itself(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "sgd", "lr": 0.01, "beta1": 0.9}))
    error = spec_error(path, key="optimizer.beta1", says=["sgd has no hyper-parameter 'beta1'",
                                                          "'beta1' is a hyper-parameter of adam", "not of sgd"])
    assert "did you mean" not in str(error), error


def test_torch_spelling_is_not_a_neutral_name(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "eps": 1e-7}))
    spec_error(path, key="optimizer.eps", says=["adam has no hyper-parameter 'eps'", "epsilon"])


def test_hyper_parameter_of_wrong_type(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "beta1": "0.9"}))
    spec_error(path, key="optimizer.beta1", says=["expected a number", "'0.9'"])
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "amsgrad": 1}))
    spec_error(path, key="optimizer.amsgrad", says=["expected a boolean"])


def test_hyper_parameter_out_of_range(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adam", "lr": 0.01, "beta1": 1.0}))
    spec_error(path, key="optimizer.beta1", says=["1.0 is out of range", "0 <= beta1 < 1"])


def test_momentum_keeps_its_range_check(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "momentum", "lr": 0.1, "momentum": 1.5}))
    spec_error(path, key="optimizer.momentum", says=["1.5 is out of range", "0 <= momentum < 1"])


def test_left_out_default_that_differs_needs_a_flavour(tmp_path):
    """Paddle Momentum defaults momentum to 0.9, Torch SGD to 0: the reference must be told whose."""
    path = write(tmp_path, tiny(optimizer={"name": "momentum", "lr": 0.1}))
    spec_error(path, key="reference.follows",
               says=["optimizer.momentum is left to each framework's default", "paddle 0.9, torch 0.0",
                     "accepted: paddle, torch"])
    case = load(tmp_path, tiny(optimizer={"name": "momentum", "lr": 0.1}, reference={"follows": "paddle"}))
    assert resolve(case)["momentum"] == 0.9, resolve(case)
    case = load(tmp_path, tiny(optimizer={"name": "momentum", "lr": 0.1}, reference={"follows": "torch"}))
    assert resolve(case)["momentum"] == 0.0, resolve(case)


def test_left_out_lr_takes_the_default(tmp_path):
    case = load(tmp_path, tiny(optimizer={"name": "adam"}))
    assert case.optimizer.lr is None and resolve(case)["lr"] == 0.001, (case.optimizer, resolve(case))
    lr = perturb(case, "lr").optimizer.lr
    assert abs(lr - 0.001 * 1.001) < 1e-15, f"the lr perturbation must scale the default: {lr}"


def test_per_parameter_patterns_must_match(tmp_path):
    path = write(tmp_path, tiny(optimizer={"name": "adamw", "lr": 0.01, "decay_exclude": ["*.gamma"]}))
    spec_error(path, key="optimizer.decay_exclude", says=["'*.gamma' matches no parameter", "linear0.weight"])
    path = write(tmp_path, tiny(optimizer={"name": "adamw", "lr": 0.01, "lr_ratio": {"*.bias": 0.0}}))
    spec_error(path, key="optimizer.lr_ratio.*.bias", says=["0.0 is not a learning-rate ratio", "> 0"])


def test_per_parameter_settings_add_their_perturbations(tmp_path):
    case = load(tmp_path, tiny(optimizer={"name": "adamw", "lr": 0.01, "decay_exclude": ["*.bias"],
                                          "lr_ratio": {"linear1.*": 2.0}}))
    assert perturbations(case) == ["lr", "decay-exclude-ignored", "lr-ratio-ignored"], perturbations(case)
    assert "decay_exclude" not in perturb(case, "decay-exclude-ignored").optimizer.hyper
    assert "lr_ratio" not in perturb(case, "lr-ratio-ignored").optimizer.hyper


def test_every_default_cites_its_source():
    """Each framework's side of every hyper-parameter names the file and line its default comes from."""
    for info in REGISTRY.values():
        for key, hyper in info.hypers.items():
            for framework in ("paddle", "torch"):
                arg = hyper.side(framework)
                cls = getattr(info, framework)
                if arg.name is None or cls is None:
                    continue
                assert arg.source.startswith(f"{framework}/") and ":" in arg.source, \
                    f"{info.name}.{key} ({framework}) has no source line: {arg.source!r}"


def _installed(framework: str):
    """The installed framework's package folder, found without importing it (None if not installed)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(framework)
    return None if spec is None or spec.origin is None else Path(spec.origin).parent.parent


@pytest.mark.parametrize("framework", ["paddle", "torch"])
def test_cited_default_lines_hold_the_argument(framework):
    """A default's source line names the argument and its value in the installed framework's source, so a
    registry default cannot drift from the code it cites."""
    root = _installed(framework)
    if root is None:
        pytest.skip(f"{framework} is not installed")
    checked = 0
    for info in REGISTRY.values():
        for key, hyper in info.hypers.items():
            arg = hyper.side(framework)
            if arg.name is None or "[]" in arg.name or not arg.source.endswith(tuple("0123456789")):
                continue
            file, line = arg.source.rsplit(":", 1)
            text = (root / file).read_text(encoding="utf-8").splitlines()[int(line) - 1]
            name = arg.name.split("[")[0]
            assert name in text, f"{info.name}.{key}: {arg.source} is {text.strip()!r}, without {name!r}"
            checked += 1
    assert checked > 10, checked


def test_optimizer_computed_differently_needs_a_flavour(tmp_path):
    """RMSProp's epsilon sits inside the root in Paddle, outside in Torch: the case must pick one."""
    path = write(tmp_path, tiny(optimizer={"name": "rmsprop", "lr": 0.01, "rho": 0.9, "epsilon": 1e-6}))
    spec_error(path, key="reference.follows", says=["rmsprop: Paddle and Torch compute different updates",
                                                    "epsilon inside the square root", "paddle, torch"])


def test_follows_a_framework_without_a_default(tmp_path):
    """Paddle's RMSProp has no default learning rate: a reference following Paddle cannot leave it out."""
    path = write(tmp_path, tiny(optimizer={"name": "rmsprop", "rho": 0.9, "epsilon": 1e-6},
                                reference={"follows": "paddle"}))
    spec_error(path, key="optimizer.lr", says=["paddle has no default for it", "paddle/optimizer/rmsprop.py:179"])


def test_constructor_arguments_pass_only_what_the_case_sets(tmp_path):
    """What a case leaves out is not passed (the framework's default applies); a tuple argument is passed
    whole with the framework's own defaults for the elements the case leaves out."""
    from equivalence.backends.common import NotApplicable, optimizer_kwargs

    case = load(tmp_path, tiny(optimizer={"name": "adam", "beta2": 0.99}))
    assert optimizer_kwargs(case, "paddle") == {"beta2": 0.99}, optimizer_kwargs(case, "paddle")
    assert optimizer_kwargs(case, "torch") == {"betas": (0.9, 0.99)}, optimizer_kwargs(case, "torch")
    case = load(tmp_path, tiny(optimizer={"name": "rprop", "lr": 0.01, "step_min": 1e-6},
                               reference={"follows": "torch"}))
    assert optimizer_kwargs(case, "paddle") == {"learning_rate": 0.01, "learning_rate_range": (1e-6, 50.0)}
    case = load(tmp_path, tiny(optimizer={"name": "asgd", "lr": 0.1, "batch_num": 3},
                               reference={"follows": "paddle"}))
    with pytest.raises(NotApplicable, match=r"torch.optim.ASGD has no counterpart of batch_num = 3"):
        optimizer_kwargs(case, "torch")
    case = load(tmp_path, tiny(optimizer={"name": "asgd", "lr": 0.1, "lambd": 0.0}, reference={"follows": "torch"}))
    assert optimizer_kwargs(case, "paddle") == {"learning_rate": 0.1}, "lambd = 0 is what Paddle's ASGD does"
