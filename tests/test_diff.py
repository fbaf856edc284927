"""Upgrade checks: ``diff`` between two reports, compact ``baseline`` files and the ``drift`` matrix.

The OLD/NEW reports are built here, result by result, in the layout ``run`` writes (reports/README.md);
no golden file is committed. The last tests check the committed baselines and drift matrix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from equivalence import cli
from equivalence.baseline import FORMAT, load, render
from equivalence.diff import diff
from equivalence.drift import COMMAND, README_COMMAND, README_END, README_START, collect, matrix, summary
from equivalence.runner import load_all
from equivalence.spec import Case

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[1]
BASELINES = REPO / "reports" / "baselines"
VENV = "/opt/venvs/paddle-x"


def result(case: str, implementation: str, observed: str = "equal", *, expected: str = "equal",
           compared_with: str = "reference", abs_err: float | None = 1e-16, message: str = "",
           status: str | None = None) -> dict:
    """One result as ``run`` writes it (equivalence.runner.Result.to_json)."""
    if status is None:
        status = ("pass" if observed == expected else "skipped" if observed in ("skipped", "not-applicable")
                  else "error" if observed == "error" else "fail")
    if implementation.startswith("reference/"):
        kind = "rounding"
    elif implementation.startswith("perturbed/"):
        kind = "sensitivity"
    else:
        kind = "equivalence" if compared_with == "reference" else "direct"
    ran = observed in ("equal", "divergent")
    first = {"step": 2, "quantity": "param", "parameter": "linear0.weight", "index": [0, 1], "actual": 0.5,
             "expected": 0.25, "problem": ""} if observed == "divergent" else None
    return {"case": case, "implementation": implementation, "compared_with": compared_with, "kind": kind,
            "expected": expected, "observed": observed, "status": status,
            "max_abs_error": abs_err if ran else None, "max_rel_error": abs_err if ran else None,
            "mismatches": (3 if observed == "divergent" else 0) if ran else None,
            "compared_elements": 40 if ran else None, "first_divergence": first,
            "message": message or f"{observed} message", "reason": "", "references": [], "tags": ["t"],
            "file": f"cases/{case}.toml"}


def write_report(path: Path, results: list[dict], paddle: str = "3.2.2", numpy: str = "2.4.6") -> Path:
    doc = {"schema_version": 1,
           "environment": {"python": "3.11.7", "numpy": numpy, "platform": "Linux-6.1-x86_64", "machine": "x86_64",
                           "device": "cpu", "time": "2026-11-23T09:00:00+00:00", "executable": f"{VENV}/bin/python",
                           "paddle": paddle, "torch": "2.13.0+cpu"},
           "summary": {}, "results": results}
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# One check per category: (OLD result, NEW result) and the category and regression flag diff must give.
SCENARIOS = {
    "newly divergent": (result("a", "paddle/optimizer"), result("a", "paddle/optimizer", "divergent"), True),
    # NEW's case expects it (a divergence declared for NEW's version range): listed, no regression.
    "newly divergent, expected": (result("b", "paddle/optimizer"),
                                  result("b", "paddle/optimizer", "divergent", expected="divergent"), False),
    "newly equal": (result("c", "torch/optimizer", "divergent"), result("c", "torch/optimizer"), False),
    "stale expectation": (result("d", "paddle/optimizer", "divergent", expected="divergent"),
                          result("d", "paddle/optimizer", "equal", expected="divergent"), True),
    "stopped running": (result("e", "paddle/param_attr"),
                        result("e", "paddle/param_attr", "error",
                               message=f"AttributeError: module 'paddle' has no attribute 'X' ({VENV}/lib/x.py)"),
                        True),
    "started running": (result("f", "paddle/param_attr", "not-applicable"), result("f", "paddle/param_attr"), False),
    "status changed": (result("g", "torch/optimizer", "skipped"), result("g", "torch/optimizer", "error"), True),
    "expectation changed": (result("h", "paddle/optimizer", "divergent", expected="divergent"),
                            result("h", "paddle/optimizer", "divergent"), True),
    "error grew": (result("i", "paddle/optimizer", abs_err=1e-9), result("i", "paddle/optimizer", abs_err=2e-8), True),
    # A wrong mapping moved further from the tolerance: easier to detect, no regression.
    "error grew, sensitivity": (result("o", "perturbed/lr", "divergent", expected="divergent", abs_err=1e-4),
                                result("o", "perturbed/lr", "divergent", expected="divergent", abs_err=1e-2), False),
    "still failing": (result("j", "paddle/optimizer", "divergent"), result("j", "paddle/optimizer", "divergent"),
                      False),
}

# Changes below the noise level or the factor: never reported.
NOISE = [
    (result("n", "reference/float32", abs_err=6e-8), result("n", "reference/float32", abs_err=6.1e-8)),
    (result("n", "paddle/optimizer", abs_err=6e-8), result("n", "paddle/optimizer", abs_err=3e-7)),  # x5 < x10
    # one float32 ulp where the runs were identical: below the case's own float32 rounding error
    (result("n", "torch/optimizer", compared_with="paddle/optimizer", abs_err=0.0),
     result("n", "torch/optimizer", compared_with="paddle/optimizer", abs_err=6e-8)),
    (result("m", "paddle/optimizer", abs_err=0.0), result("m", "paddle/optimizer", abs_err=9e-15)),  # < floor
    (result("m", "perturbed/lr", "divergent", expected="divergent", abs_err=1e-4),
     result("m", "perturbed/lr", "divergent", expected="divergent", abs_err=1.0001e-4)),
]


@pytest.fixture
def scenario(tmp_path):
    old = [o for o, _, _ in SCENARIOS.values()] + [o for o, _ in NOISE]
    new = [n for _, n, _ in SCENARIOS.values()] + [n for _, n in NOISE]
    old += [result("a", "torch/optimizer", compared_with="paddle/optimizer"), result("gone", "paddle/optimizer")]
    new += [result("a", "paddle/loss_penalty"), result("fresh", "paddle/optimizer", "divergent")]
    return (write_report(tmp_path / "old.json", old, paddle="3.2.2"),
            write_report(tmp_path / "new.json", new, paddle="3.3.1"))


def test_every_category_and_regression(scenario):
    d = diff(load(scenario[0]), load(scenario[1]))
    got = {c.test_id: (c.category, c.regression) for c in d.changes}
    want = {f"{o['case']}[{o['implementation']}]": (name.split(",")[0], regression)
            for name, (o, _, regression) in SCENARIOS.items()}
    want["a[paddle/loss_penalty]"] = ("checks added", False)
    want["a[torch/optimizer-vs-paddle/optimizer]"] = ("checks removed", False)
    assert got == want, f"missing {set(want) - set(got)}, unexpected {set(got) - set(want)}, " \
                        f"differing {[(k, got[k], want[k]) for k in set(got) & set(want) if got[k] != want[k]]}"
    assert d.cases_added == ["fresh"] and d.cases_removed == ["gone"], (d.cases_added, d.cases_removed)
    grew = next(c for c in d.changes if c.category == "error grew")
    assert grew.note == "worst abs error x20 (more than x10)", grew.note
    stopped = next(c for c in d.changes if c.category == "stopped running")
    assert "<venv>/lib/x.py" in stopped.note and VENV not in stopped.note, stopped.note


def test_identical_reports_exit_0(tmp_path, capsys):
    results = [o for o, _, _ in SCENARIOS.values()]
    old = write_report(tmp_path / "old.json", results)
    new = write_report(tmp_path / "new.json", [dict(r, message="other words") for r in results])
    code, out, err = run_cli(capsys, "diff", old, new)
    assert code == 0, f"exit {code}\n{out}\n{err}"
    # c and j (OLD sides of scenarios) fail in both runs: listed, but no regression of the upgrade.
    assert "no regression (exit code 0)" in out and "Still failing (2)" in out, out
    assert "Newly divergent" not in out and "Error grew" not in out, out


def test_terminal_output_and_exit_1(scenario, capsys):
    code, out, err = run_cli(capsys, "diff", *scenario)
    assert code == 1, f"exit {code}\n{out}\n{err}"
    assert out.startswith("Upgrade diff: paddle 3.2.2, torch 2.13.0+cpu -> paddle 3.3.1, torch 2.13.0+cpu\n===="), out
    assert "NOT SAFE: 6 regressions (exit code 1)" in out, out
    assert "Cases added (1): fresh" in out and "Cases removed (1): gone" in out, out
    lines = out.splitlines()
    head = lines.index("Newly divergent (2)")
    assert lines[head + 1].startswith("---") and lines[head + 3].split() == \
        ["check", "regression", "OLD", "NEW", "note"], lines[head:head + 5]
    row = next(line for line in lines[head:] if line.startswith("a[paddle/optimizer]"))
    assert "yes" in row and "divergent (fail), abs err 1.00e-16" in row, row
    assert "first divergence: step 2, param of linear0.weight" in row, row
    assert "|" not in out, "the terminal form has no Markdown tables"


def test_markdown_output(scenario, tmp_path, capsys):
    md_path = tmp_path / "out" / "upgrade.md"
    code, out, err = run_cli(capsys, "diff", *scenario, "--format", "markdown", "--markdown", md_path)
    assert code == 1, f"exit {code}\n{out}\n{err}"
    assert out == md_path.read_text(encoding="utf-8") + "\n", "the written Markdown differs from the printed one"
    assert out.startswith("# Upgrade diff: paddle 3.2.2, torch 2.13.0+cpu -> paddle 3.3.1"), out[:100]
    assert "**NOT SAFE: 6 regressions (exit code 1)**" in out, out
    for heading in ("## Newly divergent (2)", "## Stale expectation (1)", "## Error grew (2)",
                    "## Checks added (1)", "## Checks removed (1)"):
        assert f"\n{heading}\n" in out, f"{heading} missing:\n{out}"
    assert "| check " in out and "|----" in out.replace(":", "-"), out
    row = next(line for line in out.splitlines() if line.startswith("| `e[paddle/param_attr]`"))
    assert row.count(" | ") == 4 and "AttributeError" in row, row
    assert "Cases added (1): `fresh`" in out, out


def test_markdown_escapes_pipes(tmp_path, capsys):
    old = write_report(tmp_path / "old.json", [result("p", "paddle/optimizer")])
    new = write_report(tmp_path / "new.json", [result("p", "paddle/optimizer", "error", message="a | b")])
    code, out, _ = run_cli(capsys, "diff", old, new, "--format", "markdown")
    row = next(line for line in out.splitlines() if line.startswith("| `p[paddle/optimizer]`"))
    assert code == 1 and "a \\| b" in row, row


@pytest.mark.parametrize("factor, code", [("10", 0), ("4", 1)])
def test_factor_option(tmp_path, capsys, factor, code):
    old = write_report(tmp_path / "old.json", [result("q", "paddle/optimizer", abs_err=1e-9)])
    new = write_report(tmp_path / "new.json", [result("q", "paddle/optimizer", abs_err=5e-9)])
    got, out, err = run_cli(capsys, "diff", old, new, "--factor", factor)
    assert got == code, f"--factor {factor}: exit {got}\n{out}\n{err}"
    assert ("Error grew (1)" in out) == (code == 1), out


def test_usage_errors_exit_2(tmp_path, capsys):
    good = write_report(tmp_path / "good.json", [result("a", "paddle/optimizer")])
    (tmp_path / "junk.json").write_text("{\"results\": 3}", encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    for argv, problem in [((tmp_path / "none.json", good), "no such file"),
                          ((good, tmp_path / "junk.json"), "not an equivalence report"),
                          ((tmp_path / "broken.json", good), "not a readable JSON report"),
                          ((good, good, "--factor", "1"), "must be > 1")]:
        code, _, err = run_cli(capsys, "diff", *argv)
        assert code == 2 and problem in err, (argv, code, err)


# ------------------------------------------------------------------------------------------- behaviour

def test_behaviour_changes_are_the_frameworks_own(tmp_path):
    """Framework checks whose verdict flipped, that an API made run or stop, or whose error grew; not the
    reference-only checks, nor a check the suite's own version range skipped."""
    pairs = {
        "flip": (result("flip", "paddle/layer"), result("flip", "paddle/layer", "divergent", expected="divergent")),
        "fixed": (result("fixed", "paddle/layer", "divergent", expected="divergent"), result("fixed", "paddle/layer")),
        "api": (result("api", "paddle/optimizer", "not-applicable", message="paddle.optimizer.X does not exist"),
                result("api", "paddle/optimizer")),
        "raises": (result("raises", "paddle/optimizer"),
                   result("raises", "paddle/optimizer", "error", message="TypeError: no")),
        "grew": (result("grew", "paddle/optimizer", abs_err=1e-9), result("grew", "paddle/optimizer", abs_err=1e-6)),
        "range": (result("range", "paddle/optimizer", "skipped"), result("range", "paddle/optimizer")),
        "sensitivity": (result("sensitivity", "perturbed/lr", "divergent", expected="divergent"),
                        result("sensitivity", "perturbed/lr", "equal", expected="divergent")),
        "rounding": (result("rounding", "reference/float32"), result("rounding", "reference/float32", "divergent")),
    }
    old = write_report(tmp_path / "old.json", [o for o, _ in pairs.values()], paddle="2.6.2")
    new = write_report(tmp_path / "new.json", [n for _, n in pairs.values()], paddle="3.3.1")
    d = diff(load(old), load(new))
    got = {g.case: g.what for g in d.behaviour}
    assert got == {"flip": "now diverges", "fixed": "now agrees", "api": "now runs", "raises": "no longer runs",
                   "grew": "error grew"}, got
    assert [g.case for g in d.behaviour] == ["flip", "fixed", "grew", "raises", "api"], "verdict flips first"
    assert d.exit_code() == 1 and d.exit_code(fail_on_change=True) == 1  # raises and grew are regressions too
    flip = d.behaviour[0]
    assert (flip.old_error, flip.new_error, flip.where) == (1e-16, 1e-16, "param from step 2"), flip
    assert next(g for g in d.behaviour if g.case == "api").message == "paddle.optimizer.X does not exist"


