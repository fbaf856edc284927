"""Sweeps (equivalence/sweep.py): finding and shrinking a counter-example, the [sweep] table's errors, the
gradient-scale knob (loss_weight), the reports, the CLI's exit codes and the pytest item.

No framework runs: tests/fake_backends/lr_threshold.py equals the reference up to lr = 0.3 and is off by a
relative 1e-3 above it, so the edge of its "equal" regime is known exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from equivalence import cli, reference
from equivalence.backends import BACKENDS
from equivalence.runner import Runner
from equivalence.spec import SpecError
from equivalence.sweep import run_sweep
from equivalence.sweep_report import headline

from .casefiles import dumps, load, tiny, write

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.harness

THRESHOLD_BACKEND = "tests.fake_backends.lr_threshold"
THRESHOLD = 0.3
LOG_RANGE = {"low": 0.01, "high": 1.0, "scale": "log"}  # 1000 steps: one step is a factor 100**(1/1000)
STEP = 100 ** (1 / 1000)


def swept(ranges: dict, examples: int = 30, **top) -> dict:
    return tiny(**{"id": "tiny", **top}, sweep={"ranges": ranges, "examples": examples, "ci_examples": 8})


@pytest.fixture
def threshold_only():
    """The threshold backend as the only backend (for the CLI's and the plugin's own Runner); the dict is
    changed in place and restored, as tests/conftest.py's fake_only does."""
    saved = dict(BACKENDS)
    BACKENDS.clear()
    BACKENDS["fake"] = THRESHOLD_BACKEND
    try:
        yield THRESHOLD_BACKEND
    finally:
        BACKENDS.clear()
        BACKENDS.update(saved)


@pytest.fixture
def runner():
    with Runner(backends={"fake": THRESHOLD_BACKEND}, in_process=True) as r:
        yield r


# ------------------------------------------------------------------------------------ search and shrink

def test_divergence_above_a_threshold_is_found_and_shrunk_to_it(tmp_path, runner):
    case = load(tmp_path, swept({"optimizer.lr": LOG_RANGE}))
    outcome = run_sweep(case, runner)
    assert outcome.status == "counterexample", headline(outcome)
    lr = outcome.counterexample.values["optimizer.lr"]
    assert THRESHOLD < lr <= THRESHOLD * STEP * 1.001, f"shrunk to lr={lr}, not to the first grid step above 0.3"
    passing = outcome.nearest_passing()["optimizer.lr"]
    assert THRESHOLD / STEP * 0.999 <= passing <= THRESHOLD, f"nearest passing lr={passing}"
    failing = {r.test_id: r for r in outcome.counterexample.failing}
    assert set(failing) == {"tiny[fake/optimizer]"}, failing
    first = failing["tiny[fake/optimizer]"].first_divergence
    assert (first.step, first.quantity) == (1, "param"), first
    assert outcome.examples[0].values == {"optimizer.lr": 0.1} and outcome.examples[0].ok, \
        f"the first variant is not the case as written: {outcome.examples[0]}"
    assert f"optimizer.lr = {lr!r}; passes at optimizer.lr = {passing!r}" in headline(outcome), headline(outcome)


def test_keys_that_do_not_matter_shrink_back_to_the_case(tmp_path, runner):
    ranges = {"optimizer.lr": LOG_RANGE, "model.sizes[1]": {"low": 1, "high": 9, "integer": True},
              "loss_weight": {"low": 0.5, "high": 2.0, "scale": "log"}}
    case = load(tmp_path, swept(ranges, examples=40))
    outcome = run_sweep(case, runner)
    assert outcome.status == "counterexample", headline(outcome)
    ce = outcome.counterexample
    assert list(ce.changed(outcome.axes)) == ["optimizer.lr"], f"minimal counter-example {ce.values}"
    assert ce.values["model.sizes[1]"] == 4 and ce.values["loss_weight"] == 1.0, ce.values
    sizes = {e.values["model.sizes[1]"] for e in outcome.examples}
    assert len(sizes) > 2 and all(isinstance(s, int) and 1 <= s <= 9 for s in sizes), sizes


