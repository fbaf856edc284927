"""Step files: each framework worker writes one file per step, so neither the worker nor the harness holds a
whole trajectory of a large model (memory stays at a few steps whatever the step count)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEPARATOR = "|"


def step_path(folder: str | Path, framework: str, step: int) -> Path:
    return Path(folder) / f"{framework}-{step:05d}.npz"


def write_step(folder: str | Path, framework: str, step: int, record: dict[str, dict[str, np.ndarray]]) -> None:
    arrays = {f"{quantity}{SEPARATOR}{name}": np.asarray(value)
              for quantity, by_name in record.items() for name, value in by_name.items()}
    path = step_path(folder, framework, step)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)  # whole or not at all


def read_step(folder: str | Path, framework: str, step: int) -> dict[str, dict[str, np.ndarray]]:
    record: dict[str, dict[str, np.ndarray]] = {}
    with np.load(step_path(folder, framework, step)) as stored:
        for key in stored.files:
            quantity, _, name = key.partition(SEPARATOR)
            record.setdefault(quantity, {})[name] = stored[key].astype(np.float64)
    return record
