"""Case files for the harness tests: a nested dict written as TOML (inline tables only), then loaded."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from equivalence.spec import Case, load_case

TINY = {
    "id": "tiny",
    "description": "a tiny non-square two-layer model",
    "model": {"sizes": [3, 4, 2], "bias": True},
    "data": {"seed": 0, "batch_size": 2},
    "optimizer": {"name": "sgd", "lr": 0.1},
}


def tiny(**top) -> dict:
    """A fresh copy of TINY with top-level keys replaced (None deletes a key)."""
    doc = copy.deepcopy(TINY)
    for key, value in top.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {v!r}")


def dumps(doc: dict) -> str:
    return "".join(f"{json.dumps(k)} = {_value(v)}\n" for k, v in doc.items())


def write(folder: Path, doc: dict | str, name: str = "case.toml") -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else dumps(doc), encoding="utf-8")
    return path


def load(folder: Path, doc: dict | str, name: str = "case.toml") -> Case:
    return load_case(write(folder, doc, name))
