"""Reports: latest.json is the contract (valid JSON, NaN/Inf as strings), latest.md the same for people,
both written atomically; the README block is replaced in place and carries no timestamp.

The run behind most tests uses the fake backend (tests/fake_backends/crashy.py) in a worker, so no real
framework starts: its ``optimizer`` route returns the reference trajectory and its ``loss_penalty`` route
is not applicable.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from equivalence import report
from equivalence.compare import Mismatch
from equivalence.runner import SCHEMA_VERSION, Result, RunReport, Runner, load_all

from .casefiles import tiny, write

pytestmark = pytest.mark.harness

CRASHY = "tests.fake_backends.crashy"

RESULT_KEYS = {"case", "implementation", "compared_with", "expected", "observed", "status", "max_abs_error",
               "max_rel_error", "first_divergence", "message"}
DIVERGENCE_KEYS = {"step", "quantity", "parameter", "index", "actual", "expected"}
REPORT_FILES = ["latest.html", "latest.json", "latest.md"]

# test id -> status of the fixture run below
EXPECTED_STATUS = {
    "bad[spec]": "error",
    "good[fake/optimizer]": "pass",
    "good[fake/loss_penalty]": "not-applicable",
    "good[perturbed/lr]": "pass",
    "rounding-known[reference/float32]": "pass",
    "rounding-known[fake/optimizer]": "pass",
    "rounding-known[perturbed/lr]": "pass",
    "stale[fake/optimizer]": "fail",
    "stale[perturbed/lr]": "pass",
}


def write_cases(folder: Path) -> Path:
    """Four case files: all pass, a stale expected divergence, a real expected divergence, a malformed file."""
    write(folder, tiny(id="good", tags=["alpha"], routes=["optimizer", "loss_penalty"]), "good.toml")
    write(folder, tiny(id="stale", expect={"divergent": [
        {"implementations": ["fake/optimizer"], "reason": "fake is said to differ", "references": ["fake.py:1"]}]}),
        "stale.toml")
    # float32 rounding cannot meet a float64-tight tolerance: a divergence that really occurs.
    write(folder, tiny(id="rounding-known", dtype="float32", steps=2, tolerance={"rtol": 1e-13, "atol": 1e-15},
                       expect={"divergent": [{"implementations": ["reference/float32"],
                                              "reason": "float32 rounding", "references": ["numpy:1"]}]}),
          "rounding.toml")
    write(folder, tiny(id="bad", optimiser={"name": "sgd"}), "bad.toml")
    return folder


@pytest.fixture(scope="module")
def run_report(tmp_path_factory) -> RunReport:
    folder = write_cases(tmp_path_factory.mktemp("cases"))
    with Runner(backends={"fake": CRASHY}, timeout=60.0) as runner:
        rep = runner.run(load_all([folder]))
    got = {r.test_id: r.status for r in rep.results}
    assert got == EXPECTED_STATUS, f"fixture run: {got}"
    return rep


def nan_result(**changes) -> Result:
    base = Result(case="nan-case", implementation="paddle/optimizer", compared_with="reference", kind="equivalence",
                  expected="equal", observed="divergent", status="fail", message="NaN in grad",
                  max_abs_error=float("nan"), max_rel_error=float("inf"), mismatches=1, compared=4,
                  first_divergence=Mismatch(step=1, quantity="grad", name="linear0.weight", index=(0, 1),
                                            actual=float("nan"), expected=0.5, problem="nan"))
    return dataclasses.replace(base, **changes)


def strict_json(text: str):
    """json.loads that refuses the non-standard NaN / Infinity / -Infinity literals."""
    def refuse(name):
        raise AssertionError(f"bare {name} in the JSON report")
    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------------------------------------ JSON

def test_latest_json_layout(run_report, tmp_path):
    paths = report.write_reports(run_report, tmp_path)
    assert paths == [tmp_path / "latest.json", tmp_path / "latest.md", tmp_path / "latest.html"], paths
    doc = strict_json((tmp_path / "latest.json").read_text(encoding="utf-8"))

    assert doc["schema_version"] == SCHEMA_VERSION == 2, doc["schema_version"]
    env = doc["environment"]
    missing = {"python", "numpy", "platform", "device", "time", "fake"} - set(env)
    assert not missing, f"environment lacks {missing}: {env}"
    assert env["fake"] == "0.0.1", f"backend version: {env['fake']!r}"

    assert doc["summary"] == {"pass": 6, "fail": 1, "error": 1, "skipped": 0, "not-applicable": 1}, doc["summary"]
    statuses = [r["status"] for r in doc["results"]]
    assert {s: statuses.count(s) for s in doc["summary"]} == doc["summary"], (statuses, doc["summary"])

    by_id = {}
    for r in doc["results"]:
        missing = RESULT_KEYS - set(r)
        assert not missing, f"result {r.get('case')}/{r.get('implementation')} lacks {missing}: {r}"
        by_id[f"{r['case']}[{r['implementation']}]"] = r
    assert set(by_id) == set(EXPECTED_STATUS), sorted(by_id)
    assert {k: r["status"] for k, r in by_id.items()} == EXPECTED_STATUS, by_id

    equal = by_id["good[fake/optimizer]"]
    assert equal["first_divergence"] is None and equal["observed"] == "equal", equal
    assert equal["max_abs_error"] == 0 and equal["max_rel_error"] == 0, equal
    skipped = by_id["good[fake/loss_penalty]"]
    assert skipped["max_abs_error"] is None and "fake has no loss penalty" in skipped["message"], skipped

    divergent = by_id["good[perturbed/lr]"]
    first = divergent["first_divergence"]
    assert isinstance(first, dict) and DIVERGENCE_KEYS <= set(first), f"first_divergence: {first}"
    assert isinstance(first["step"], int) and first["step"] >= 1, first
    assert isinstance(first["index"], list) and first["actual"] != first["expected"], first
    assert divergent["max_abs_error"] > 0, divergent

    stale = by_id["stale[fake/optimizer]"]
    assert stale["expected"] == "divergent" and stale["observed"] == "equal", stale
    assert stale["message"].startswith("stale:"), stale["message"]
    spec = by_id["bad[spec]"]
    assert spec["compared_with"] == "-" and "bad.toml" in spec["message"] and "optimiser" in spec["message"], spec


def test_nan_and_inf_are_strings_and_the_json_stays_valid(tmp_path):
    rep = RunReport([nan_result(), nan_result(case="inf-case", max_abs_error=float("-inf"), max_rel_error=1.5)],
                    {"python": "3", "numpy": "2", "platform": "p", "device": "cpu", "time": "t"})
    report.write_reports(rep, tmp_path)
    text = (tmp_path / "latest.json").read_text(encoding="utf-8")
    doc = strict_json(text)  # raises on a bare NaN / Infinity
    first, second = doc["results"]
    assert (first["max_abs_error"], first["max_rel_error"]) == ("nan", "inf"), first
    assert (second["max_abs_error"], second["max_rel_error"]) == ("-inf", 1.5), second
    div = first["first_divergence"]
    assert div["actual"] == "nan" and div["expected"] == 0.5, div
    assert (div["step"], div["quantity"], div["parameter"], div["index"]) == (1, "grad", "linear0.weight", [0, 1]), div
    md = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "nan" in md and "inf" in md, md


# ------------------------------------------------------------------------------------------------ Markdown

def section(lines: list[str], title: str) -> list[str]:
    """The lines of a '## title' section, up to the next '## ' heading."""
    assert f"## {title}" in lines, f"no section {title!r}:\n" + "\n".join(lines)
    start = lines.index(f"## {title}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start + 1:end]


def test_markdown_counts_first_then_failures_then_stale_then_every_result(run_report):
    md = report.markdown(run_report)
    lines = md.splitlines()
    prose = [line for line in lines if line.strip() and not line.startswith("#")]
    assert prose[0] == "6 pass, 1 fail, 1 error, 0 skipped, 1 not-applicable.", f"first line after the title: {prose[0]!r}"
    assert prose[1].startswith("9 checks; 1 failures and errors, 1 stale expectations, 1 expected divergences"), \
        prose[1]
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## Failures and errors", "## Stale expectations", "## Expected divergences",
                        "## All results"], headings

    listed = [line for line in section(lines, "Failures and errors") if line.startswith("- ")]
    assert [line.split("`")[1] for line in listed] == ["bad[spec]"], listed
    stale = [line for line in section(lines, "Stale expectations") if line.startswith("- ")]
    assert len(stale) == 1 and stale[0].startswith("- `stale[fake/optimizer]`: fake is said to differ [fake.py:1]"), \
        stale
    assert "stale: the frameworks now agree" in stale[0], stale

    rows = [line for line in section(lines, "All results") if line.startswith("|")][2:]  # skip header and rule
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert len(cells) == len(run_report.results), f"{len(cells)} table rows for {len(run_report.results)} results"
    assert [(c[0], c[1], c[5]) for c in cells] == [(r.case, r.implementation, r.status) for r in run_report.results], \
        cells


def test_markdown_without_problems_has_no_failures_section(run_report):
    passing = RunReport([r for r in run_report.results if r.status in ("pass", "skipped", "not-applicable")], run_report.environment)
    md = report.markdown(passing)
    assert "## Failures and errors" not in md and "## Stale expectations" not in md, md
    assert "6 pass, 0 fail, 0 error, 0 skipped, 1 not-applicable." in md, md
    assert "`rounding-known[reference/float32]`" in md.split("## Expected divergences")[1], md


def test_markdown_keeps_case_text_inert_and_the_table_whole():
    """A reason or message with '|', a newline or HTML must neither break the table nor become markup."""
    text = "a | b\n<script>alert(1)</script> <b>x</b>"
    r = nan_result(message=text, reason=text, expected="divergent", observed="equal", case="x|y")
    md = report.markdown(RunReport([r], {"platform": "<i>p</i>"}))
    assert "<script>" not in md and "<b>" not in md and "<i>" not in md, md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md, md
    rows = [line for line in section(md.splitlines(), "All results") if line.startswith("|")]
    assert len(rows) == 3, rows  # header, rule, one row
    cells = [c for c in re.split(r"(?<!\\)\|", rows[2].strip().strip("|"))]
    assert len(cells) == len(report.TABLE_HEADERS) and cells[0].strip() == "x\\|y", cells


def test_markdown_is_cut_to_the_job_summary_limit(run_report):
    many = RunReport(run_report.results * 400, run_report.environment)
    full = report.markdown(many, max_bytes=10**9)
    lists = len(full.split("## All results")[0].encode())
    cap = lists + 100_000  # the lists fit, the table (~1.2 MB) does not
    assert len(full.encode()) > cap + 500_000, (len(full.encode()), cap)
    cut = report.markdown(many, max_bytes=cap)
    assert len(cut.encode()) <= cap, len(cut.encode())
    lines = cut.splitlines()
    rows = [line for line in section(lines, "All results") if line.startswith("|")][2:]
    left_out = len(many.results) - len(rows)
    assert 0 < left_out < len(many.results), left_out
    assert f"{left_out} more results are left out of this table" in cut, cut[-500:]
    assert cut.split("## All results")[0] == full.split("## All results")[0], "only the table is cut"
    assert report.MD_MAX_BYTES <= 1024 * 1024, "GitHub's job summary limit is 1 MiB"

    # Tighter: the table goes first, then the expected divergences, ... the counts always stay.
    tiny_cap = 20_000
    cut = report.markdown(many, max_bytes=tiny_cap)
    lines = cut.splitlines()
    assert len(cut.encode()) <= tiny_cap and lines[2] == f"{report.summary_line(many)}.", lines[:3]
    failures = [line for line in section(lines, "Failures and errors") if line.startswith("- ")]
    assert 0 < len(failures) < 400 and f"{400 - len(failures)} more are left out" in cut, len(failures)
    assert not [line for line in section(lines, "All results") if line.startswith("|")], "table kept over the cap"
    assert f"{len(many.results)} more results are left out of this table" in cut


# ------------------------------------------------------------------------------------------------ atomic writes

def _folder_state(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())}


def _fail_mid_write(monkeypatch, where: str, folder: Path):
    """Make writing the reports into `folder` fail at `where`; other paths behave as usual."""
    if where == "render":
        def boom(rep):
            raise RuntimeError("injected: markdown rendering failed")
        monkeypatch.setattr(report, "markdown", boom)
    elif where == "fsync":  # the temporary file is open and holds part of the text
        def boom(fd):
            raise OSError("injected: disk full")
        monkeypatch.setattr(report.os, "fsync", boom)
    elif where == "replace":
        real = os.replace

        def boom(src, dst, *args, **kwargs):
            if Path(dst).parent == folder:
                raise OSError("injected: rename failed")
            return real(src, dst, *args, **kwargs)
        monkeypatch.setattr(report.os, "replace", boom)
    else:
        raise AssertionError(where)


@pytest.mark.parametrize("where", ["render", "fsync", "replace"])
def test_failed_write_leaves_previous_reports_and_no_temp_files(run_report, tmp_path, monkeypatch, where):
    old = RunReport([nan_result()], {"time": "old"})
    report.write_reports(old, tmp_path)
    before = _folder_state(tmp_path)
    assert sorted(before) == REPORT_FILES, sorted(before)

    _fail_mid_write(monkeypatch, where, tmp_path)
    with pytest.raises((RuntimeError, OSError), match="injected"):
        report.write_reports(run_report, tmp_path)
    after = _folder_state(tmp_path)
    assert sorted(after) == REPORT_FILES, f"left in {tmp_path}: {sorted(after)}"
    assert after == before, f"failure at {where} changed the previous reports"

    monkeypatch.undo()
    report.write_reports(run_report, tmp_path)
    assert _folder_state(tmp_path) != before, "the test's new report is indistinguishable from the old one"


def test_write_atomic_creates_the_folder_and_replaces(tmp_path):
    target = tmp_path / "new" / "dir" / "file.txt"
    other = target.with_name("other.txt")
    report.write_atomic({target: "one", other: "1"})
    report.write_atomic({target: "two", other: "2"})
    assert (target.read_text(encoding="utf-8"), other.read_text(encoding="utf-8")) == ("two", "2")
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt", "other.txt"], list(target.parent.iterdir())


def test_write_atomic_keeps_every_old_file_when_a_later_write_fails(tmp_path, monkeypatch):
    first, second = tmp_path / "a.json", tmp_path / "b.md"
    report.write_atomic({first: "old a", second: "old b"})
    real_fsync, calls = os.fsync, []

    def fail_on_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError("disk full")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        report.write_atomic({first: "new a", second: "new b"})
    assert (first.read_text(encoding="utf-8"), second.read_text(encoding="utf-8")) == ("old a", "old b"), \
        "a failure writing the second file must leave the first one old too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"], list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------ README block

README = """# Project

