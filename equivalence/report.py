"""Reports: ``latest.json`` (the contract other tools read), ``latest.md`` (for a CI job summary: counts,
then failures and stale expectations, then the full table) and ``latest.html`` (``html_report.py``: filters
and per-step error plots).

All are rendered first, then written to temporary files in the target folder and moved into place with
``os.replace``, so a reader sees the old reports or the new ones, never half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tabulate import tabulate

from . import html_report
from .html_report import is_stale
from .runner import SCHEMA_VERSION, STATUSES, Result, RunReport
from .text import inert
from .spec import Case
from .spec.limits import is_safe_id

# GitHub refuses a job summary over 1 MiB; the full table is cut to stay under this, saying so.
MD_MAX_BYTES = 1_000_000


def to_json(report: RunReport) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "environment": report.environment,
        "summary": report.counts(),
        "results": [r.to_json() for r in report.results],
    }


def write_atomic(files: dict[Path, str]) -> None:
    """Write every file to a temporary sibling first, then rename them all into place, as one set: a failure
    while writing or renaming puts every old file back (kept as a hard link until the set is in place), so a
    reader sees the old set or the new one, never a mix and never a half-written file."""
    temps: dict[Path, str] = {}
    backups: dict[Path, str | None] = {}  # target -> its previous content's link (None: there was none)
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            temps[path] = tmp
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read (CI artifacts)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for path in temps:
            backups[path] = _keep_old(path)
        replaced = []
        try:
            for path, tmp in temps.items():
                os.replace(tmp, path)
                replaced.append(path)
        except BaseException:
            for path in replaced:  # undo, so the old set stays whole
                if backups[path] is not None:
                    os.replace(backups.pop(path), path)
                else:
                    path.unlink(missing_ok=True)
            raise
    finally:
        for tmp in [*temps.values(), *(b for b in backups.values() if b)]:
            Path(tmp).unlink(missing_ok=True)


def _keep_old(path: Path) -> str | None:
    """A hard link to the file at ``path`` (its old content, for an undo), or None when there is none."""
    if not path.exists():
        return None
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a report file")
    fd, backup = tempfile.mkstemp(prefix=f".{path.name}.old.", dir=path.parent)
    os.close(fd)
    os.unlink(backup)
    try:
        os.link(path, backup)
    except OSError:  # a file system without hard links
        shutil.copy2(path, backup)
    return backup


def report_files(report: RunReport, out_dir: str | Path, stem: str = "latest",
                 cases: Iterable[Case] = ()) -> dict[Path, str]:
    """latest.json, latest.md and latest.html, rendered; ``cases`` (the run's Case objects) add descriptions
    and parity mappings to the HTML."""
    out_dir = Path(out_dir)
    return {out_dir / f"{stem}.json": json.dumps(to_json(report), indent=2, allow_nan=False) + "\n",
            out_dir / f"{stem}.md": markdown(report),
            out_dir / f"{stem}.html": html_report.render(report, cases)}


def write_reports(report: RunReport, out_dir: str | Path, stem: str = "latest",
                  cases: Iterable[Case] = ()) -> list[Path]:
    """The reports of ``report_files``, written as one set."""
    # Render all before writing any, so a rendering bug leaves the previous reports untouched.
    files = report_files(report, out_dir, stem, cases)
    write_atomic(files)
    return list(files)


def _err(x) -> str:
    return "" if x is None else f"{x:.2e}"


def md_text(text: object) -> str:
    """Case and framework text made inert in Markdown: one line, no table breaks, no HTML, no control
    characters. Backticks stay (authors mark code with them); on one line, a code span cannot reach past
    the item or cell, and inside one the escaped `<` shows as written."""
    text = " ".join(inert(text).split())
    return text.replace("\\|", "\\\\|").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def md_code(text: object) -> str:
    """Case text as a Markdown code span: shown literally. Entities are not decoded inside one, so only the
    backtick needs care: the fence is one backtick longer than the longest run inside. Not for table cells
    (a `|` ends a GitHub table cell even inside a code span): md_text there."""
    text = " ".join(inert(text).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    if not longest:
        return f"`{text}`"
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _where(r: Result) -> str:
    """The first divergence, with the explanation's sentence beside it."""
    where = "" if r.first_divergence is None else r.first_divergence.describe()
    if r.explanation is not None:
        where += f" [{r.explanation.kind}] {r.explanation.text}"
    return where.strip()


def _note(r: Result) -> str:
    if r.observed == "divergent":
        return _where(r)
    return r.message if r.status != "pass" else ""


def _table_rows(results: list[Result], fmt: str) -> list[list[str]]:
    clean = md_text if fmt == "github" else (lambda x: x)
    return [[clean(c) for c in (r.case, r.implementation, r.compared_with, r.expected, r.observed, r.status,
                                _err(r.max_abs_error), _err(r.max_rel_error), _note(r))] for r in results]


TABLE_HEADERS = ["case", "implementation", "compared with", "expected", "observed", "status",
                 "max abs err", "max rel err to scale", "first divergence / note"]


def results_table(results: list[Result], fmt: str = "github") -> str:
    return tabulate(_table_rows(results, fmt), headers=TABLE_HEADERS, tablefmt=fmt, disable_numparse=True)


def summary_line(report: RunReport) -> str:
    counts = report.counts()
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def markdown(report: RunReport, max_bytes: int = MD_MAX_BYTES) -> str:
    """Counts first, then failures and errors, stale expectations, expected divergences, the full table last.

    Over ``max_bytes`` (GitHub's job summary limit) the lists are cut in reverse order of importance, the table
    first, each saying how many entries it leaves out; counts and environment always stay."""
    env = report.environment
    results = report.results
    stale = [r for r in results if is_stale(r)]
    problems = [r for r in results if r.status in ("fail", "error") and not is_stale(r)]
    divergent = [r for r in results if r.expected == "divergent" and r.kind != "sensitivity" and r.status == "pass"]
    head = "\n".join([
        "# Equivalence report", "",
        f"{summary_line(report)}.", "",
        f"{len(results)} checks; {len(problems)} failures and errors, {len(stale)} stale expectations, "
        f"{len(divergent)} expected divergences.", "",
        "Environment: " + ", ".join(f"{k} {md_text(env[k])}" for k in ("python", "numpy", "paddle", "torch", "device")
                                    if k in env)
        + f"; {md_text(env.get('platform', ''))}; {md_text(env.get('time', ''))}.", ""])
    sections = []  # (heading and intro, items)
    if problems:
        sections.append(("## Failures and errors\n",
                         [f"- {md_code(r.test_id)} ({r.status}): {md_text(r.message)}" for r in problems]))
    if stale:
        sections.append(("## Stale expectations\n\nDeclared divergences that no longer occur: the frameworks now "
                         "agree. Remove the `[[expect.divergent]]` entry (or find out what changed).\n",
                         [f"- {md_code(r.test_id)}: {md_text(r.reason)} [{md_text('; '.join(r.references))}]; "
                          f"{md_text(r.message)}" for r in stale]))
    if divergent:
        sections.append(("## Expected divergences\n",
                         [f"- {md_code(r.test_id)}: {md_text(r.reason)} [{md_text('; '.join(r.references))}]"
                          for r in divergent]))
    rows = _table_rows(results, "github")

    def size(text: str) -> int:
        return len(text.encode("utf-8"))

    def text_with(kept: list[int], table_rows: int) -> str:
        parts = [head]
        for (heading, items), n in zip(sections, kept):
            parts.append(heading)
            parts += items[:n]
            if n < len(items):
                parts.append(f"\n{len(items) - n} more are left out to keep this summary under {max_bytes} bytes; "
                             "every result is in latest.json and latest.html.")
            parts.append("")
        parts += ["## All results", ""]
        if table_rows:
            parts.append(tabulate(rows[:table_rows], headers=TABLE_HEADERS, tablefmt="github", disable_numparse=True))
        if table_rows < len(rows):
            parts += ["", _cut_note(len(rows) - table_rows, max_bytes)]
        return "\n".join(parts) + "\n"

    kept = [len(items) for _, items in sections]
    text = text_with(kept, len(rows))
    if size(text) <= max_bytes:
        return text
    # Fill the budget in order of importance: failures, stale, expected divergences, then table rows.
    kept = [0] * len(sections)
    for k, (_, items) in enumerate(sections):
        lo, hi = 0, len(items)
        while lo < hi:  # the most items of this section that fit with none of the later ones
            mid = (lo + hi + 1) // 2
            trial = kept[:k] + [mid] + kept[k + 1:]
            lo, hi = (mid, hi) if size(text_with(trial, 0)) <= max_bytes else (lo, mid - 1)
        kept[k] = lo
    lo, hi = 0, len(rows)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if size(text_with(kept, mid)) <= max_bytes else (lo, mid - 1)
    return text_with(kept, lo)


def _cut_note(left_out: int, max_bytes: int) -> str:
    return (f"{left_out} more results are left out of this table to keep this summary under {max_bytes} bytes "
            "(GitHub's job summary limit is 1 MiB); every result is in latest.json and latest.html.")


README_START = "<!-- results:start (generated by `python -m equivalence run --readme README.md`) -->"
README_END = "<!-- results:end -->"


def readme_block(report: RunReport) -> str:
    """A per-case summary with no timestamps, so an unchanged run leaves the README unchanged."""
    by_case: dict[str, list[Result]] = {}
    for r in report.results:
        by_case.setdefault(r.case, []).append(r)
    rows = []
    for case, results in by_case.items():
        counts = {s: sum(r.status == s for r in results) for s in STATUSES}
        divergent = sorted({r.implementation for r in results
                            if r.expected == "divergent" and r.kind != "sensitivity" and r.status == "pass"})
        rows.append([f"`{case}`" if is_safe_id(case) else md_text(case), *(counts[s] for s in STATUSES),
                     ", ".join(divergent)])
    versions = ", ".join(f"{k} {report.environment.get(k, '?')}" for k in ("paddle", "torch", "numpy"))
    table = tabulate(rows, headers=["case", *STATUSES, "expected divergent"],
                     tablefmt="github")
    return f"{README_START}\n{summary_line(report)} ({versions}).\n\n{table}\n{README_END}"


def update_readme(report: RunReport, path: str | Path) -> None:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{path}: no results block; add the line {README_START!r} and, after it, {README_END!r}")
    write_atomic({path: text[:start] + readme_block(report) + text[end + len(README_END):]})
