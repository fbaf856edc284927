"""``./dev test`` installs Chromium (for the HTML report's browser test) when none is on PATH and apt-get can,
quietly, and only for ``test``. Run against a copy of ``dev`` with stand-ins for apt-get, id, the browser
and the virtual environment's python, so nothing is installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[1]


def executable(path: Path, text: str) -> None:
    path.write_text("#!/bin/sh\n" + text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def sandbox(tmp_path):
    """A copy of dev and pyproject.toml, a venv whose python echoes its arguments, and a PATH of stand-ins."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "dev", root / "dev")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    venv = root / ".venv"
    (venv / "bin").mkdir(parents=True)
    executable(venv / "bin" / "python", 'echo "python $*"\n')
    digest = subprocess.run(["sha256sum", str(root / "pyproject.toml")], capture_output=True, text=True,
                            check=True).stdout[:16]
    (venv / f".installed-{digest}").touch()  # installed: dev skips pip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sha256sum", "cut", "dirname", "rm", "touch"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    log = tmp_path / "apt.log"
    executable(bin_dir / "apt-get", f'echo "apt-get $*" >> {log}\nexit ${{APT_EXIT:-0}}\n')
    executable(bin_dir / "id", 'echo "${FAKE_UID:-0}"\n')
    return root, bin_dir, log


def dev(sandbox, *args, **env) -> tuple[subprocess.CompletedProcess, list[str]]:
    root, bin_dir, log = sandbox
    environ = {"PATH": str(bin_dir), "HOME": str(root), **env}
    done = subprocess.run(["/bin/bash", str(root / "dev"), *args], capture_output=True, text=True, env=environ,
                          timeout=60)
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return done, calls


def test_test_installs_chromium_when_missing(sandbox):
    done, calls = dev(sandbox, "test", "-k", "html")
    assert done.returncode == 0, done.stderr
    assert calls == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends chromium"], calls
    assert "installing chromium" in done.stderr and done.stdout.strip() == "python -m pytest -k html", done


def test_a_failed_install_still_runs_the_tests(sandbox):
    done, calls = dev(sandbox, "test", APT_EXIT="100")
    assert calls == ["apt-get update -qq"], calls  # the update failed, so no install was tried
    assert done.returncode == 0 and done.stdout.strip() == "python -m pytest", (done.stdout, done.stderr)
    assert "chromium could not be installed; the browser test will be skipped" in done.stderr, done.stderr


@pytest.mark.parametrize("args, env", [
    (["test"], {"EQUIVALENCE_CHROMIUM": "/opt/browser"}),  # a browser named explicitly
    (["run"], {}),  # only `test` needs one
    (["test"], {"FAKE_UID": "1000"}),  # apt-get needs root
])
def test_no_install_when_not_needed_or_not_possible(sandbox, args, env):
    done, calls = dev(sandbox, *args, **env)
    assert done.returncode == 0 and calls == [], (calls, done.stderr)
    assert "installing chromium" not in done.stderr, done.stderr


def test_no_install_when_a_browser_is_on_path(sandbox):
    executable(sandbox[1] / "chromium", "exit 0\n")
    done, calls = dev(sandbox, "test")
    assert done.returncode == 0 and calls == [], (calls, done.stderr)
