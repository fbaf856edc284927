"""``pytest -n 2`` (pytest-xdist) over case files: every case runs once, in the worker that got its items,
with the same outcomes as a serial run, and ``--equivalence-report`` / ``--junitxml`` cover every item.
A subprocess run (xdist's workers are processes) on the small project of test_pytest_plugin.py, whose
conftest logs each case the plugin hands to a Runner, with the pid of the xdist worker that ran it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from .test_pytest_plugin import CONFTEST, CRASHY, ITEMS, PYPROJECT, REPO, outcomes_by_name, write_cases

pytest.importorskip("xdist")  # in the test extras (pyproject.toml)
pytest_plugins = ["pytester"]
pytestmark = pytest.mark.harness

LOGGING_CONFTEST = (
    "import os, sys\n"
    f"sys.path.insert(0, {str(REPO)!r})  # tests.fake_backends, for the spawned workers too\n"
    "from equivalence import backends, runner\n"
    "backends.BACKENDS.clear()\n"
    f"backends.BACKENDS['fake'] = {CRASHY!r}\n"
    "_run = runner.Runner.run\n"
    "def _logged(self, items):\n"
    "    with open(os.path.join(os.path.dirname(__file__), 'runs.log'), 'a') as log:\n"
    "        log.writelines(f'{os.getpid()} {getattr(c, \"id\", \"-\")}\\n' for c in items)\n"
    "    return _run(self, items)\n"
    "runner.Runner.run = _logged\n" + CONFTEST)

# The one skipped item is a route the fake backend cannot express: reported not-applicable, a skip in pytest.
STATUS = {"passed": "pass", "xfailed": "pass", "skipped": "not-applicable", "failed": "fail"}


def test_two_workers_run_each_case_once(pytester, monkeypatch):
    pytester.makeconftest(LOGGING_CONFTEST)
    pytester.makepyprojecttoml(PYPROJECT)
    write_cases(pytester.path)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "-n", "2", "-v", "-rA",
                                           "--junitxml", "junit.xml", "--equivalence-report", "reports")
    result.assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)
    assert outcomes_by_name(result) == ITEMS, result.stdout.str()

    runs = [line.split() for line in (pytester.path / "runs.log").read_text().splitlines()]
    ran = Counter(case for _, case in runs if case != "-")
    assert ran == {"my-case": 1, "rounding-known": 1, "stale-case": 1}, runs
    assert len({pid for pid, case in runs if case != "-"}) == 2, runs  # both workers had cases to run

    # One report of every item, merged by the controller from both workers.
    doc = json.loads((pytester.path / "reports" / "latest.json").read_text(encoding="utf-8"))
    got = {f"{r['case']}[spec]" if r["kind"] == "spec" else f"{r['case']}[{r['implementation']}]": r["status"]
           for r in doc["results"]}
    assert got == {n: "error" if n == "broken[spec]" else STATUS[o] for n, o in ITEMS.items()}, got
    assert doc["environment"]["fake"] == "0.0.1", doc["environment"]

    cases = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite").findall("testcase")
    assert sorted(c.get("name") for c in cases) == sorted(ITEMS)
    checks = [c for c in cases if c.get("name") != "broken[spec]"]
    assert all(any(p.get("name") == "check_kind" for p in c.iter("property")) for c in checks), \
        [ET.tostring(c)[:200] for c in checks]
