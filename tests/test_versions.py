"""Version ranges: a case limited to some framework versions (``requires``) and an expected divergence
limited to some (``[[expect.divergent]] versions``), checked with a fake framework whose version comes from
FAKE_VERSION (tests/fake_backends/versioned.py: from 2.0 on its optimizer route diverges). No real framework
starts.
"""

from __future__ import annotations

import pytest

from equivalence import versions
from equivalence.backends import BACKENDS
from equivalence.plan import for_versions, plan
from equivalence.runner import Runner, load_all
from equivalence.spec import SpecError

from .casefiles import load, tiny, write

pytestmark = pytest.mark.harness

VERSIONED = "tests.fake_backends.versioned"
TIMEOUT = 60.0


@pytest.fixture
def fake_framework(monkeypatch):
    """The versioned fake as the only backend (in place, as tests/conftest.py's fake_only does); returns a
    function that sets the version the next worker reports."""
    saved = dict(BACKENDS)
    BACKENDS.clear()
    BACKENDS["fake"] = VERSIONED
    try:
        yield lambda version: monkeypatch.setenv("FAKE_VERSION", version)
    finally:
        BACKENDS.clear()
        BACKENDS.update(saved)


def divergence(versions_range: dict | None = None, implementation: str = "fake/optimizer") -> dict:
    d = {"implementations": [implementation], "reason": "fake 2 scales the learning rate by 1.01",
         "references": ["fake/optimizer.py:12"]}
    if versions_range is not None:
        d["versions"] = versions_range
    return d


def run_cases(folder, in_process: bool = False) -> dict:
    with Runner(in_process=in_process, timeout=TIMEOUT) as runner:
        report = runner.run(load_all([folder]))
    return {(r.case, r.implementation, r.compared_with): r for r in report.results}


# ------------------------------------------------------------------------------------------- ranges

@pytest.mark.parametrize("version, text, inside", [
    ("3.1.1", ">=3.0,<3.2", True),
    ("3.2.0", ">=3.0,<3.2", False),
    ("2.6.2", ">=3.0", False),
    ("2.13.0+cpu", "==2.13.0", True),  # a local build label is the same release
    ("2.13.0+cpu", ">=2.13", True),
    ("3.1.0rc1", ">=3.0", True),  # a pre-release is checked like its release, not excluded
    ("3.2.2", "==3.2.*", True),
    ("not-a-version", ">=0", False),
])
def test_contains(version, text, inside):
    assert versions.contains(text, version) is inside, f"{version} in {text}: expected {inside}"


def test_misses_names_version_and_range():
    assert versions.misses({"paddle": ">=3.0"}, {"paddle": "3.3.1", "torch": "2.13.0"}) == []
    assert versions.misses({"paddle": ">=3.0"}, {"paddle": "2.6.2"}) == ["paddle 2.6.2 is outside >=3.0"]
    missed = versions.misses({"torch": "<2"}, {"paddle": "2.6.2"})
    assert missed == ["torch is not running, so its range <2 cannot hold"], missed


# ------------------------------------------------------------------------------------------- loading

@pytest.mark.parametrize("key, value, problem", [
    ("requires", {"fake": ">=3.O"}, "is not a version range"),
    ("requires", {"fake": "3.0"}, "is not a version range"),
    ("requires", {"fake": ""}, "is an empty version range"),
])
def test_malformed_range_is_a_spec_error(fake_framework, tmp_path, key, value, problem):
    with pytest.raises(SpecError) as err:
        load(tmp_path, tiny(**{key: value}))
    e = err.value
    assert e.key == "requires.fake" and problem in e.problem, (e.key, e.problem)
    assert e.file.endswith("case.toml") and e.accepted == versions.ACCEPTED, (e.file, e.accepted)


def test_unknown_framework_in_a_range_is_a_spec_error(fake_framework, tmp_path):
    with pytest.raises(SpecError) as err:
        load(tmp_path, tiny(requires={"padle": ">=3.0"}))
    assert (err.value.key, err.value.accepted) == ("requires.padle", "fake"), str(err.value)
    with pytest.raises(SpecError) as err:
        load(tmp_path, tiny(expect={"divergent": [divergence({"fake": ">=2.0", "torch": "<3"})]}))
    assert err.value.key == "expect.divergent[0].versions.torch", str(err.value)
    with pytest.raises(SpecError) as err:
        load(tmp_path, tiny(expect={"divergent": [divergence({"fake": "~=2"})]}))
    assert err.value.key == "expect.divergent[0].versions.fake" and "~=2" in err.value.problem, str(err.value)