def test_fail_on_change_exits_1_on_an_expected_change_only(tmp_path, capsys):
    old = write_report(tmp_path / "old.json", [result("k", "paddle/layer"), result("u", "paddle/layer")])
    new = write_report(tmp_path / "new.json", [result("k", "paddle/layer", "divergent", expected="divergent"),
                                               result("u", "paddle/layer")], paddle="3.3.1")
    code, out, _ = run_cli(capsys, "diff", old, new, "--cases", tmp_path)  # no case files there
    assert code == 0 and "BEHAVIOUR CHANGED in 1 case (1 framework check): 1 now diverges." in out, out
    code, out, _ = run_cli(capsys, "diff", old, new, "--cases", tmp_path, "--fail-on-change")
    assert code == 1 and "no regression (exit code 1: --fail-on-change and the behaviour changed)" in out, out
    code, out, _ = run_cli(capsys, "diff", old, old, "--fail-on-change")
    assert code == 0 and "Behaviour unchanged" in out, out


def test_behaviour_text_from_case_files_is_inert_in_markdown(tmp_path, capsys):
    reason = "a | b <script>x</script>"
    old = write_report(tmp_path / "old.json", [result("k", "paddle/layer")])
    new = write_report(tmp_path / "new.json", [dict(result("k", "paddle/layer", "divergent", expected="divergent"),
                                                    reason=reason, references=["<b>x.py:1</b>"])], paddle="3.3.1")
    code, out, _ = run_cli(capsys, "diff", old, new, "--format", "markdown", "--cases", tmp_path)
    assert code == 0 and "expected by the case: a \\| b &lt;script&gt;x&lt;/script&gt;" in out, out
    assert "<script>" not in out and "<b>" not in out and "source: &lt;b&gt;x.py:1&lt;/b&gt;" in out, out
    _, plain, _ = run_cli(capsys, "diff", old, new, "--cases", tmp_path)
    assert f"expected by the case: {reason}" in plain, "the terminal shows the text as written"


