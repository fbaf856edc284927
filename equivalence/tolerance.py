"""What each compared value is held to: the dtype table, a hand-set tolerance, or (float32) a bound derived
from the measured rounding error of the float32 reference.

The table (``|a - e| <= atol + rtol*|e|`` element-wise) is exact for float64 and for the small float32 cases.
At scale it is not: a matmul summing 1000 terms, or Adam's first step (about lr*g/|g|, which flips with the
rounding of a tiny gradient), puts single float32 elements well outside rtol 1e-5 / atol 1e-6 although
nothing but rounding happened. The suite runs the float32 NumPy reference next to the float64 one, so the
size of plain rounding is *measured* for every quantity, parameter and step. The derived rule:

- an element within the table passes (the table is the floor: a small case keeps its verdicts);
- where some element of a (quantity, parameter, step) is outside the table, the entry passes only if
  (a) every element is within ``ELEMENT_FACTOR`` x the float32 reference's worst-element error there, and
  (b) the RMS of the error over the tensor is within ``RMS_FACTOR`` x the float32 reference's RMS error.

(b) is what separates rounding from a wrong mapping at scale: rounding errors are scattered and average out,
a wrong mapping moves every element. A direct check (Paddle against Torch) allows twice each bound, since
each side may carry the reference's rounding. The constants come from measurements
(tests/test_tolerance.py, README "Tolerances").

The rounding check itself (float32 reference against float64) cannot use a bound derived from itself; it is
held to the table, or beyond it to an RMS error of at most ``ROUNDING_RMS_LIMIT`` x the largest RMS the
float64 values of that quantity have had so far in the run. Cancellation makes rounding a large part of a
vanishing quantity: Adam's update of a bias whose gradient has almost vanished erred by 1.6% of its own RMS
at step 93 of the 1M-parameter MSE case, and that gradient by 1.04% of the largest RMS it had, at step 94
(the summands, not the sum, set float32's error). So the check is a gross one (0.1): a float32 path that
computes something else fails it, and one that is subtly wrong fails the case anyway, because its inflated
rounding would widen the derived bounds until a sensitivity perturbation passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .spec import Case, Tolerance

# Defaults per dtype. float64: the frameworks and NumPy sum in different orders, which costs a few ulps
# per op (~1e-16 relative), far below 1e-10. float32: a few ulps (6e-8) per op across a short training
# run stays below 1e-5 relative; atol covers elements that cancel to ~0 (an update of a tiny gradient).
# A lr perturbation of 1e-3 is 100x above either rtol, which the sensitivity check verifies per case.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-10, atol=1e-12),
    "float32": Tolerance(rtol=1e-5, atol=1e-6),
}

# Hyper-parameters are configuration read back from the optimizer, not computed: Python floats, or tensors
# of the parameter dtype (Paddle Rprop's etas), so they agree to float32 rounding in any case dtype, and a
# float32 case still tells eps 1e-6 from 1e-10. Every differing default differs by far more than 1e-7.
HYPER_TOLERANCE = Tolerance(rtol=1e-7, atol=0.0)

ELEMENT_FACTOR = 8.0
RMS_FACTOR = 8.0
ROUNDING_RMS_LIMIT = 1e-1


def tolerance_for(case: Case, quantity: str) -> Tolerance:
    spec = case.tolerance
    if quantity in spec.quantities:
        return spec.quantities[quantity]
    if quantity.startswith("hyper."):
        return HYPER_TOLERANCE
    if _sampled(case, quantity) is not None:
        return _sampled(case, quantity)  # keep_ratio / batch_agreement: the binomial spread of the draw
    if spec.rtol is not None:
        return Tolerance(rtol=spec.rtol, atol=spec.atol)
    return DEFAULT_TOLERANCES[case.dtype]


def _sampled(case: Case, quantity: str) -> Tolerance | None:
    return case.dropout.sampling_tolerance(quantity) if case.dropout is not None else None


def hand_set(case: Case, quantity: str) -> bool:
    """Whether the quantity's tolerance is set by the case or by statistics, not by rounding (never derived)."""
    spec = case.tolerance
    return (quantity in spec.quantities or spec.rtol is not None or quantity.startswith("hyper.")
            or _sampled(case, quantity) is not None)