def test_ranges_load_and_plan_keeps_limited_divergences_apart(fake_framework, tmp_path):
    case = load(tmp_path, tiny(requires={"fake": ">=1.0"}, expect={"divergent": [divergence({"fake": ">=2.0"})]}))
    assert case.requires == {"fake": ">=1.0"} and case.expect.divergent[0].versions == {"fake": ">=2.0"}, case
    check = next(c for c in plan(case, ["fake"]) if c.implementation == "fake/optimizer")
    assert check.expected == "equal" and len(check.version_limited) == 1, check
    applied, note = for_versions(check, {"fake": "2.1.0"})
    assert applied.expected == "divergent" and note == "", (applied, note)
    assert applied.reason == "fake 2 scales the learning rate by 1.01 (expected for fake >=2.0)", applied.reason
    kept, note = for_versions(check, {"fake": "1.5.0"})
    assert kept.expected == "equal" and "fake 1.5.0 is outside >=2.0" in note, (kept, note)


# ------------------------------------------------------------------------------------------- running

def test_case_outside_its_range_is_skipped_naming_version_and_range(fake_framework, tmp_path):
    fake_framework("1.5.0")
    write(tmp_path, tiny(id="needs-two", requires={"fake": ">=2.0"}, routes=["optimizer", "per_parameter"]), "a.toml")
    write(tmp_path, tiny(id="needs-one", requires={"fake": ">=1.0,<2"}), "b.toml")
    results = run_cases(tmp_path)
    for route in ("fake/optimizer", "fake/per_parameter"):
        r = results[("needs-two", route, "reference")]
        assert (r.observed, r.status) == ("skipped", "skipped"), (route, r.status, r.message)
        assert r.message == "fake 1.5.0 is outside >=2.0 (the case's requires.fake)", r.message
    # The reference-only checks do not depend on the framework and still run.
    assert results[("needs-two", "perturbed/lr", "reference")].status == "pass"
    inside = results[("needs-one", "fake/optimizer", "reference")]
    assert (inside.observed, inside.status) == ("equal", "pass"), inside.message


def test_missing_api_in_an_old_version_is_a_per_case_error(fake_framework, tmp_path):
    fake_framework("1.0.0")
    write(tmp_path, tiny(id="groups", routes=["optimizer", "per_parameter"]), "a.toml")
    write(tmp_path, tiny(id="after"), "b.toml")
    results = run_cases(tmp_path)
    missing = results[("groups", "fake/per_parameter", "reference")]
    assert missing.status == "error" and "AttributeError" in missing.message and "param_groups" in missing.message, \
        missing.message
    assert results[("groups", "fake/optimizer", "reference")].status == "pass"
    assert results[("after", "fake/optimizer", "reference")].status == "pass"


@pytest.mark.parametrize("version, expected, observed, status", [
    ("1.0.0", "equal", "equal", "pass"),  # before 2.0: the range does not hold, the check expects equal
    ("2.1.0", "divergent", "divergent", "pass"),  # inside: the divergence is expected and happens
])
def test_version_limited_divergence_applies_inside_its_range(fake_framework, tmp_path, version, expected,
                                                             observed, status):
    fake_framework(version)
    write(tmp_path, tiny(id="changed", expect={"divergent": [divergence({"fake": ">=2.0"})]}), "a.toml")
    r = run_cases(tmp_path)[("changed", "fake/optimizer", "reference")]
    assert (r.expected, r.observed, r.status) == (expected, observed, status), (version, r.message)
    if expected == "divergent":
        assert r.reason.endswith("(expected for fake >=2.0)") and r.references == ("fake/optimizer.py:12",), r


