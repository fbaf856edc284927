"""Comparison of two step-file runs, one step at a time (equivalence/compare.py's rules, bounded memory)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..compare import Comparison, compare
from ..record import Trajectory
from ..spec import Case


def merge_step(total: Comparison, part: Comparison, step: int) -> None:
    """Adds a one-step comparison to the running total, numbering it as ``step`` (0: the initial weights)."""
    for detail in part.details:
        detail.step = step
        total.details.append(detail)
    total.compared += part.compared
    total.mismatches += part.mismatches
    total.max_abs_error = max(total.max_abs_error, part.max_abs_error)
    total.max_rel_error = max(total.max_rel_error, part.max_rel_error)
    if total.first is None and part.first is not None:
        total.first = dataclasses.replace(part.first, step=step)
    total.quantities = tuple(dict.fromkeys(total.quantities + part.quantities))
    if part.structural:
        total.structural = "; ".join(filter(None, [total.structural, f"step {step}: {part.structural}"]))


def compare_records(actual: dict, expected: dict, case: Case, quantities: set[str] | None = None) -> Comparison:
    return compare(Trajectory(steps=[actual]), Trajectory(steps=[expected]), case, quantities)


def compare_initial(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], case: Case) -> Comparison:
    """Step 0: the weights each model starts from, after the copy (a conversion bug shows here)."""
    return compare_records({"param": actual}, {"param": expected}, case)
