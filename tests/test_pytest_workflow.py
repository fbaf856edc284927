"""The pytest plugin in a developer's loop: ``--lf`` / ``--ff`` rerun the stored failures, skips point at the
case file, ``--junitxml`` times every item and records the case as ``<properties>``, check kinds and case
tags are markers that ``-m`` selects and ``pytest --markers`` lists. Runs on the small project of
test_pytest_plugin.py (fake backend, in-process)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from .test_pytest_plugin import ITEMS, node_id, outcomes_by_name, project, run  # noqa: F401  (project: fixture)

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.harness

FAILING = {"stale-case[fake/optimizer]", "broken[spec]"}


def run_cached(pytester, *args):
    """A run with pytest's cache (``run`` turns it off), as ``--lf`` needs."""
    return pytester.runpytest_inprocess("--strict-markers", *args)


def test_last_failed_reruns_only_the_failures(project):
    first = run_cached(project)
    first.assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)

    again = run_cached(project, "--lf", "-v", "--equivalence-report", "reports")
    again.assert_outcomes(failed=2)
    assert set(outcomes_by_name(again)) == FAILING, again.stdout.str()
    assert "run-last-failure: rerun previous 2 failures" in again.stdout.str(), again.stdout.str()
    # Only the failing checks ran: the report holds nothing of the cases without a stored failure.
    doc = json.loads((project.path / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert sorted((r["case"], r["implementation"]) for r in doc["results"]) == \
           [("broken", "spec"), ("stale-case", "fake/optimizer")], doc["results"]


def test_failed_first_runs_the_failures_before_the_rest(project):
    run_cached(project).assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)
    again = run_cached(project, "--ff", "-v")
    again.assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)
    order = [name for line in again.outlines for name in ITEMS if line.startswith(f"{node_id(name)} ")]
    assert len(order) == len(ITEMS) and set(order[:2]) == FAILING, order


def test_skip_points_at_the_case_file(project):
    result = run(project, "-rs", "-k", "loss_penalty")
    result.assert_outcomes(skipped=1)
    line = next((l for l in result.outlines if l.startswith("SKIPPED")), "")
    # tests/casefiles.py writes the id on the file's first line
    assert line.startswith("SKIPPED [1] cases/good.toml:1: not applicable: fake has no loss penalty"), line


def test_junitxml_times_each_item_and_records_the_case(project):
    result = run(project, "--junitxml", "out/junit.xml")
    result.assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)
    cases = ET.parse(project.path / "out" / "junit.xml").getroot().find("testsuite").findall("testcase")
    times = {c.get("name"): float(c.get("time")) for c in cases}
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}

    # Each check of a case carries a share of the case's run, not the first one all of it and the others
    # 0.000. Equal shares are checked on the case that started the worker (hundreds of ms, a third each),
    # where a loaded machine's pauses of some ms cannot blur them.
    shares = {case: [t for name, t in times.items() if name.startswith(f"{case}[")]
              for case in ("my-case", "rounding-known", "stale-case")}
    for case, own in shares.items():
        assert len(own) >= 2 and min(own) >= 0.001, (case, own)
    longest = max(("my-case", "rounding-known"), key=lambda case: sum(shares[case]))
    assert max(shares[longest]) <= 0.6 * sum(shares[longest]), shares

    assert props["rounding-known[reference/float32]"] == {
        "case": "rounding-known", "case_kind": "training", "tags": "beta", "check_kind": "rounding",
        "expected": "divergent", "observed": "divergent",
        "first_divergence": props["rounding-known[reference/float32]"].get("first_divergence")}
    assert props["rounding-known[reference/float32]"]["first_divergence"].startswith("step 1, "), props
    good = props["my-case[fake/optimizer]"]
    assert (good["tags"], good["check_kind"], good["observed"]) == ("alpha", "equivalence", "equal"), good
    assert "first_divergence" not in good, good
    assert props["my-case[fake/loss_penalty]"]["observed"] == "not-applicable", props
    assert props["broken[spec]"] == {}, props  # a file that did not load has no case to describe


@pytest.mark.parametrize("expression, selected", [
    ("sensitivity", {"my-case[perturbed/lr]", "rounding-known[perturbed/lr]", "stale-case[perturbed/lr]"}),
    ("rounding", {"rounding-known[reference/float32]"}),
    ("equivalence and beta", {"rounding-known[fake/optimizer]", "stale-case[fake/optimizer]"}),
    ("alpha and not sensitivity", {"my-case[fake/optimizer]", "my-case[fake/loss_penalty]"}),
])
def test_check_kinds_select_with_m_under_strict_markers(project, expression, selected):
    result = run(project, "-v", "-m", expression)
    assert set(outcomes_by_name(result)) == selected, result.stdout.str()
    result.assert_outcomes(**{"deselected": len(ITEMS) - len(selected)},
                           **_counts({n: ITEMS[n] for n in selected}))


def _counts(outcomes: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def test_markers_lists_case_tags_and_check_kinds(project):
    result = run(project, "--markers")
    assert result.ret == 0
    text = result.stdout.str()
    for line in ("@pytest.mark.alpha: case tag of 1 case (my-case)",
                 "@pytest.mark.beta: case tag of 2 cases (rounding-known, stale-case)",
                 "@pytest.mark.sensitivity: check kind:", "@pytest.mark.rounding: check kind:",
                 "@pytest.mark.direct: check kind:", "@pytest.mark.equivalence: check kind:"):
        assert line in text, text
    assert text.count("@pytest.mark.fake:") == 1, text  # declared in pyproject; not registered twice
