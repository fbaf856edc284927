"""Verdicts near the allowance: a float32 comparison whose worst error lies within a factor MARGIN of the
tolerance, either side, could read the other way on other data. The note says so and names the float64 run
that decides it, where the tolerance is 1e-10 and rounding no longer hides a difference."""

from __future__ import annotations

import math

MARGIN = 2.0


def worst_ratio(comparison) -> float:
    """The largest error in units of the allowed error (|a - b| / (atol + rtol*|b|)) over every quantity but
    the hyper-parameters, which compare at their own fixed tolerance; 0 when nothing was compared."""
    ratios = [d.max_tolerance_ratio for d in comparison.details if not d.quantity.startswith("hyper.")]
    return max((r for r in ratios if math.isfinite(r)), default=0.0)


def margin_note(case, comparison) -> str:
    """A sentence for the result message of a float32 check near its allowance, else ''."""
    if case.dtype != "float32" or comparison is None or comparison.structural:
        return ""
    if any(d.quantity.startswith("hyper.") and d.mismatches for d in comparison.details):
        return ""  # a hyper-parameter read back differently decides the verdict, whatever the rounding
    ratio = worst_ratio(comparison)
    if not 1 / MARGIN <= ratio <= MARGIN:
        return ""
    side = "within" if ratio <= 1 else "past"
    return (f" Near the float32 allowance: the worst error is {ratio:.2f}x the tolerance ({side} it), so other data "
            f"could give the other verdict; the float64 run decides it: the same case with dtype = \"float64\".")
