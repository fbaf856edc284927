"""Sweeps: hypothesis draws variants of a case around its own values and checks that every check still
meets its expectation, then shrinks a failure to the variant closest to the case as written.

A case declares what it sweeps in ``[sweep.ranges]`` by dotted keys of its own file (``optimizer.lr``,
``model.sizes[1]``, ``loss_weight``), so a new optimizer's hyper-parameters are swept with no code here:
a variant is the raw TOML with those keys set, loaded and validated by the normal loader.

Each key's range is a grid (``steps`` points, linear or log; whole numbers for integer ranges). Hypothesis
draws, per key, a signed offset from the grid point of the case's own value, and shrinks offsets towards
zero, so the minimal counter-example changes as few keys as possible, each as little as possible: it marks
the edge of the regime where the case's verdicts hold, seen from the case. Drawn values are rounded to
``SIGNIFICANT_DIGITS`` so a counter-example can be pasted back into the file and reproduced exactly.

Every variant runs through one Runner (its framework workers stay alive across examples). Results are
cached by value, so hypothesis' replays cost nothing and cannot turn flaky.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, assume, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from . import dotted
from .runner import Result, Runner
from .spec import Case, SpecError, SweepRange, read_raw, variant

SIGNIFICANT_DIGITS = 4


@dataclass(frozen=True)
class Axis:
    """One swept key: its grid, and the grid point the draws are offsets from (the case's own value)."""

    key: str
    range: SweepRange
    base: float | int | None  # the case's value at this key; None when the case has none there
    origin: int
    last: int  # the highest grid position; positions run 0..last

    @classmethod
    def of(cls, key: str, r: SweepRange, base) -> "Axis":
        last = int(r.high - r.low) if r.integer else r.steps
        if isinstance(base, bool) or not isinstance(base, (int, float)):
            base = None
        if base is None:
            origin = 0
        elif r.integer:
            origin = min(max(round(base - r.low), 0), last)
        else:
            t = (_to_axis(r, min(max(base, r.low), r.high)) - _to_axis(r, r.low)) / (
                _to_axis(r, r.high) - _to_axis(r, r.low))
            origin = round(t * last)
        return cls(key, r, base, origin, last)

    @property
    def base_in_range(self) -> bool:
        return self.base is not None and self.range.low <= self.base <= self.range.high

    def value(self, offset: int):
        """The value at ``offset`` grid steps from the case's own value (offset 0 is that value itself)."""
        if offset == 0 and self.base_in_range:
            return self.base
        position = self.origin + offset
        r = self.range
        if r.integer:
            return int(r.low) + position
        if position == 0:
            return r.low
        if position == self.last:
            return r.high
        lo, hi = _to_axis(r, r.low), _to_axis(r, r.high)
        raw = _from_axis(r, lo + (hi - lo) * position / self.last)
        return min(max(float(f"{raw:.{SIGNIFICANT_DIGITS}g}"), r.low), r.high)

    def strategy(self):
        return st.integers(-self.origin, self.last - self.origin)


def _to_axis(r: SweepRange, x: float) -> float:
    return math.log(x) if r.scale == "log" else x


def _from_axis(r: SweepRange, u: float) -> float:
    return math.exp(u) if r.scale == "log" else u


def axes_of(case: Case, raw: dict) -> list[Axis]:
    return [Axis.of(key, r, _base_value(case, raw, key)) for key, r in case.sweep.ranges.items()]


def _base_value(case: Case, raw: dict, key: str):
    """The case's value at ``key``: as written in the file, else the loader's default for it."""
    try:
        return dotted.get(raw, key)
    except KeyError:
        pass
    node = case
    for part in dotted.parse(key):
        try:
            node = node[part] if isinstance(part, int) or isinstance(node, dict) else getattr(node, part)
        except (AttributeError, IndexError, KeyError, TypeError):
            return None
    return node


@dataclass
class Example:
    values: dict
    ok: bool
    failing: list[Result]  # the results whose status is fail or error
    phase: str  # generate | shrink: before or after the first failure
    seconds: float

    def changed(self, axes: list[Axis]) -> dict:
        return {a.key: self.values[a.key] for a in axes if self.values[a.key] != a.base}


@dataclass
class SweepOutcome:
    case: Case
    axes: list[Axis]
    examples: list[Example] = field(default_factory=list)
    counterexample: Example | None = None
    seed: int = 0
    max_examples: int = 0
    max_seconds: float | None = None
    elapsed: float = 0.0
    out_of_time: bool = False  # the time budget ended the search (or the shrinking) early
    rejected: int = 0  # drawn variants the loader refused
    environment: dict = field(default_factory=dict)
    error: str = ""  # the sweep itself could not run
    unavailable: set[str] = field(default_factory=set)  # why a framework's checks were skipped (not installed)

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        return "counterexample" if self.counterexample is not None else "no-counterexample"

    @property
    def ok(self) -> bool:
        return self.status == "no-counterexample"

    def nearest_passing(self) -> dict:
        """For each key the counter-example changed: the closest value that passed with every other key as
        in the counter-example, so the edge of the regime is bracketed (e.g. passes at 0.298, fails at 0.301)."""
        found = {}
        ce = self.counterexample
        if ce is None:
            return found
        positions = {a.key: a for a in self.axes}
        for key in ce.changed(self.axes):
            same_elsewhere = [e for e in self.examples if e.ok and e.values[key] != ce.values[key]
                              and all(e.values[k] == v for k, v in ce.values.items() if k != key)]
            if same_elsewhere:
                axis = positions[key]
                best = min(same_elsewhere, key=lambda e: abs(_position(axis, e.values[key]) -
                                                             _position(axis, ce.values[key])))
                found[key] = best.values[key]
        return found


def _position(axis: Axis, value) -> float:
    r = axis.range
    if r.integer:
        return float(value)
    return (_to_axis(r, value) - _to_axis(r, r.low)) / (_to_axis(r, r.high) - _to_axis(r, r.low))


class _Counterexample(Exception):
    def __init__(self, example: Example):
        super().__init__(f"counter-example {example.values}")
        self.example = example


def run_sweep(case: Case, runner: Runner, examples: int | None = None, seed_value: int = 0,
              max_seconds: float | None = None, raw: dict | None = None, progress=None) -> SweepOutcome:
    """Sweep ``case`` (which must have a [sweep] table) through ``runner``. ``examples`` defaults to the
    case's ``sweep.examples``; ``max_seconds`` stops drawing (and shrinking) once spent, after at least one
    variant; ``progress`` is
    called with each Example that ran."""
    if case.sweep is None:
        raise ValueError(f"{case.id} has no [sweep] table")
    raw = read_raw(case.path) if raw is None else raw
    outcome = SweepOutcome(case, axes_of(case, raw), seed=seed_value,
                           max_examples=examples or case.sweep.examples, max_seconds=max_seconds)
    cache: dict[tuple, Example] = {}
    start = time.monotonic()

    def run_variant(values: dict) -> Example | None:
        if max_seconds is not None and outcome.examples and time.monotonic() - start > max_seconds:
            outcome.out_of_time = True
            return None  # not run and not cached: the budget is spent (the first variant always runs)
        try:
            varied = variant(raw, values, case.path)
        except SpecError:
            outcome.rejected += 1
            assume(False)
        began = time.monotonic()
        report = runner.run([varied])
        failing = [r for r in report.results if r.status not in ("pass", "skipped", "not-applicable")]
        outcome.unavailable |= {r.message for r in report.results if r.observed == "skipped"}
        phase = "shrink" if any(not e.ok for e in outcome.examples) else "generate"
        example = Example(values, not failing, failing, phase, time.monotonic() - began)
        outcome.examples.append(example)
        outcome.environment = report.environment
        if progress is not None:
            progress(example)
        return example

    def property_holds(offsets: dict) -> None:
        values = {a.key: a.value(offsets[a.key]) for a in outcome.axes}
        key = tuple(values.items())
        if key not in cache:
            example = run_variant(values)
            if example is None:
                return
            cache[key] = example
        if not cache[key].ok:  # one raise site: hypothesis tells failures apart by where they are raised
            raise _Counterexample(cache[key])

    strategy = st.fixed_dictionaries({a.key: a.strategy() for a in outcome.axes})
    search = settings(max_examples=outcome.max_examples, deadline=None, database=None, derandomize=False,
                      phases=[Phase.explicit, Phase.generate, Phase.shrink], report_multiple_bugs=False,
                      suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, print_blob=False)
    test = seed(seed_value)(search(given(strategy)(property_holds)))
    try:
        test()
    except _Counterexample as found:
        outcome.counterexample = found.example
    except Unsatisfiable:
        outcome.error = f"no valid variant among the draws ({outcome.rejected} refused by the loader)"
    outcome.elapsed = time.monotonic() - start
    return outcome
