"""The markers of case items, registered when pytest starts so ``--strict-markers`` accepts them and
``pytest --markers`` lists them: the check kinds, the backends, and the tags of the case files under the
session's paths (read as plain TOML: a malformed file is reported when it is collected, not here)."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest

from .backends import BACKENDS
from .spec import Case, SpecError, read_raw

CHECK_KINDS = {
    "equivalence": "a framework route against the float64 NumPy reference",
    "direct": "Paddle against Torch, route by route",
    "rounding": "the reference in the case dtype against the float64 one (how much is plain rounding)",
    "sensitivity": "a perturbed reference the case's tolerance must detect (its 'equal' verdicts can fail)",
}

_REGISTERED = pytest.StashKey[set]()


def register(config: pytest.Config) -> None:
    # Markers declared in the ini file (pyproject's paddle, torch, sweep) keep their text.
    config.stash[_REGISTERED] = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    _add(config, "sweep", "a bounded hyper-parameter sweep of a case ([sweep] table)")
    for kind, meaning in CHECK_KINDS.items():
        _add(config, kind, f"check kind: {meaning}")
    for backend in BACKENDS:
        _add(config, backend, f"an item that runs {backend}")
    for tag, ids in sorted(tags_of_cases(_case_files(config)).items()):
        _add(config, tag, _tag_text(ids))


def register_case(config: pytest.Config, case: Case) -> None:
    """The tags of a collected case that the start-up scan did not see (a path given after it)."""
    for tag in case.tags:
        _add(config, tag, _tag_text([case.id]))


def _tag_text(case_ids: list[str]) -> str:
    case_ids = sorted(case_ids)
    shown = ", ".join(case_ids[:3]) + (", ..." if len(case_ids) > 3 else "")
    return f"case tag of {len(case_ids)} case{'s' if len(case_ids) != 1 else ''} ({shown})"


def _add(config: pytest.Config, name: str, text: str) -> None:
    registered = config.stash[_REGISTERED]
    if name not in registered:
        registered.add(name)
        config.addinivalue_line("markers", f"{name}: {text}")


def tags_of_cases(files) -> dict[str, list[str]]:
    """tag -> ids of the case files carrying it; files that do not parse are left to collection."""
    tags: dict[str, list[str]] = {}
    for path in files:
        try:
            doc = read_raw(path)  # bounded: a file nested 500 deep or of 5000-digit integers is a SpecError
        except SpecError:
            continue
        found = doc.get("tags", [])
        if not isinstance(found, list):
            continue
        for tag in found:
            if isinstance(tag, str) and tag:
                tags.setdefault(tag, []).append(str(doc.get("id", path.stem)))
    return tags


def is_case_file(path: Path) -> bool:
    """The rule of the plugin's pytest_collect_file."""
    return path.suffix == ".toml" and "cases" in path.parts[:-1]


def _case_files(config: pytest.Config) -> list[Path]:
    skip = config.getini("norecursedirs")
    root = config.invocation_params.dir
    files: list[Path] = []
    for arg in config.args:
        path = (root / str(arg).split("::", 1)[0]).resolve()
        if path.is_file():
            files += [path] if is_case_file(path) else []
            continue
        for folder, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not any(fnmatch.fnmatch(d, p) for p in skip))
            files += [p for p in (Path(folder, n) for n in sorted(names)) if is_case_file(p)]
    return files