def test_the_committed_upgrade_diff_leads_with_the_behaviour_change(capsys):
    """Paddle 2.6.2 -> 3.3.1 on the committed baselines: the suite passes in both, but cross entropy's mean
    with the default ignore_index changed meaning; the diff says so first, with the case file's reason."""
    old, new = BASELINES / "paddle262.json", BASELINES / "paddle331.json"
    code, out, err = run_cli(capsys, "diff", old, new, "--cases", REPO / "cases")
    assert code == 0, f"exit {code}\n{out}\n{err}"
    lines = out.splitlines()
    # The counts follow the committed baselines (tox -m baselines); the headline and its order do not.
    assert lines[7].startswith("BEHAVIOUR CHANGED in ") and ": 1 now diverges, " in lines[7], lines[:9]
    first = next(i for i, line in enumerate(lines) if line.startswith("Behaviour changes (")) + 5
    assert lines[first] == "- loss-cross-entropy-ignore-index-default-mean: NOW DIVERGES", lines[first - 1:first + 8]
    block = "\n".join(lines[first:first + 8])
    for words in ("API: cross_entropy loss (reduction mean), through paddle layer, functional",
                  "worst abs error 4.44e-16 -> 0.692, first in loss from step 1",
                  "expected by the case: Paddle's mean divides by the non-ignored count only when ignore_index",
                  "(expected for paddle >=3.0)", "source: paddle/nn/functional/loss.py:3113"):
        assert words in block, f"{words!r} missing from\n{block}"
    newly_divergent = next(i for i, line in enumerate(lines) if line.startswith("Newly divergent ("))
    assert first < lines.index("Regressions of the suite's expectations (0)") < newly_divergent
    assert run_cli(capsys, "diff", old, new, "--cases", REPO / "cases", "--fail-on-change")[0] == 1
    # Without the case files a baseline has no reasons, and the diff says where to find them.
    _, bare, _ = run_cli(capsys, "diff", old, new, "--cases", REPO / "tests")
    assert "no reason at hand: pass --cases" in bare and "case file not at hand" in bare, bare[:3000]