@dataclass(frozen=True)
class Bound:
    """What one (step, quantity, parameter) entry is held to. ``element_floor``: beyond the table, elements
    up to this absolute error still pass (inf: any, the RMS decides); ``rms_limit``: when some element is
    outside the table, the RMS error must not exceed it (``rms_relative``: as a multiple of the RMS of the
    expected values). Without either, the table alone decides."""

    tolerance: Tolerance
    element_floor: float = 0.0
    rms_limit: float | None = None
    rms_relative: float | None = None
    rule: str = "table"
    scale: "RoundingRule | None" = None  # keeps the largest RMS of the values per (quantity, parameter)
    key: tuple = ()

    @property
    def derived(self) -> bool:
        return self.rms_limit is not None or self.rms_relative is not None


class RoundingErrors:
    """The float32 reference's error against the float64 one, per (step, quantity, parameter): (RMS,
    worst element). Filled step by step as both references advance; a few floats per entry."""

    def __init__(self):
        self.errors: dict[tuple[int, str, str], tuple[float, float]] = {}

    def record(self, step: int, quantity: str, name: str, rms: float, worst: float) -> None:
        self.errors[(step, quantity, name)] = (rms, worst)

    def get(self, step: int, quantity: str, name: str) -> tuple[float, float] | None:
        return self.errors.get((step, quantity, name))


class TableRule:
    """The dtype table, or the case's hand-set tolerance: element-wise only."""

    def __init__(self, case: Case):
        self.case = case
        self._table: dict[str, Bound] = {}  # per quantity: asked for every entry of every step
        self._hand: dict[str, bool] = {}

    def table(self, quantity: str) -> Bound:
        bound = self._table.get(quantity)
        if bound is None:
            bound = self._table[quantity] = Bound(tolerance_for(self.case, quantity))
        return bound

    def bound(self, step: int, quantity: str, name: str) -> Bound:
        return self.table(quantity)

    def _hand_set(self, quantity: str) -> bool:
        known = self._hand.get(quantity)
        if known is None:
            known = self._hand[quantity] = hand_set(self.case, quantity)
        return known


class DerivedRule(TableRule):
    """float32 without a hand-set tolerance: the table, then the measured rounding (see the module doc).
    ``sides`` is 1 against the reference and 2 for a direct check of two implementations."""

    def __init__(self, case: Case, rounding: RoundingErrors, sides: int = 1):
        super().__init__(case)
        self.rounding, self.sides = rounding, sides

    def bound(self, step: int, quantity: str, name: str) -> Bound:
        plain = self.table(quantity)
        measured = self.rounding.get(step, quantity, name)
        if measured is None or self._hand_set(quantity):
            return plain
        table = plain.tolerance
        rms, worst = measured
        return Bound(table, element_floor=self.sides * ELEMENT_FACTOR * worst,
                     rms_limit=self.sides * RMS_FACTOR * rms, rule="derived")


class RoundingRule(TableRule):
    """The rounding check: the table, or an RMS error within ROUNDING_RMS_LIMIT of the largest RMS the
    quantity's values have had so far in the run (a quantity that cancels towards zero, like Adam's update
    of a bias whose gradient vanishes late in training, keeps the scale it had)."""

    def __init__(self, case: Case):
        super().__init__(case)
        self.largest: dict[tuple, float] = {}
        self._bounds: dict[tuple, Bound] = {}

    def bound(self, step: int, quantity: str, name: str) -> Bound:
        key = (quantity, name)
        bound = self._bounds.get(key)
        if bound is None:
            table = self.table(quantity)
            bound = self._bounds[key] = table if self._hand_set(quantity) else Bound(
                table.tolerance, element_floor=math.inf, rms_relative=ROUNDING_RMS_LIMIT, rule="rounding",
                scale=self, key=key)
        return bound

    def observe(self, key: tuple, rms_values: float) -> float:
        """Note the RMS of a step's values; the scale to hold the error to (the largest so far)."""
        if math.isfinite(rms_values):
            self.largest[key] = max(self.largest.get(key, 0.0), rms_values)
        return self.largest.get(key, 0.0)


def uses_derived_rule(case: Case, random_masks: bool) -> bool:
    """float32 training or probe cases whose float32 reference draws the same values as the implementations
    (no random masks: a replayed mask makes the float32 reference's rounding a different computation)."""
    return case.dtype == "float32" and not random_masks
