"""The pytest plugin, run on small case folders with pytester: item ids, -k / -m selection, the outcome
each result maps to (pass, xfail, fail, skip), malformed files and --junitxml.

Runs are in-process (``runpytest_inprocess``): the inner session gets a fresh config and plugin manager,
so the plugin, which the outer session also loads through the repository's conftest.py, is registered
once per session. The ``fake_only`` fixture (tests/conftest.py) makes the fake backend
(tests/fake_backends/crashy.py) the only backend for those runs; the one subprocess run patches the
backends in its own conftest instead.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .casefiles import dumps, tiny

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.harness

CRASHY = "tests.fake_backends.crashy"
REPO = Path(__file__).resolve().parents[1]

CONFTEST = 'pytest_plugins = ["equivalence.pytest_plugin"]\n'
# The backend's name is a marker, like paddle and torch in the project's pyproject.toml; case tags are not
# registered anywhere: the plugin registers them.
PYPROJECT = '[tool.pytest.ini_options]\nmarkers = ["fake: items of the fake backend"]\n'

# item name -> outcome for the folder written by `project`
ITEMS = {
    "my-case[fake/optimizer]": "passed",
    "my-case[fake/loss_penalty]": "skipped",
    "my-case[perturbed/lr]": "passed",
    "rounding-known[reference/float32]": "xfailed",
    "rounding-known[fake/optimizer]": "passed",
    "rounding-known[perturbed/lr]": "passed",
    "stale-case[fake/optimizer]": "failed",
    "stale-case[perturbed/lr]": "passed",
    "broken[spec]": "failed",
}
FILES = {"my-case": "cases/good.toml", "rounding-known": "cases/known/rounding.toml",
         "stale-case": "cases/stale.toml", "broken": "cases/broken.toml"}


def node_id(name: str) -> str:
    return f"{FILES[name.split('[')[0]]}::{name}"


def write_cases(root: Path) -> None:
    cases = {
        "good.toml": tiny(id="my-case", tags=["alpha"], routes=["optimizer", "loss_penalty"]),
        # float32 rounding cannot meet a float64-tight tolerance: an expected divergence that occurs.
        "known/rounding.toml": tiny(id="rounding-known", tags=["beta"], dtype="float32",
                                    tolerance={"rtol": 1e-13, "atol": 1e-15}, expect={"divergent": [
                                        {"implementations": ["reference/float32"], "reason": "float32 rounding",
                                         "references": ["numpy/float32:1"]}]}),
        # the fake backend equals the reference, so this declared divergence is stale
        "stale.toml": tiny(id="stale-case", tags=["beta"], expect={"divergent": [
            {"implementations": ["fake/optimizer"], "reason": "fake was said to differ",
             "references": ["fake.py:1"]}]}),
        "broken.toml": tiny(id="broken", model={"sizes": [3, 2], "bais": False}),
    }
    for name, doc in cases.items():
        path = root / "cases" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(doc), encoding="utf-8")




@pytest.fixture
def project(pytester, fake_only):
    pytester.makeconftest(CONFTEST)
    pytester.makepyprojecttoml(PYPROJECT)
    write_cases(pytester.path)
    return pytester


def run(pytester, *args):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers", *args)


def outcomes_by_name(result) -> dict[str, str]:
    """Item name -> outcome, from the `-rA` short summary and the verbose lines."""
    found = {}
    for line in result.outlines:
        for node, name in ((node_id(n), n) for n in ITEMS):
            if f"{node} " in line + " ":
                for word in ("PASSED", "FAILED", "SKIPPED", "XFAIL", "XPASS", "ERROR"):
                    if word in line.split():
                        found[name] = {"XFAIL": "xfailed", "XPASS": "xpassed"}.get(word, word.lower())
    return found


def test_collects_one_item_per_check_with_readable_ids(project):
    result = run(project, "--collect-only", "-q")
    collected = [line for line in result.outlines if "::" in line]
    assert sorted(collected) == sorted(node_id(n) for n in ITEMS), "\n".join(result.outlines)
    assert "cases/good.toml::my-case[fake/optimizer]" in collected, collected
    assert "cases/good.toml::my-case[perturbed/lr]" in collected, collected


def test_outcomes_of_a_full_run(project):
    result = run(project, "-v", "-rA")
    result.assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)
    got = outcomes_by_name(result)
    assert got == ITEMS, f"{got}\n" + "\n".join(result.outlines)


def test_expected_divergence_is_xfail_with_its_reason(project):
    result = run(project, "-rx", "-k", "rounding")
    result.assert_outcomes(passed=2, xfailed=1)
    text = result.stdout.str()
    line = next((l for l in result.outlines if l.startswith("XFAIL") and "reference/float32" in l), None)
    assert line is not None, text
    assert "expected divergence: float32 rounding [numpy/float32:1]" in line, line


def test_stale_expected_divergence_fails_saying_stale(project):
    result = run(project, "-k", "stale")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    assert "stale: the frameworks now agree, but the case expects a divergence (fake was said to differ)" in text, text
    assert "case file: " in text and "stale.toml" in text, text
    assert "FAILED cases/stale.toml::stale-case[fake/optimizer]" in text, text


def test_not_applicable_route_is_skipped_with_its_reason(project):
    result = run(project, "-rs", "-k", "loss_penalty")
    result.assert_outcomes(skipped=1)
    line = next((l for l in result.outlines if l.startswith("SKIPPED")), "")
    assert "not applicable: fake has no loss penalty (fake/penalty.py:1)" in line, result.stdout.str()


def test_keyword_selects_by_implementation(project):
    result = run(project, "-v", "-k", "optimizer")
    want = {n: o for n, o in ITEMS.items() if "optimizer" in n}
    assert len(want) == 3, want
    result.assert_outcomes(passed=2, failed=1, deselected=len(ITEMS) - len(want))
    got = outcomes_by_name(result)
    assert got == want, f"{got}\n" + result.stdout.str()


def test_marker_selects_by_case_tag_under_strict_markers(project):
    result = run(project, "-v", "-m", "alpha")
    result.assert_outcomes(passed=2, skipped=1, deselected=len(ITEMS) - 3)
    got = outcomes_by_name(result)
    assert set(got) == {n for n in ITEMS if n.startswith("my-case[")}, f"{got}\n" + result.stdout.str()
    assert "not found in `markers`" not in result.stdout.str() + result.stderr.str(), result.stdout.str()

    beta = run(project, "-v", "-m", "beta and not fake")
    assert set(outcomes_by_name(beta)) == {"rounding-known[reference/float32]", "rounding-known[perturbed/lr]",
                                          "stale-case[perturbed/lr]"}, beta.stdout.str()


def test_malformed_file_is_one_failed_spec_item_and_others_still_run(project):
    result = run(project, "-v", "cases/broken.toml", "cases/good.toml")
    result.assert_outcomes(passed=2, skipped=1, failed=1)
    text = result.stdout.str()
    assert outcomes_by_name(result) == {n: o for n, o in ITEMS.items() if n.startswith(("my-case", "broken"))}, text
    broken = str(project.path / "cases" / "broken.toml")
    assert f"{broken}: model.bais: unknown key" in text, text
    assert "FAILED cases/broken.toml::broken[spec]" in text, text


def test_junitxml_has_one_testcase_per_item(project):
    result = run(project, "--junitxml", "out/junit.xml")
    result.assert_outcomes(passed=5, skipped=1, xfailed=1, failed=2)
    suite = ET.parse(project.path / "out" / "junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert sorted(c.get("name") for c in cases) == sorted(ITEMS), [c.get("name") for c in cases]
    kinds = {c.get("name"): [child.tag for child in c if child.tag != "properties"] for c in cases}
    assert kinds["stale-case[fake/optimizer]"] == ["failure"], kinds
    assert kinds["broken[spec]"] == ["failure"], kinds
    assert kinds["my-case[fake/loss_penalty]"] == ["skipped"], kinds
    assert kinds["my-case[fake/optimizer]"] == [], kinds
    assert suite.get("tests") == str(len(ITEMS)) and suite.get("failures") == "2", suite.attrib


def test_plugin_in_a_fresh_interpreter(pytester, monkeypatch):
    """The plugin loaded only through a conftest, in a new process: the backends are patched there."""
    pytester.makeconftest(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})  # tests.fake_backends, for the spawned workers too\n"
        "from equivalence import backends\n"
        "backends.BACKENDS.clear()\n"
        f"backends.BACKENDS['fake'] = {CRASHY!r}\n" + CONFTEST)
    pytester.makepyprojecttoml(PYPROJECT)
    write_cases(pytester.path)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "-v", "-rA",
                                           "-k", "my-case or broken")
    result.assert_outcomes(passed=2, skipped=1, failed=1)
    got = outcomes_by_name(result)
    assert got == {n: o for n, o in ITEMS.items() if n.startswith(("my-case", "broken"))}, result.stdout.str()