# ------------------------------------------------------------------------------------------- baselines

def test_baseline_keeps_verdicts_and_drops_run_specific_fields(scenario, tmp_path, capsys):
    code, out, err = run_cli(capsys, "baseline", scenario[1], "--out", tmp_path / "baselines")
    assert code == 0, f"exit {code}\n{out}\n{err}"
    path = tmp_path / "baselines" / "new.json"
    assert f"{path}: paddle 3.3.1, torch 2.13.0+cpu;" in out, out
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["format"] == FORMAT, doc["format"]
    assert doc["environment"] == {"python": "3.11.7", "numpy": "2.4.6", "machine": "x86_64", "device": "cpu",
                                  "paddle": "3.3.1", "torch": "2.13.0+cpu"}, doc["environment"]
    assert VENV not in text and "2026-11-23" not in text and "Linux" not in text, text[:600]
    assert len(text.splitlines()) == len(doc["results"]) + 8, "one result per line"
    by_id = {(r["case"], r["implementation"]): r for r in doc["results"]}
    grew = by_id[("i", "paddle/optimizer")]
    assert grew == {"case": "i", "implementation": "paddle/optimizer", "compared_with": "reference",
                    "kind": "equivalence", "expected": "equal", "observed": "equal", "status": "pass",
                    "max_abs_error": 2e-8}, grew
    divergent = by_id[("a", "paddle/optimizer")]
    assert divergent["first_divergence"] == {"step": 2, "quantity": "param", "parameter": "linear0.weight"}, divergent
    assert divergent["mismatches"] == 3 and "message" not in divergent, divergent
    assert by_id[("e", "paddle/param_attr")]["message"].endswith("(<venv>/lib/x.py)"), by_id[("e", "paddle/param_attr")]
    # A baseline and its full report hold the same verdicts: diffing them finds nothing.
    assert diff(load(scenario[1]), load(path)).changes == [
        c for c in diff(load(scenario[1]), load(scenario[1])).changes], "baseline and report disagree"


