"""The LICENSE file is the license pyproject.toml declares, declared the non-deprecated way (PEP 639)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[1]


def test_license_file_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0", "an SPDX expression, not the deprecated table"
    assert project["project"]["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.split("\n")[0].strip() == "Apache License" and "Version 2.0, January 2004" in text
    assert text.rstrip().endswith("END OF TERMS AND CONDITIONS")
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert "77" in SpecifierSet(setuptools.removeprefix("setuptools")), "setuptools < 77 rejects the SPDX string"
