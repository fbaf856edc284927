"""``pytest --equivalence-report DIR``: the reports of ``python -m equivalence run`` from a pytest run, for the
selected items, next to ``--junitxml``. Runs on the small project of test_pytest_plugin.py (fake backend)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from .test_pytest_plugin import ITEMS, project, run  # noqa: F401  (project is a fixture)

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.harness

# pytest outcome -> status in latest.json (a malformed file is an error there, a failed item in pytest)
STATUS = {"passed": "pass", "xfailed": "pass", "skipped": "skipped", "failed": "fail"}


def test_junitxml_and_reports_from_one_run(project):
    result = run(project, "--junitxml", "out/junit.xml", "--equivalence-report", "out/reports")
    result.assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)
    suite = ET.parse(project.path / "out" / "junit.xml").getroot().find("testsuite")
    assert sorted(c.get("name") for c in suite.findall("testcase")) == sorted(ITEMS)

    folder = project.path / "out" / "reports"
    assert sorted(p.name for p in folder.iterdir()) == ["latest.html", "latest.json", "latest.md"]
    doc = json.loads((folder / "latest.json").read_text(encoding="utf-8"))
    got = {f"{r['case']}[spec]" if r["kind"] == "spec" else
           f"{r['case']}[{r['implementation']}]": r["status"] for r in doc["results"]}
    want = {name: "error" if name == "broken[spec]" else STATUS[outcome] for name, outcome in ITEMS.items()}
    want["my-case[fake/loss_penalty]"] = "not-applicable"  # a skip in pytest, its own status in the report
    assert got == want, got
    assert doc["summary"] == {"pass": 6, "fail": 1, "error": 1, "skipped": 0, "not-applicable": 1}, doc["summary"]
    assert doc["environment"]["fake"] == "0.0.1", doc["environment"]

    md = (folder / "latest.md").read_text(encoding="utf-8")
    assert md.splitlines()[2] == "6 pass, 1 fail, 1 error, 0 skipped, 1 not-applicable.", md[:300]
    assert "## Stale expectations" in md and "stale-case[fake/optimizer]" in md, md
    page = (folder / "latest.html").read_text(encoding="utf-8")
    for case in ("my-case", "rounding-known", "stale-case", "broken"):
        assert f'data-case="{case}"' in page, case
    assert "<svg" in page
    summary = [line for line in result.outlines if line.startswith("equivalence reports")]
    assert summary and str(folder / "latest.html") in summary[0], result.outlines[-5:]


def test_reports_hold_only_the_selected_items(project):
    result = run(project, "-k", "my-case and optimizer", "--equivalence-report", "reports")
    result.assert_outcomes(passed=1, deselected=len(ITEMS) - 1)
    doc = json.loads((project.path / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert [(r["case"], r["implementation"], r["status"]) for r in doc["results"]] == \
           [("my-case", "fake/optimizer", "pass")], doc["results"]


def test_a_malformed_file_alone_still_gets_its_report(project):
    result = run(project, "cases/broken.toml", "--equivalence-report", "reports")
    result.assert_outcomes(failed=1)
    doc = json.loads((project.path / "reports" / "latest.json").read_text(encoding="utf-8"))
    (only,) = doc["results"]
    assert (only["case"], only["kind"], only["status"]) == ("broken", "spec", "error"), only
    assert "model.bais: unknown key" in only["message"], only
    assert doc["environment"]["fake"] == "not started", doc["environment"]  # no framework ran for it


def test_no_case_selected_writes_nothing_and_says_so(project):
    result = run(project, "-k", "no-such-item", "--equivalence-report", "reports")
    assert not (project.path / "reports").exists()
    assert any("no case was selected; no reports written to reports" in line for line in result.outlines), \
        result.outlines[-5:]
