"""Does a flavour of the reference reproduce an implementation's run? The comparison behind explain.py's
searches, as the case's equivalence checks compare (a random mask replayed, not compared)."""

from __future__ import annotations

from . import reference
from .compare import Accumulator, compare
from .plan import uses_random_masks
from .record import Trajectory
from .spec import Case

# Flavoured references kept per case, in recorded elements: each implementation's search runs the same ones.
FLAVOURED_CACHE_ELEMENTS = 2_000_000


def reproduces(case: Case, cache: dict):
    """compare_fn of explain.py: does the reference of a flavoured case equal the trajectory, compared as the
    case's equivalence checks compare it (a random mask replayed, not compared)? Most flavours part from the
    trajectory at the first steps: the flavoured reference is computed only as far as the comparison reads
    it, and the comparison stops where they part. ``cache`` (one dict per case) keeps the flavoured runs
    that every implementation's search reads."""

    def compare_fn(actual: Trajectory, flavoured: Case) -> bool:
        if uses_random_masks(case):
            expected = reference.run(flavoured, recorded=actual)
            quantities = _selected(case, actual.quantities() - {"dropout_mask"}, actual, expected)
            return compare(actual, expected, case, quantities).equal
        return equal_until_parted(case, actual, _flavoured_reference(cache, flavoured, actual))
    return compare_fn


class LazyRun:
    """A reference run computed only as far as it is read (and kept for the next search of the case)."""

    def __init__(self, stream):
        self.stream, self.items = stream, []
        self.failure: Exception | None = None  # raised again to every later reader: the run cannot go on

    def item(self, index: int) -> dict | None:
        while len(self.items) <= index and self.stream is not None:
            try:
                self.items.append(next(self.stream))
            except StopIteration:
                self.stream = None
            except Exception as exc:
                self.stream, self.failure = None, exc
        if index >= len(self.items) and self.failure is not None:
            raise self.failure
        return self.items[index] if index < len(self.items) else None


def _flavoured_reference(cache: dict, flavoured: Case, actual: Trajectory) -> LazyRun:
    key = repr(flavoured)
    run = cache.get(key)
    if run is None:
        run = LazyRun(reference.stream(flavoured))
        size = sum(a.size for a in actual.initial.values()) + sum(
            a.size for step in actual.steps for arrays in step.values() for a in arrays.values())
        if size * (len(cache) + 1) <= FLAVOURED_CACHE_ELEMENTS:  # about the reference's size
            cache[key] = run
    return run


def equal_until_parted(case: Case, actual: Trajectory, expected: LazyRun) -> bool:
    """``compare(actual, expected run, case).equal`` with the case's [compare] selection, checked at steps
    1, 2, 4, 8, ... and stopped where the runs part."""
    select = case.compare.selects if case.compare.restricts else None
    acc = Accumulator(case, select=select)
    acc.initial(actual.initial, expected.item(0) or {})
    checkpoint = 1
    for index, step in enumerate(actual.steps, start=1):
        step_e = expected.item(index)
        if step_e is None:
            acc.seen("actual", step)
            continue
        acc.step(index, step, step_e)
        if index == checkpoint:
            if acc.parted():
                return False
            checkpoint *= 2
    extra = len(actual.steps) + 1
    while (step_e := expected.item(extra)) is not None:  # steps only the reference has
        acc.seen("expected", step_e)
        extra += 1
    return acc.finish(len(actual.steps), max(len(expected.items) - 1, 0)).equal


def _selected(case: Case, quantities: set[str] | None, actual: Trajectory, expected: Trajectory) -> set[str] | None:
    """The quantities a check compares: those the check allows (None: all) that the case's [compare] selects."""
    if not case.compare.restricts:
        return quantities
    candidates = quantities if quantities is not None else actual.quantities() | expected.quantities()
    return {q for q in candidates if case.compare.selects(q)}