def test_baseline_is_stable_under_last_bit_noise(tmp_path):
    a = write_report(tmp_path / "a.json", [result("s", "paddle/optimizer", abs_err=1.2345678e-7)])
    b = write_report(tmp_path / "b.json", [result("s", "paddle/optimizer", abs_err=1.2345679e-7)])
    assert render(load(a)) == render(load(b)), "a last-bit change rewrote the baseline"
    assert '"max_abs_error": 1.23e-07' in render(load(a)), render(load(a))


# ------------------------------------------------------------------------------------------- drift

def test_drift_orders_versions_and_marks_changes(tmp_path, capsys):
    runs = {"3.3.1": [result("k", "paddle/optimizer", "divergent", expected="divergent"), result("u", "paddle/sgd")],
            "2.6.2": [result("k", "paddle/optimizer", "error", message="AttributeError: no X"),
                      result("u", "paddle/sgd")],
            "3.0.0": [result("k", "paddle/optimizer"), result("u", "paddle/sgd")]}
    folder = tmp_path / "baselines"
    folder.mkdir()
    for version, results in runs.items():  # written newest first: the matrix must still go oldest first
        write_report(folder / f"paddle{version.replace('.', '')}.json", results, paddle=version)
    out = tmp_path / "drift.md"
    code, stdout, err = run_cli(capsys, "drift", folder, "--out", out)
    assert code == 0 and "drift matrix of 3 reports" in stdout, (code, stdout, err)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Behaviour drift across framework versions") and COMMAND in text, text[:300]
    header = next(line for line in text.splitlines() if line.startswith("| case"))
    assert [c.strip() for c in header.strip("|").split("|")] == \
        ["case", "paddle 2.6.2", "paddle 3.0.0", "paddle 3.3.1"], header
    row = next(line for line in text.splitlines() if line.startswith("| `k`"))
    assert [c.strip() for c in row.strip("|").split("|")] == \
        ["`k`", "1 error", "**changed**: 1 equal", "**changed**: 1 divergent"], row
    row = next(line for line in text.splitlines() if line.startswith("| `u`"))
    assert "changed" not in row, row
    detail = next(line for line in text.splitlines() if line.startswith("| `k[paddle/optimizer]`"))
    cells = [c.strip() for c in detail.strip("|").split("|")]
    assert cells[1] == "error: AttributeError: no X" and cells[2].startswith("equal, abs err") and \
        cells[3].startswith("divergent, abs err"), cells
    assert "`u[paddle/sgd]`" not in text, "an unchanged check is listed among the changes"