def test_divergence_outside_its_range_fails_with_a_note(fake_framework, tmp_path):
    """The frameworks diverge in a version the declared range leaves out: a failure that says why."""
    fake_framework("2.1.0")
    write(tmp_path, tiny(id="narrow", expect={"divergent": [divergence({"fake": "<2.0"})]}), "a.toml")
    r = run_cases(tmp_path)[("narrow", "fake/optimizer", "reference")]
    assert (r.expected, r.observed, r.status) == ("equal", "divergent", "fail"), r.message
    assert "a divergence is expected only for fake <2.0 (fake 2.1.0 is outside <2.0)" in r.message, r.message


def test_stale_inside_the_range_still_fails(fake_framework, tmp_path):
    fake_framework("1.0.0")
    write(tmp_path, tiny(id="stale", expect={"divergent": [divergence({"fake": "<2.0"})]}), "a.toml")
    r = run_cases(tmp_path, in_process=True)[("stale", "fake/optimizer", "reference")]
    assert (r.expected, r.observed, r.status) == ("divergent", "equal", "fail"), r.message
    assert r.message.startswith("stale:"), r.message


def test_first_holding_range_wins(fake_framework, tmp_path):
    fake_framework("2.5.0")
    two = [divergence({"fake": "<2.0"}), dict(divergence({"fake": ">=2.0"}), reason="the 2.x kernel")]
    write(tmp_path, tiny(id="two", expect={"divergent": two}), "a.toml")
    r = run_cases(tmp_path, in_process=True)[("two", "fake/optimizer", "reference")]
    assert (r.expected, r.status) == ("divergent", "pass") and r.reason.startswith("the 2.x kernel"), r


# ------------------------------------------------------------------------------------------- upgrade

def _run_and_diff(capsys, fake_framework, cases, out) -> tuple[int, str]:
    from equivalence import cli
    for stem, version in (("old", "1.0.0"), ("new", "2.0.0")):
        fake_framework(version)
        cli.main(["run", "--cases", str(cases), "--out", str(out), "--stem", stem])
    # A run of a folder other than ./cases is no full default run: no catalogue.
    assert sorted(p.name for p in out.iterdir()) == ["new.html", "new.json", "new.md", "old.html", "old.json",
                                                     "old.md"], list(out.iterdir())
    capsys.readouterr()
    code = cli.main(["diff", str(out / "old.json"), str(out / "new.json")])
    return code, capsys.readouterr().out


def test_upgrade_that_changes_behaviour_is_a_regression(fake_framework, tmp_path, capsys):
    """The tox `upgrade` flow with the fake: run OLD, upgrade, run NEW, diff."""
    write(tmp_path / "cases", tiny(id="kernel"), "a.toml")
    code, out = _run_and_diff(capsys, fake_framework, tmp_path / "cases", tmp_path / "out")
    assert code == 1, out
    assert "fake 1.0.0 -> fake 2.0.0" in out and "NOT SAFE: 1 regression (exit code 1)" in out, out
    rows = [line for line in out.splitlines() if line.startswith("kernel[fake/optimizer]")]
    assert len(rows) == 2 and "newly divergent" in rows[0], rows  # among the regressions, then by category
    assert "yes" in rows[1] and "equal" in rows[1] and "divergent (fail)" in rows[1], rows
    assert "not expected by the case: a regression of the suite's expectations too" in out, out


def test_upgrade_the_case_expects_is_listed_but_safe(fake_framework, tmp_path, capsys):
    from equivalence import cli
    write(tmp_path / "cases", tiny(id="kernel", expect={"divergent": [divergence({"fake": ">=2.0"})]}), "a.toml")
    code, out = _run_and_diff(capsys, fake_framework, tmp_path / "cases", tmp_path / "out")
    assert code == 0, out
    assert "no regression (exit code 0)" in out and "Newly divergent (1)" in out, out
    # The headline: the behaviour changed, as the case expects, with its reason (from NEW's full report).
    lines = out.splitlines()
    head = lines.index("- kernel: NOW DIVERGES")
    assert lines.index("Behaviour changes (1)") < head < lines.index("Newly divergent (1)"), out
    assert "fake 2 scales the learning rate by 1.01 (expected for fake >=2.0)" in lines[head + 4], lines[head:head + 6]
    assert "source: fake/optimizer.py:12" in lines[head + 5], lines[head:head + 6]
    assert cli.main(["diff", str(tmp_path / "out" / "old.json"), str(tmp_path / "out" / "new.json"),
                     "--fail-on-change"]) == 1

