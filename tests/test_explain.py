"""Explanations of divergent results (equivalence/explain.py): the flavour registry, the search, the
runner's explanation of each divergent check, the declared kind, and the sentence in every output.

No framework runs: tests/fake_backends/float32_attributes.py keeps hyper-parameters in float32 (a precision
difference), tests/fake_backends/ema_momentum.py writes momentum as an EMA (a formula difference) and moves
the lr on its loss_penalty route (explained by no flavour)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from equivalence import explain, report
from equivalence.pytest_plugin import _failure_text
from equivalence.runner import SCHEMA_VERSION, Runner
from equivalence.spec import ReferenceFlavour

from .casefiles import load, tiny

pytestmark = pytest.mark.harness

BACKENDS = {"fake32": "tests.fake_backends.float32_attributes", "fakeema": "tests.fake_backends.ema_momentum"}


def momentum_case(tmp_path, **top):
    doc = tiny(dtype="float64", steps=3, optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.9},
               regularization={"l2": 0.1}, routes=["optimizer", "loss_penalty"], **top)
    return load(tmp_path, doc)


def run(case):
    with Runner(BACKENDS, in_process=True) as runner:
        return runner.run([case])


def by_id(results):
    return {r.test_id: r for r in results}


def test_registry_kinds_and_every_reference_flavour_covered():
    assert all(f.kind in explain.FLAVOUR_KINDS for f in explain.REGISTRY.values())
    fields = {f.name for f in dataclasses.fields(ReferenceFlavour)}
    assert fields <= set(explain.REGISTRY), f"[reference] flavours with no explanation entry: {fields - set(explain.REGISTRY)}"


def test_register_rejects_unknown_kind_and_duplicates():
    with pytest.raises(ValueError):
        explain.register("x-bad-kind", "semantics", "doc")
    with pytest.raises(ValueError):
        explain.register("attributes", "precision", "doc")(lambda case: {})


def test_runner_explains_each_divergence(tmp_path):
    case = momentum_case(tmp_path)
    results = by_id(run(case).results)
    precision = results["tiny[fake32/optimizer]"]
    assert precision.observed == "divergent", precision.message
    assert precision.explanation.kind == "precision", precision.explanation
    assert precision.explanation.flavours == ("attributes=float32",)
    assert "attributes=float32" in precision.explanation.text
    formula = results["tiny[fakeema/optimizer]"]
    assert (formula.explanation.kind, formula.explanation.flavours) == ("formula", ("momentum=ema",))
    unexplained = results["tiny[fakeema/loss_penalty]"]
    assert unexplained.observed == "divergent" and unexplained.explanation.kind == "unexplained"
    assert unexplained.explanation.flavours == ()
    direct = results["tiny[fakeema/optimizer-vs-fake32/optimizer]"]
    assert direct.explanation.kind == "formula"
    assert set(direct.explanation.flavours) == {"momentum=ema", "attributes=float32"}, direct.explanation
    sensitivity = results["tiny[perturbed/lr]"]
    assert sensitivity.explanation.kind == "formula" and sensitivity.explanation.flavours == ("perturbed/lr",)
    for r in results.values():
        assert (r.explanation is not None) == (r.observed == "divergent"), r.test_id


def test_direct_check_names_the_flavours_that_differ(tmp_path):
    """With the reference written in the float32 flavour, fake32 equals it, fakeema (which takes the case's
    flavours) differs by its momentum alone, and so does the direct check."""
    doc = tiny(dtype="float64", steps=3, optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.9},
               routes=["optimizer"], reference={"attributes": "float32"})
    results = by_id(run(load(tmp_path, doc)).results)
    assert results["tiny[fake32/optimizer]"].observed == "equal"
    ema = results["tiny[fakeema/optimizer]"].explanation
    assert (ema.kind, ema.flavours) == ("formula", ("momentum=ema",)), ema
    direct = results["tiny[fakeema/optimizer-vs-fake32/optimizer]"].explanation
    assert (direct.kind, direct.flavours) == ("formula", ("momentum=ema",)), direct
    assert "fake32/optimizer as written" in direct.text, direct.text


def _expecting(tmp_path, kind):
    divergences = [{"implementations": ["fake32/optimizer", "fakeema/optimizer"], "reason": "float32 mu",
                    "references": ["fake/kernel.h:1"], "kind": kind}]
    return momentum_case(tmp_path, expect={"divergent": divergences})


def test_declared_kind_is_checked(tmp_path):
    results = by_id(run(_expecting(tmp_path, "precision")).results)
    assert results["tiny[fake32/optimizer]"].status == "pass", results["tiny[fake32/optimizer]"].message
    wrong = results["tiny[fakeema/optimizer]"]
    assert wrong.status == "fail" and wrong.observed == "divergent"
    assert "expects a precision divergence, but it is formula" in wrong.message, wrong.message


def test_declared_kind_rejects_unknown_value(tmp_path):
    from equivalence.spec import SpecError
    with pytest.raises(SpecError, match="expect.divergent"):
        _expecting(tmp_path, "semantics")


def test_explanation_in_json_markdown_and_pytest_text(tmp_path):
    rep = run(momentum_case(tmp_path))
    doc = json.loads(json.dumps(report.to_json(rep)))
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    divergent = [r for r in doc["results"] if r["observed"] == "divergent"]
    assert divergent and all(r["explanation"]["kind"] in explain.KINDS and r["explanation"]["text"]
                             for r in divergent)
    assert all(r["explanation"] is None for r in doc["results"] if r["observed"] != "divergent")
    md = report.markdown(rep)
    assert "[precision] The reference reproduces fake32/optimizer with attributes=float32" in md
    failing = next(r for r in rep.results if r.test_id == "tiny[fakeema/optimizer]")
    assert "explanation (formula): The reference reproduces fakeema/optimizer with momentum=ema" in _failure_text(failing)


def test_search_prefers_precision_and_finds_pairs(tmp_path):
    case = momentum_case(tmp_path)
    # both a formula and a precision single reproduce: the precision one is the explanation
    found, _ = explain.find(case, lambda c: c.reference.momentum == "ema" or c.reference.attributes == "float32")
    assert found.labels == ("attributes=float32",) and found.kind == "precision"
    # only the pair reproduces
    found, tried = explain.find(case, lambda c: c.reference.momentum == "ema" and c.reference.attributes == "float32")
    assert set(found.labels) == {"momentum=ema", "attributes=float32"} and found.kind == "formula", found
    assert tried > len(explain._variants(case))
    found, _ = explain.find(case, lambda c: False)
    assert found is None
    found, tried = explain.find(case, lambda c: True)
    assert found.labels == () and tried == 1


def test_flavour_that_breaks_the_reference_reproduces_nothing(tmp_path):
    def boom(c):
        raise ValueError("cannot compute")
    found, _ = explain.find(momentum_case(tmp_path), boom)
    assert found is None


# Real cases whose flavours cover every registered flavour between them.
SAMPLE_CASES = ["cases/clipping/clip-then-decay.toml", "cases/clipping/clip-global-norm-above-float64.toml",
                "cases/normalization/batch-norm-float64-momentum-attribute.toml", "cases/ema/thres-steps-warmup.toml",
                "cases/loss_scaling/float32-inverse.toml",
                "cases/regularization/l2decay-vs-penalty-momentum-float64.toml",
                "cases/regularization/per-parameter-lr.toml", "cases/dropout/dropout-float64-p-attribute.toml",
                "cases/dropout/alpha-dropout-default-training.toml", "cases/textbook/momentum-as-ema.toml",
                "cases/textbook/adamw-as-adam-l2.toml", "cases/textbook/l2-penalty-as-norm.toml",
                "cases/optimizers/rmsprop/rmsprop-mapped-float64.toml",
                "cases/schedules/reduce-on-plateau-cooldown.toml", "cases/autocast/autocast-bfloat16-cpu.toml"]
# Exercises the initializer flavour; its divergences are distributions (init_z), which no flavour search reproduces.
COVERAGE_CASES = SAMPLE_CASES + ["cases/layers/framework-default-init-embedding.toml"]


def _reproduces(case):
    from equivalence.flavour_search import reproduces
    return reproduces(case, {})


@pytest.mark.parametrize("path", SAMPLE_CASES)
def test_each_flavour_is_found_back_with_its_kind(path):
    """An 'implementation' that is the reference under one flavour is explained by a flavour of that kind
    (the same one, or one the case cannot tell apart from it)."""
    from equivalence import reference
    from equivalence.spec import load_case
    case = load_case(path)
    compare_fn = _reproduces(case)
    variants = explain._variants(case)
    assert variants, f"no flavour applies to {path}"
    for flavour, label, flavoured in variants:
        actual = reference.run(flavoured)
        if compare_fn(actual, case):
            continue  # the flavour changes nothing this case records (e.g. a clip order with nothing to decay)
        found = explain.search(case, lambda: actual, compare_fn)
        assert found is not None and found.labels, f"{path}: {label} not found back"
        assert found.kind == flavour.kind, f"{path}: {label} ({flavour.kind}) explained as {found.labels} ({found.kind})"


def test_sample_cases_cover_every_flavour():
    from equivalence.spec import load_case
    covered = {f.name for path in COVERAGE_CASES for f, _, _ in explain._variants(load_case(path))}
    assert covered == set(explain.REGISTRY), f"flavours no sample case exercises: {set(explain.REGISTRY) - covered}"


def test_show_prints_the_explanation(tmp_path, capsys):
    from equivalence import cli
    from equivalence.backends import BACKENDS as LIVE
    momentum_case(tmp_path)  # writes tmp_path/case.toml
    saved = dict(LIVE)
    LIVE.clear()
    LIVE.update(BACKENDS)
    try:
        cli.main(["show", "tiny", "--cases", str(tmp_path), "--in-process"])
    finally:
        LIVE.clear()
        LIVE.update(saved)
    out = capsys.readouterr().out
    assert "explanation (precision): The reference reproduces fake32/optimizer with attributes=float32" in out, out
    assert "[formula] The reference reproduces fakeema/optimizer with momentum=ema" in out, out  # the table


def test_search_is_bounded(tmp_path):
    case = momentum_case(tmp_path)
    calls = []
    found, tried = explain.find(case, lambda c: calls.append(c) or False, max_runs=3)
    assert found is None and tried == 3 and len(calls) == 3


def test_narrow_interface_takes_the_trajectory_through_a_callable(tmp_path):
    """explain(case, actual_source, compare_fn): the trajectory is fetched once, through the callable (a
    streaming runner re-runs the worker there)."""
    from equivalence import reference
    case = momentum_case(tmp_path)
    flavoured = dataclasses.replace(case, reference=dataclasses.replace(case.reference, attributes="float32"))
    fetched = []

    def source():
        fetched.append(1)
        return reference.run(flavoured)
    result = explain.explain(case, source, _reproduces(case), name="paddle/optimizer")
    assert (result.kind, result.flavours) == ("precision", ("attributes=float32",)), result
    assert result.text.startswith("The reference reproduces paddle/optimizer with attributes=float32")
    assert fetched == [1]


def test_report_schema_knows_the_explanation(tmp_path):
    from equivalence import schemas
    from .test_schemas import errors
    assert schemas.REPORT_SCHEMA_VERSION == SCHEMA_VERSION
    doc = json.loads(json.dumps(report.to_json(run(momentum_case(tmp_path)))))
    assert any(r["explanation"] for r in doc["results"])
    assert not errors("report", doc), errors("report", doc)


@pytest.mark.parametrize("kept_bytes", [None, 0])
def test_explanation_reads_each_divergent_implementation_once(tmp_path, monkeypatch, kept_bytes):
    """The explanation asks once for each implementation that a divergent check names (fake32 equals the
    reference but diverges from fakeema, so the direct check needs it too; its direct and reference checks
    share one search). A run within streaming.KEPT_BYTES is read as the streams kept it; above (0 here), it
    runs again in its worker."""
    from equivalence import runner as runner_module
    from equivalence import streaming, workers
    if kept_bytes is not None:
        monkeypatch.setattr(streaming, "KEPT_BYTES", kept_bytes)
    asked, ran_again = [], []
    original = runner_module.Runner._rerun

    def counting(self, cr, name):
        asked.append(name)
        return original(self, cr, name)
    monkeypatch.setattr(runner_module.Runner, "_rerun", counting)
    for backend in (workers.WorkerBackend, workers.InProcessBackend):
        def run_again(self, case, route, _original=backend.run):
            ran_again.append(route)
            return _original(self, case, route)
        monkeypatch.setattr(backend, "run", run_again)
    doc = tiny(dtype="float64", steps=3, optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.9},
               routes=["optimizer"], reference={"attributes": "float32"})
    results = by_id(run(load(tmp_path, doc)).results)
    assert results["tiny[fake32/optimizer]"].observed == "equal"
    assert results["tiny[fakeema/optimizer]"].explanation.flavours == ("momentum=ema",)
    assert sorted(asked) == ["fake32/optimizer", "fakeema/optimizer"], asked
    assert ran_again == ([] if kept_bytes is None else ["optimizer", "optimizer"]), ran_again


def test_above_the_size_limit_a_divergence_is_not_searched(tmp_path, monkeypatch):
    from equivalence import runner as runner_module
    monkeypatch.setattr(runner_module, "EXPLAIN_ELEMENTS", 10)
    monkeypatch.setattr(runner_module.Runner, "_rerun", lambda *a: pytest.fail("re-ran a run above the limit"))
    results = by_id(run(momentum_case(tmp_path)).results)
    unsearched = results["tiny[fakeema/optimizer]"].explanation
    assert unsearched.kind == "unexplained" and unsearched.flavours == (), unsearched
    assert "Not searched at this size" in unsearched.text and "up to 10" in unsearched.text, unsearched.text
    sensitivity = results["tiny[perturbed/lr]"].explanation  # needs no trajectory: still explained
    assert sensitivity.kind == "formula", sensitivity


def test_a_flavour_search_computes_the_reference_only_until_the_runs_part(tmp_path):
    """flavour_search.equal_until_parted answers as compare(...).equal does (equal, parted at a step, a step more
    or less), but reads the flavoured reference only up to the checkpoint (1, 2, 4, ...) where it parts."""
    from equivalence import reference
    from equivalence.compare import compare
    from equivalence.record import Trajectory
    from equivalence.flavour_search import LazyRun, equal_until_parted
    case = load(tmp_path, tiny(dtype="float64", steps=12))
    want = reference.run(case)

    def moved(at: int) -> Trajectory:
        steps = [{q: {n: a + (1e-3 if t >= at and q == "param" else 0.0) for n, a in arrays.items()}
                  for q, arrays in step.items()} for t, step in enumerate(want.steps, start=1)]
        return Trajectory(initial=want.initial, steps=steps)

    for actual, equal, read in ((want, True, 13), (moved(3), False, 5), (moved(12), False, 13),
                                (Trajectory(want.initial, want.steps[:-1]), False, 13),
                                (Trajectory(want.initial, want.steps + want.steps[-1:]), False, 13)):
        lazy = LazyRun(reference.stream(case))
        assert equal_until_parted(case, actual, lazy) is equal is compare(actual, want, case).equal
        assert len(lazy.items) == read, (len(actual.steps), len(lazy.items))

    def failing():
        yield want.initial
        raise ValueError("this flavour cannot be computed here")
    broken = LazyRun(failing())
    assert broken.item(0) is want.initial
    for _ in range(2):  # the search of the next implementation reads the cached run: it fails the same way
        with pytest.raises(ValueError, match="cannot be computed"):
            broken.item(1)