def test_drift_without_changes_and_same_versions(tmp_path):
    same = [result("u", "paddle/sgd")]
    reports = [load(write_report(tmp_path / f"{name}.json", same)) for name in ("first", "second")]
    text = matrix(reports)
    assert "None: every check has the same verdict in every version." in text, text
    header = next(line for line in text.splitlines() if line.startswith("| case"))
    assert "first" in header and "second" in header, f"equal versions must fall back to file names: {header}"


# ------------------------------------------------------------------------------------------- committed files

def test_committed_baselines_are_compact_and_current_with_the_cases():
    files = sorted(BASELINES.glob("*.json"))
    assert len(files) >= 4, f"baselines missing under {BASELINES}: {files}"
    ids = {c.id for c in load_all([REPO / "cases"]) if isinstance(c, Case)}
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["format"] == FORMAT and "time" not in doc["environment"], f"{path}: not a compact baseline"
        named = {r["case"] for r in doc["results"]}
        assert named == ids, (f"{path.name} is not current with cases/ (missing {sorted(ids - named)}, extra "
                              f"{sorted(named - ids)}); regenerate: tox -m baselines (README, Upgrade checks)")


def test_committed_drift_matrix_is_generated_from_the_baselines():
    text = (BASELINES / "drift.md").read_text(encoding="utf-8")
    assert text == matrix(collect([BASELINES])), f"reports/baselines/drift.md is stale or edited; run: {COMMAND}"


def test_readme_states_the_drift_the_baselines_show():
    """The README's sentence about the pinned versions is generated from the baselines, never written by
    hand: it names the behaviour changes the drift matrix marks."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = text.index(README_START) + len(README_START) + 1, text.index(README_END)
    generated = summary(collect([BASELINES]))
    assert text[start:end].rstrip("\n") == generated, f"the README's drift block is stale; run: {README_COMMAND}"
    assert "1 now diverges (`loss-cross-entropy-ignore-index-default-mean`)" in generated, generated
    assert "same verdict on every check of every case" not in text


def test_drift_summary_says_when_nothing_changed(tmp_path, capsys):
    same = [result("u", "paddle/sgd"), result("v", "perturbed/lr", "divergent", expected="divergent")]
    folder = tmp_path / "b"
    folder.mkdir()
    write_report(folder / "p1.json", same, paddle="3.0.0")
    write_report(folder / "p2.json", [same[0], dict(same[1], observed="equal", status="fail")], paddle="3.1.1")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold words\n{README_END}\nrest\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "drift", folder, "--readme", readme)
    assert code == 0, (out, err)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(f"intro\n{README_START}\nAcross Paddle 3.0.0 and 3.1.1 (with Torch 2.13.0+cpu), the "
                           "committed baselines show no behaviour change") and text.endswith(f"{README_END}\nrest\n")
    assert "old words" not in text  # a sensitivity check that changed is the suite's, not the frameworks'
    readme.write_text("no markers\n", encoding="utf-8")
    assert run_cli(capsys, "drift", folder, "--readme", readme)[0] == 2