def test_no_counterexample_inside_the_equal_regime(tmp_path, runner):
    case = load(tmp_path, swept({"optimizer.lr": {"low": 0.01, "high": THRESHOLD, "scale": "log"}}, examples=15))
    outcome = run_sweep(case, runner)
    assert outcome.ok and outcome.status == "no-counterexample", headline(outcome)
    lrs = [e.values["optimizer.lr"] for e in outcome.examples]
    assert len(lrs) == len(set(lrs)) and 10 <= len(lrs) <= 15, f"ran {lrs}"
    assert all(0.01 <= lr <= THRESHOLD for lr in lrs), lrs
    assert all(float(f"{lr:.4g}") == lr for lr in lrs), f"values not rounded to 4 digits: {lrs}"
    assert max(lrs) / min(lrs) > 5, f"the draws do not spread over the range: {sorted(lrs)}"


def test_same_seed_same_draws_other_seed_other_draws(tmp_path, runner):
    case = load(tmp_path, swept({"optimizer.lr": {"low": 0.01, "high": THRESHOLD, "scale": "log"}}, examples=8))
    draws = [[e.values for e in run_sweep(case, runner, seed_value=s).examples] for s in (0, 0, 1)]
    assert draws[0] == draws[1], "seed 0 twice gave different draws"
    assert draws[0] != draws[2], "seeds 0 and 1 gave the same draws"


def test_the_case_itself_failing_is_the_minimal_counterexample(tmp_path, runner):
    case = load(tmp_path, swept({"optimizer.lr": LOG_RANGE}, optimizer={"name": "sgd", "lr": 0.5}))
    outcome = run_sweep(case, runner)
    assert outcome.status == "counterexample", headline(outcome)
    assert outcome.counterexample.values == {"optimizer.lr": 0.5}, outcome.counterexample.values
    assert "counter-example at the case as written" in headline(outcome), headline(outcome)


def test_time_budget_stops_after_the_first_variant(tmp_path, runner):
    case = load(tmp_path, swept({"optimizer.lr": {"low": 0.01, "high": THRESHOLD, "scale": "log"}}))
    outcome = run_sweep(case, runner, max_seconds=0.0)
    assert len(outcome.examples) == 1 and outcome.out_of_time, (len(outcome.examples), outcome.out_of_time)
    assert "stopped by the time budget" in headline(outcome), headline(outcome)


def test_worker_processes_serve_every_variant(tmp_path):
    """One Runner for the whole sweep: the same worker process runs every variant."""
    case = load(tmp_path, swept({"optimizer.lr": LOG_RANGE}, examples=6))
    pids = []
    with Runner(backends={"fake": THRESHOLD_BACKEND}, timeout=60) as workers:
        outcome = run_sweep(case, workers, progress=lambda e: pids.append(workers.backends["fake"]._proc.pid))
        restarts = workers.backends["fake"].restarts
    assert len(outcome.examples) > 6 and len(set(pids)) == 1, f"{len(outcome.examples)} variants, worker pids {pids}"
    assert restarts == 0, f"restarts={restarts}"


def test_a_missing_framework_is_reported_as_not_swept(tmp_path):
    case = load(tmp_path, swept({"optimizer.lr": {"low": 0.01, "high": THRESHOLD, "scale": "log"}}, examples=3))
    backends = {"fake": THRESHOLD_BACKEND, "ghost": "tests.fake_backends.unimportable"}
    with Runner(backends=backends, in_process=True) as both:
        outcome = run_sweep(case, both)
    assert outcome.ok, headline(outcome)
    assert any("ghost is not available" in m for m in outcome.unavailable), outcome.unavailable


# ----------------------------------------------------------------------------------------- spec errors

