"""The README's promises: two commands first, CI runs the second, and the generated results block is
current with cases/ (a case added, removed or given other checks without regenerating it fails here)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from equivalence.backends import BACKENDS
from equivalence.plan import plan
from equivalence.report import README_END, README_START
from equivalence.runner import load_all
from equivalence.spec import Case

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def commands(text: str) -> list[str]:
    """Shell commands of a script or code block: comments and blank lines dropped."""
    out = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(" ".join(words))
    return out


def results_block() -> str:
    start, end = README.find(README_START), README.find(README_END)
    assert 0 <= start < end, f"README.md: results markers missing or out of order ({start}, {end})"
    return README[start + len(README_START):end]


def block_rows() -> dict[str, list[int]]:
    """case id -> [pass, fail, error, skipped(, not-applicable)] from the block's table (a block generated
    before not-applicable became a status has four counts)."""
    rows = {}
    for line in results_block().splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|((?:\s*\d+\s*\|)+)", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} twice in the README block"
            rows[m.group(1)] = [int(g) for g in m.group(2).replace("|", " ").split()]
    return rows


def test_readme_opens_with_the_two_commands():
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", README, flags=re.S | re.M)
    assert blocks, "README.md has no code block"
    first = README.find("```")
    assert README[:first].count("\n") <= 3, f"the first code block starts on line {README[:first].count(chr(10)) + 1}"
    assert commands(blocks[0]) == ["./dev run", "./dev test"], f"first code block: {blocks[0]!r}"


def test_ci_runs_the_readme_test_command():
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK) and os.access(REPO / "dev", os.X_OK), "'.ci/run' and 'dev' must be executable"
    ci_commands = commands(ci.read_text(encoding="utf-8"))
    assert any(c == "./dev test" or c.startswith("./dev test ") for c in ci_commands), ci_commands
    dev = (REPO / "dev").read_text(encoding="utf-8")
    for sub in ("run", "test"):
        assert re.search(rf"^\s*{sub}\) exec ", dev, flags=re.M), f"./dev has no {sub!r} command:\n{dev}"


def test_results_block_names_every_case():
    loaded = load_all([REPO / "cases"])
    broken = [str(i) for i in loaded if not isinstance(i, Case)]
    assert not broken, f"malformed case files: {broken}"
    ids = {c.id for c in loaded}
    assert len(ids) >= 10, f"only {sorted(ids)} under cases/"
    rows = block_rows()
    assert not ids - set(rows), (f"README results block lacks {sorted(ids - set(rows))}; "
                                 "regenerate it: python -m equivalence run --readme README.md")
    assert not set(rows) - ids, f"README results block names cases that no longer exist: {sorted(set(rows) - ids)}"


def test_results_block_is_consistent_with_the_cases():
    rows = block_rows()
    expected_checks = {c.id: len(plan(c, list(BACKENDS))) for c in load_all([REPO / "cases"])}
    wrong = {cid: (sum(rows[cid]), n) for cid, n in expected_checks.items() if cid in rows and sum(rows[cid]) != n}
    assert not wrong, f"case -> (results in README, checks now) differ; regenerate the README: {wrong}"
    summary = results_block().strip().splitlines()[0]
    width = len(next(iter(rows.values())))
    totals = [sum(r[i] for r in rows.values()) for i in range(width)]
    names = ("pass", "fail", "error", "skipped", "not-applicable")[:width]
    assert summary.startswith(", ".join(f"{n} {k}" for n, k in zip(totals, names)) + " ("), (summary, totals)
    assert "paddle " in summary and "torch " in summary and "numpy " in summary, summary