Intro text that must survive.

{start}
stale block contents
{end}

Text after the block, also kept. <!-- other comment -->
"""


def _readme(tmp_path, start=report.README_START, end=report.README_END) -> Path:
    path = tmp_path / "README.md"
    path.write_text(README.format(start=start, end=end), encoding="utf-8")
    return path


def test_update_readme_replaces_only_the_block(run_report, tmp_path):
    path = _readme(tmp_path)
    report.update_readme(run_report, path)
    text = path.read_text(encoding="utf-8")
    before, after = README.split("{start}")[0], README.split("{end}")[1]
    assert text.startswith(before) and text.endswith(after), text
    block = text[len(before):len(text) - len(after)]
    assert block == report.readme_block(run_report), block
    assert block.startswith(report.README_START) and block.endswith(report.README_END), block
    assert "stale block contents" not in text, text
    for case in ("good", "stale", "rounding-known", "bad"):
        assert f"`{case}`" in block, f"{case} missing from the block:\n{block}"
    assert "rounding-known" in block and "reference/float32" in block, block  # its expected divergence

    report.update_readme(run_report, path)
    assert path.read_text(encoding="utf-8") == text, "a second update with the same report changed the README"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"], list(tmp_path.iterdir())


@pytest.mark.parametrize("missing", ["start", "end", "both"])
def test_update_readme_without_markers_is_a_clear_error(run_report, tmp_path, missing):
    path = _readme(tmp_path, start="" if missing in ("start", "both") else report.README_START,
                   end="" if missing in ("end", "both") else report.README_END)
    original = path.read_text(encoding="utf-8")
    with pytest.raises(ValueError) as info:
        report.update_readme(run_report, path)
    message = str(info.value)
    assert str(path) in message and "no results block" in message, message
    assert "results:start" in message and "results:end" in message, message
    assert path.read_text(encoding="utf-8") == original, "a failed update changed the README"


def test_readme_block_has_no_timestamp(run_report):
    first = RunReport(run_report.results, {**run_report.environment, "time": "2024-01-01T00:00:00+00:00"})
    second = RunReport(run_report.results, {**run_report.environment, "time": "2031-12-31T23:59:59+00:00"})
    block = report.readme_block(first)
    assert block == report.readme_block(second), f"time leaks into the block:\n{block}"
    assert "2024" not in block and run_report.environment["time"] not in block, block
    # The block does depend on the environment where it should: the framework versions.
    newer = RunReport(run_report.results, {**first.environment, "paddle": "9.9.9"})
    assert report.readme_block(newer) != block and "paddle 9.9.9" in report.readme_block(newer), block
    assert block.splitlines()[1].startswith("6 pass, 1 fail, 1 error, 0 skipped, 1 not-applicable ("), block.splitlines()[1]