BAD_SWEEPS = [
    ({"ranges": {}}, "sweep.ranges", "is empty"),
    ({"ranges": {"optimizer..lr": {"low": 0.1, "high": 1.0}}}, "sweep.ranges.optimizer..lr", "not a dotted key"),
    ({"ranges": {"optimizer.lr": {"low": 1.0, "high": 0.1}}}, "sweep.ranges.optimizer.lr", "not below high"),
    ({"ranges": {"optimizer.lr": {"low": 0.0, "high": 1.0, "scale": "log"}}}, "sweep.ranges.optimizer.lr.low",
     "on a log scale"),
    ({"ranges": {"optimizer.lr": {"low": 0.1, "high": 1.0, "scale": "lg"}}}, "sweep.ranges.optimizer.lr.scale",
     "'lg' is not known"),
    ({"ranges": {"optimizer.lr": {"low": 0.1, "high": 1.0, "stride": 2}}}, "sweep.ranges.optimizer.lr.stride",
     "unknown key"),
    ({"ranges": {"optimizer.lr": {"low": 0.0, "high": 1.0}}}, "sweep.ranges.optimizer.lr",
     "low = 0.0 makes the case invalid (optimizer.lr: 0.0 is not a learning rate)"),
    ({"ranges": {"optimizer.lrr": {"low": 0.1, "high": 1.0}}}, "sweep.ranges.optimizer.lrr",
     "makes the case invalid (optimizer.lrr: unknown key"),
    ({"ranges": {"model.sizes[5]": {"low": 1, "high": 4, "integer": True}}}, "sweep.ranges.model.sizes[5]",
     "index [5] is outside a list of 3"),
    ({"ranges": {"data.batch_size": {"low": 1, "high": 4}}}, "sweep.ranges.data.batch_size",
     "data.batch_size: expected an integer, got float 1.0"),
    ({"ranges": {"data.batch_size": {"low": 1, "high": 4.5, "integer": True}}}, "sweep.ranges.data.batch_size",
     "is not whole"),
    ({"ranges": {"data.batch_size": {"low": 1, "high": 4, "integer": True, "scale": "log"}}},
     "sweep.ranges.data.batch_size.scale", "integer ranges are linear"),
    ({"ranges": {"optimizer.lr": {"low": 0.1, "high": 1.0, "steps": 0}}}, "sweep.ranges.optimizer.lr.steps", "0 < 1"),
    ({"ranges": {"optimizer.lr": {"low": 0.1, "high": 1.0}}, "examples": 0}, "sweep.examples", "0 < 1"),
    ({"examples": 3}, "sweep.ranges", "missing required key"),
]


@pytest.mark.parametrize("table, key, problem", BAD_SWEEPS, ids=[f"{k}:{p[:20]}" for _, k, p in BAD_SWEEPS])
def test_bad_sweep_table_is_a_spec_error_naming_key_and_accepted(tmp_path, table, key, problem):
    with pytest.raises(SpecError) as info:
        load(tmp_path, tiny(sweep=table))
    error = info.value
    assert error.key == key and problem in str(error), f"key={error.key!r}: {error}"
    assert error.file.endswith("case.toml"), error.file


@pytest.mark.parametrize("weight, problem", [(0.0, "is not a loss weight"), (-1.0, "is not a loss weight")])
def test_loss_weight_must_be_positive(tmp_path, weight, problem):
    with pytest.raises(SpecError, match=problem) as info:
        load(tmp_path, tiny(loss_weight=weight))
    assert info.value.key == "loss_weight" and info.value.accepted == "a number > 0", info.value


# --------------------------------------------------------------------------------- the gradient knob

