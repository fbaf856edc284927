"""Model pairs through the real frameworks: the examples from a folder outside the checkout with only the
package installed, and bad input becoming one error result per case while the other cases run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from equivalence.runner import Runner, load_all

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package installed (wheel built from this checkout, entry points included) into a folder of its own,
    the way pip installs it into a user's project, without touching the shared environment."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(ROOT)], check=True, cwd=tmp_path_factory.getbasetemp(),
                   capture_output=True)
    return site


def _user_env(site: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(site)
    return env


def test_examples_pass_outside_the_checkout(installed, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples", project, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--equivalence-report",
                           "out"], cwd=project, env=_user_env(installed), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "17 passed, 3 xfailed" in done.stdout, done.stdout[-3000:]
    results = {(r["case"], r["implementation"]): r for r in json.loads((project / "out/latest.json").read_text())["results"]}
    bn = results[("cnn-bn-momentum-verbatim", "paddle/pair")]["message"]
    assert "localised: layer 'bn' updates its running_mean differently at step 1" in bn
    fc2 = results[("cnn-linear-untransposed", "paddle/pair")]["message"]
    assert "step 0, param of fc2.weight" in fc2 and "localised: layer 'fc2'" in fc2
    eps = results[("cnn-adagrad-default-epsilon", "paddle/pair")]["message"]
    assert "attribution: optimizer settings (step 1, hyper.epsilon)" in eps and "paddle 1e-06, torch 1e-10" in eps
    port = results[("cnn-port", "paddle/pair")]
    assert port["observed"] == "equal" and port["compared_elements"] > 50_000

    cli = subprocess.run([sys.executable, "-m", "equivalence", "run", "--cases", "specs/cnn-port.toml", "--out",
                          "cli-out"], cwd=project, env=_user_env(installed), capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0 and "4 pass, 0 fail, 0 error" in cli.stdout, cli.stdout + cli.stderr[-2000:]


BAD = {
    "good": ("tests.pair_fixtures.badmodels:paddle_mlp", "tests.pair_fixtures.badmodels:torch_mlp", "[4]"),
    "good-from-paddle": ("tests.pair_fixtures.badmodels:paddle_mlp", "tests.pair_fixtures.badmodels:torch_mlp",
                         "[4]"),
    "not-importable": ("tests.pair_fixtures.nosuch:build", "tests.pair_fixtures.badmodels:torch_mlp", "[4]"),
    "raises": ("tests.pair_fixtures.badmodels:paddle_raises", "tests.pair_fixtures.badmodels:torch_mlp", "[4]"),
    "wrong-framework": ("tests.pair_fixtures.badmodels:torch_instead_of_paddle",
                        "tests.pair_fixtures.badmodels:torch_mlp", "[4]"),
    "counts": ("tests.pair_fixtures.badmodels:paddle_mlp_without_bias", "tests.pair_fixtures.badmodels:torch_mlp",
               "[4]"),
    "nan": ("tests.pair_fixtures.badmodels:paddle_nan", "tests.pair_fixtures.badmodels:torch_nan", "[4]"),
    "shape": ("tests.pair_fixtures.badmodels:paddle_mlp", "tests.pair_fixtures.badmodels:torch_mlp", "[5]"),
    "ambiguous": ("tests.pair_fixtures.badmodels:paddle_two_same_shapes",
                  "tests.pair_fixtures.badmodels:torch_two_same_shapes", "[4]"),
}

EXPECTED = {
    "not-importable": ("pair.paddle", "cannot import 'tests.pair_fixtures.nosuch'"),
    "raises": ("pair.paddle", "raised RuntimeError: the checkpoint file is missing"),
    "wrong-framework": ("pair.paddle", "torch.nn.modules.container.Sequential, not a paddle.nn.Layer"),
    "counts": ("pair.map", "unmatched entries: paddle (none); torch 0.bias [3]"),
    "nan": ("pair.paddle", "the model's loss is nan at step 1 (4 non-finite values in its output)"),
    "shape": ("pair.data", "cannot take inputs of shape [2, 5]"),
    "ambiguous": ("pair.map", "ambiguous shape match for paddle left.weight [4, 4]"),
}


def test_bad_input_is_one_error_per_case_and_the_rest_runs(tmp_path):
    for name, (paddle, torch, shape) in BAD.items():
        weights = "paddle" if name == "good-from-paddle" else "torch"
        extra = ('[pair.map]\n"0.weight" = "0.weight"\n[clip]\nkind = "global_norm"\nmax_norm = 0.01\n'
                 'active = "every_step"\n') if name == "good-from-paddle" else ""
        (tmp_path / f"{name}.toml").write_text(f'''id = "bad-{name}"
description = "bad input: {name}"
loss = "mse"
steps = 2
[pair]
paddle = "{paddle}"
torch = "{torch}"
weights_from = "{weights}"
[pair.data]
batch_size = 2
input_shape = {shape}
targets = "normal"
[optimizer]
name = "adam"
lr = 0.01
{extra}''')
    with Runner() as runner:
        report = runner.run(load_all([tmp_path]))
    by_case = {}
    for r in report.results:
        by_case.setdefault(r.case, []).append(r)
    assert [r.status for r in by_case["bad-good"]] == ["pass"] * 4
    assert [r.status for r in by_case["bad-good-from-paddle"]] == ["pass"] * 4, by_case["bad-good-from-paddle"]
    for name, (key, cause) in EXPECTED.items():
        direct = by_case[f"bad-{name}"][0]
        assert direct.status == "error", (name, direct.message)
        assert direct.message.startswith(f"bad-{name}: ") and key in direct.message and cause in direct.message, \
            (name, direct.message)
        assert all(r.status == "skipped" and "not run" in r.message for r in by_case[f"bad-{name}"][1:])
