"""The README's own subset example, ``python -m equivalence run --cases cases/dropout``, run with the real
frameworks in a git copy of this checkout, leaves ``git status`` clean: its reports are ignored files and the
committed catalogue (which describes every case) is not rewritten by a subset run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def checkout(tmp_path) -> Path:
    """The checkout's tracked and unignored files, committed in a fresh repository."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout")
    copy = tmp_path / "checkout"
    for name in git(REPO, "ls-files", "-co", "--exclude-standard", "-z").split("\0"):
        source = REPO / name
        if name and source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot")
    return copy


def test_a_subset_run_leaves_the_checkout_clean(checkout):
    done = subprocess.run([sys.executable, "-m", "equivalence", "run", "--cases", "cases/dropout"], cwd=checkout,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (checkout / "reports" / "latest.json").is_file(), "the run wrote no report"
    assert "catalogue.md" not in done.stdout, done.stdout[-500:]
    assert git(checkout, "status", "--porcelain") == "", git(checkout, "status", "--porcelain")
    # The real frameworks' report follows the published schema (tests/test_schemas.py for the rest).
    from .test_schemas import errors
    report = json.loads((checkout / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert not errors("report", report), errors("report", report)[:5]