def test_loss_weight_scales_the_data_gradient_and_not_the_penalty(tmp_path):
    doc = tiny(regularization={"l2": 0.1, "l1": 0.01}, optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.9})
    plain = reference.run(load(tmp_path, doc, "plain.toml"))
    scaled = reference.run(load(tmp_path, dict(doc, loss_weight=1e-3), "scaled.toml"))
    first, first_scaled = plain.steps[0], scaled.steps[0]
    assert np.isclose(first_scaled["loss"]["-"], 1e-3 * first["loss"]["-"], rtol=1e-14), "loss not weighted"
    for name, g in first["grad"].items():
        np.testing.assert_allclose(first_scaled["grad"][name], 1e-3 * g, rtol=1e-13, err_msg=name)
        penalty = first["grad_regularized"][name] - g  # same initial params: the same penalty gradient
        np.testing.assert_allclose(first_scaled["grad_regularized"][name] - first_scaled["grad"][name], penalty,
                                   rtol=1e-12, atol=1e-15, err_msg=f"{name}: the penalty was scaled too")


# ------------------------------------------------------------------------------------------- the CLI

def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_counterexample_exits_1_and_writes_both_reports(threshold_only, tmp_path, capsys):
    write(tmp_path / "cases", swept({"optimizer.lr": LOG_RANGE}), "tiny.toml")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "sweep", "tiny", "--cases", tmp_path / "cases", "--out", out,
                                   "--in-process")
    assert code == 1, f"exit {code}\n{stdout}\n{stderr}"
    assert sorted(p.name for p in out.iterdir()) == ["sweep-tiny.json", "sweep-tiny.md"], list(out.iterdir())
    doc = json.loads((out / "sweep-tiny.json").read_text(encoding="utf-8"))
    ce = doc["counterexample"]
    assert doc["status"] == "counterexample" and doc["case"] == "tiny", doc["status"]
    assert THRESHOLD < ce["changed"]["optimizer.lr"] <= THRESHOLD * STEP * 1.001, ce
    assert ce["failures"][0]["test_id"] == "tiny[fake/optimizer]", ce["failures"]
    assert ce["failures"][0]["first_divergence"]["quantity"] == "param", ce["failures"][0]
    assert doc["ranges"]["optimizer.lr"] == {"low": 0.01, "high": 1.0, "scale": "log", "integer": False,
                                             "steps": 1000, "base": 0.1}, doc["ranges"]
    assert doc["examples_run"] == len(doc["examples"]) and doc["examples_failed"] >= 1, doc["examples_run"]
    assert doc["settings"] == {"max_examples": 30, "seed": 0, "max_seconds": None}, doc["settings"]
    md = (out / "sweep-tiny.md").read_text(encoding="utf-8")
    assert f"optimizer.lr = {ce['values']['optimizer.lr']!r}" in md and "tiny[fake/optimizer]" in md, md
    assert "counter-example at optimizer.lr" in stdout and "tiny[fake/optimizer]: fail" in stdout, stdout


def test_cli_no_counterexample_exits_0(threshold_only, tmp_path, capsys):
    write(tmp_path / "cases", swept({"optimizer.lr": {"low": 0.01, "high": THRESHOLD, "scale": "log"}}), "tiny.toml")
    code, stdout, stderr = run_cli(capsys, "sweep", "--cases", tmp_path / "cases", "--out", tmp_path / "out",
                                   "--in-process", "--examples", "5")
    assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
    assert "tiny: no counter-example in 5 variants over optimizer.lr" in stdout, stdout
    assert json.loads((tmp_path / "out" / "sweep-tiny.json").read_text())["status"] == "no-counterexample"


@pytest.mark.parametrize("argv, message", [
    (["sweep", "nope"], "no case 'nope'; known: plain, tiny"),
    (["sweep", "plain"], "plain has no [sweep] table"),
    (["sweep", "broken"], "broken.toml: sweep.ranges.optimizer.lr: low 1 is not below high 0.1"),
    (["sweep", "tiny", "--examples", "0"], "--examples: 0 is not an integer in 1..10000"),
    (["sweep", "tiny", "--seed", "x"], "invalid int value"),
])
def test_cli_usage_errors_exit_2(threshold_only, tmp_path, capsys, argv, message):
    cases = tmp_path / "cases"
    write(cases, swept({"optimizer.lr": LOG_RANGE}), "tiny.toml")
    write(cases, tiny(id="plain"), "plain.toml")
    write(cases, tiny(id="broken", sweep={"ranges": {"optimizer.lr": {"low": 1.0, "high": 0.1}}}), "broken.toml")
    code, stdout, stderr = run_cli(capsys, *argv, "--cases", cases, "--out", tmp_path / "out")
    assert code == 2, f"exit {code}\n{stdout}\n{stderr}"
    assert message in stderr, stderr
    assert not (tmp_path / "out").exists(), "a usage error wrote reports"


def test_cli_without_any_sweep_table_exits_2(threshold_only, tmp_path, capsys):
    write(tmp_path / "cases", tiny(id="plain"), "plain.toml")
    code, stdout, stderr = run_cli(capsys, "sweep", "--cases", tmp_path / "cases")
    assert code == 2 and "has a [sweep] table" in stderr, f"exit {code}\n{stdout}\n{stderr}"


# ------------------------------------------------------------------------------------- the pytest item

PLUGIN_CONFTEST = 'pytest_plugins = ["equivalence.pytest_plugin"]\n'
PLUGIN_PYPROJECT = '[tool.pytest.ini_options]\nmarkers = ["fake: items of the fake backend"]\n'


@pytest.fixture
def project(pytester, threshold_only, monkeypatch):
    """Two swept cases, one inside the equal regime and one reaching past it; counts the Runners made."""
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyprojecttoml(PLUGIN_PYPROJECT)
    cases = {"inside.toml": swept({"optimizer.lr": {"low": 0.01, "high": THRESHOLD, "scale": "log"}},
                                  id="inside", tags=["alpha"]),
             "past.toml": swept({"optimizer.lr": LOG_RANGE}, id="past")}
    for name, doc in cases.items():
        write(pytester.path / "cases", dumps(doc), name)
    import equivalence.pytest_plugin as plugin
    made = []

    class CountingRunner(Runner):
        def __init__(self, *args, **kwargs):
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(plugin, "Runner", CountingRunner)
    pytester.runners_made = made
    return pytester


def run_pytest(pytester, *args):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers", "--equivalence-in-process",
                                        *args)


def test_sweep_items_are_collected_and_marked(project):
    result = run_pytest(project, "--collect-only", "-q", "-m", "sweep")
    collected = sorted(line for line in result.outlines if "::" in line)
    assert collected == ["cases/inside.toml::inside[sweep]", "cases/past.toml::past[sweep]"], result.outlines
    tagged = run_pytest(project, "--collect-only", "-q", "-m", "sweep and alpha")
    assert [l for l in tagged.outlines if "::" in l] == ["cases/inside.toml::inside[sweep]"], tagged.outlines


def test_sweep_item_is_skipped_when_a_framework_is_missing(project):
    BACKENDS["ghost"] = "tests.fake_backends.unimportable"  # restored by threshold_only
    result = run_pytest(project, "-rs", "-m", "sweep", "-k", "inside")
    result.assert_outcomes(skipped=1)
    line = next((l for l in result.outlines if l.startswith("SKIPPED")), "")
    assert "ghost is not available" in line, result.stdout.str()


def test_sweep_items_pass_and_fail_with_the_counterexample_on_one_runner(project):
    result = run_pytest(project, "-rA")
    result.assert_outcomes(passed=5, failed=1)  # per case: fake/optimizer, perturbed/lr, [sweep]; past fails
    text = result.stdout.str()
    assert "FAILED cases/past.toml::past[sweep]" in text, text
    assert "past: counter-example at optimizer.lr = 0.30" in text and "passes at optimizer.lr = " in text, text
    assert "past[fake/optimizer]: fail (expected equal, observed divergent)" in text, text
    assert "full sweep: python -m equivalence sweep past" in text, text
    assert len(project.runners_made) == 1, f"{len(project.runners_made)} Runners for one session"
