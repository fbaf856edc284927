"""One case compared step by step as its runs produce their records.

Every run of a case is a stream (initial parameters, then one step at a time): the float64 reference,
the case-dtype reference, each perturbed reference (computed here, each once per case), and each framework
implementation (from the workers, interleaved per step). A check is a pair of streams with an
``Accumulator``; as soon as both sides of a pair hold step t, the pair compares it, and a step is dropped
once every open pair that reads it has passed it. References never run ahead of the slowest framework
pair, so the harness holds a step or two of each stream, whatever the number of steps, and keeps only the
per-entry error summaries the reports need.

For float32 cases, the rounding check (float32 reference against float64) is compared first at each step;
its per-entry RMS and worst-element errors are the measured rounding (``RoundingErrors``) that sets the
derived bounds of ``tolerance.py`` for every other pair at that step. An implementation whose random dropout masks the
reference must replay gets its own float64 reference, fed its masks one step at a time.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import reference
from .compare import Accumulator, Comparison, start_kernels
from .perturbations import carries_state, over
from .plan import PERTURBED, REFERENCE, Check, perturb, uses_random_masks
from .record import Trajectory, item_bytes
from .spec import Case
from .tolerance import DerivedRule, RoundingErrors, RoundingRule, TableRule, uses_derived_rule
from .workers import Outcome

REPLAY = "replay/"
PARALLEL_ELEMENTS = 1 << 18  # parameters from which a case's comparisons and references use two threads
# Parameters from which a sensitivity check stops at the first step where it is detected: it has shown that
# the tolerance can fail, and at 1M parameters its perturbed reference and comparison would cost a fifth
# of the run for every later step. Smaller cases compare it to the end (its per-step errors are plotted).
SENSITIVITY_STOP_ELEMENTS = 1 << 18
# Bytes of a framework run kept whole for its explanation, should a check of it diverge (the default cases'
# runs are a few kB to a few MB): above it, the explanation runs the implementation again in its worker.
KEPT_BYTES = 8 << 20
_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=2, thread_name_prefix="equivalence-compare"))
    return _POOL[0]
  # the float64 reference replaying an implementation's masks: REPLAY + implementation id


_END = object()  # what a reference stream computed ahead yields once it has no more items


class _Window:
    """``recorded.steps[t - 1]`` for a replaying reference: the implementation's step t, set just before
    the reference is asked for it."""

    def __init__(self):
        self.steps: dict[int, dict] = {}


class Stream:
    """Items 0 (initial parameters), 1, 2, ... of one run, of which only those still needed are kept."""

    def __init__(self, name: str, generator=None, source: str | None = None):
        self.name, self.generator, self.source = name, generator, source
        self.window = _Window() if source is not None else None
        self.buffer: dict[int, dict] = {}
        self.sizes: dict[int, int] = {}  # bytes of each buffered item
        self.held = 0  # bytes of the arrays in ``buffer`` (kept as items come and go: read at every event)
        # A framework run's every item while they total at most KEPT_BYTES: an explanation reads the run from
        # here instead of running it again in its worker (None: not kept, or over the budget).
        self.kept: list[dict] | None = [] if generator is None else None
        self.kept_bytes = 0
        self.produced = -1  # index of the last item produced
        self.ended = False
        self.pending = None  # a Future of the next item, computed ahead on a pool thread (large models)

    @property
    def generated(self) -> bool:
        return self.generator is not None

    @property
    def steps(self) -> int:
        return max(self.produced, 0)

    def add(self, item: dict) -> None:
        self.produced += 1
        self.buffer[self.produced] = item
        size = self.sizes[self.produced] = item_bytes(item)
        self.held += size
        if self.kept is not None:
            self.kept_bytes += size
            if self.kept_bytes <= KEPT_BYTES:
                self.kept.append(item)
            else:
                self.kept = None

    def drop(self, index: int) -> None:
        del self.buffer[index]
        self.held -= self.sizes.pop(index)

    def clear(self) -> None:
        self.buffer.clear()
        self.sizes.clear()
        self.held = 0
        self.kept = None


class Pair:
    def __init__(self, check: Check, actual: str, expected: str, accumulator: Accumulator):
        self.check, self.actual, self.expected, self.accumulator = check, actual, expected, accumulator
        self.next = 0  # the next item to compare (0: the initial parameters)
        self.closed = False
        self.stopped_at: int | None = None  # a sensitivity check stopped once detected (SENSITIVITY_STOP_ELEMENTS)


class CaseStreams:
    """The streams and pairs of one case; ``feed`` takes the workers' events, ``finish`` drains the rest."""

    def __init__(self, case: Case, checks: list[Check]):
        self.case = case
        self.random_masks = uses_random_masks(case)
        self.derived = uses_derived_rule(case, self.random_masks)
        self.rounding = RoundingErrors()
        self.rounding_name = f"{REFERENCE}/{case.dtype}" if case.dtype != "float64" else None
        self.streams: dict[str, Stream] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.pairs: list[Pair] = []
        self.not_applicable: dict[tuple[str, str], str] = {}
        self.reference_error = ""
        self._rounding_read = 0  # details of the rounding check already recorded into self.rounding
        self._parameters = 0  # of the model, from the float64 reference's initial parameters
        try:
            self.streams[REFERENCE] = Stream(REFERENCE, reference.stream(case))
            if self.rounding_name:
                self.streams[self.rounding_name] = Stream(self.rounding_name, reference.stream(case, dtype=case.dtype))
            for check in checks:
                if check.kind == "sensitivity":
                    variant = perturb(case, check.implementation[len(PERTURBED):])
                    self.streams[check.implementation] = Stream(check.implementation, reference.stream(variant))
        except Exception as exc:
            self._fail_references(exc)
        for check in checks:
            self._pair(check)

    def _rule(self, check: Check):
        if check.kind == "rounding":
            return RoundingRule(self.case)
        if not self.derived:
            return TableRule(self.case)
        return DerivedRule(self.case, self.rounding, sides=2 if check.kind == "direct" else 1)

    def _pair(self, check: Check) -> None:
        quantities, exclude, expected = None, None, check.compared_with
        if self.case.model is not None and self.case.model.init == "framework_default":
            quantities = {"init_z"}  # each framework trains from its own start: only the starts' distributions compare
        elif self.random_masks:
            if check.kind == "direct":
                if self.case.kind != "dropout":
                    self.not_applicable[(check.implementation, check.compared_with)] = (
                        "random dropout masks differ between frameworks; each is compared with the reference "
                        "replaying its own mask")
                    return
                # eval_output is the only mask-free quantity, unless p = 0 or 1 leaves the frameworks no draw
                quantities = None if self.case.dropout.p in (0.0, 1.0) else {"eval_output"}
            elif check.compared_with == REFERENCE and check.backend is not None:
                expected = REPLAY + check.implementation
                exclude = {"dropout_mask"}  # replayed, equal by construction
                if expected not in self.streams:
                    stream = Stream(expected, None, source=check.implementation)
                    stream.generator = reference.stream(self.case, recorded=stream.window)
                    self.streams[expected] = stream
        for name in (check.implementation, expected):
            self.streams.setdefault(name, Stream(name))
        select = self.case.compare.selects if self.case.compare.restricts else None  # [compare], every pair
        accumulator = Accumulator(self.case, quantities, self._rule(check), exclude=exclude, select=select)
        self.pairs.append(Pair(check, check.implementation, expected, accumulator))

    # ------------------------------------------------------------------------------------------ events
    def feed(self, kind: str, name: str, payload, advance: bool = True) -> None:
        """An event of a framework run: ("initial", params), ("step", records) or ("end", Outcome).
        ``advance=False`` only holds it: the caller has more events at hand and advances with the last."""
        stream = self.streams.setdefault(name, Stream(name))
        if kind in ("initial", "step"):
            stream.add(payload)
        else:
            self.outcomes[name] = payload
            stream.ended = True
            if payload.status != "ok":
                stream.clear()
        if advance:
            self._advance()

    def compute_references(self, budget: int, go_on) -> bool:
        """Compute the references' items ahead of any framework run (their pairs compare them once the runs
        come), while ``go_on()`` and the case holds at most ``budget`` bytes; never for a large model. Whether
        every reference ended within them."""
        for stream in self.streams.values():
            if not stream.generated or stream.source is not None:
                continue  # a replaying reference waits for its implementation's masks
            while not stream.ended:
                if not go_on() or self.held_bytes() > budget or self._large():
                    return False
                if not self._pull(stream):
                    break
        return not self.reference_error

    def finish(self) -> None:
        """Every framework run has ended: run the references to their end and close every pair."""
        for stream in self.streams.values():
            if not stream.generated:
                stream.ended = True
        self._advance()

    # ------------------------------------------------------------------------------------------ internals
    def _fail_references(self, exc: Exception) -> None:
        self.reference_error = f"reference failed: {type(exc).__name__}: {exc}"
        for stream in self.streams.values():
            if stream.generated:
                stream.ended = True
                stream.clear()

    def _pull(self, stream: Stream) -> bool:
        """The next item of a reference stream; False when it cannot come (ended, or a replay whose
        implementation has not produced the step yet)."""
        if stream.ended or self.reference_error:
            return False
        if stream.pending is not None:
            future, stream.pending = stream.pending, None
            try:
                item = future.result()
            except Exception as exc:
                self._fail_references(exc)
                return False
            if item is _END:
                stream.ended = True
                return False
            stream.add(item)
            return True
        index = stream.produced + 1
        if stream.source is not None:
            source = self.streams[stream.source]
            needed = max(index, 1)  # the probes compute everything at the first item, from step 1's mask
            if needed not in source.buffer:
                if source.ended:
                    stream.ended = True
                return False
            stream.window.steps = {needed - 1: source.buffer[needed]}
        try:
            item = next(stream.generator)
        except StopIteration:
            stream.ended = True
            return False
        except Exception as exc:
            self._fail_references(exc)
            return False
        stream.add(item)
        return True

    def _reach(self, stream: Stream, t: int) -> None:
        while stream.generated and stream.produced < t and self._pull(stream):
            pass

    def _frontier(self) -> float:
        """The step up to which pairs of two references may run: the furthest open pair that reads a
        framework run (so the references are at most as far ahead as the framework runs themselves)."""
        open_framework = [p.next for p in self.pairs if not p.closed and not (
            self.streams[p.actual].generated and self.streams[p.expected].generated)]
        return max(open_framework, default=math.inf)

    def _rounding_pair(self) -> Pair | None:
        if not self.derived:
            return None
        return next((p for p in self.pairs if p.check.kind == "rounding"), None)

    def _advance(self) -> None:
        progress = True
        rounding = self._rounding_pair()
        while progress:
            progress = False
            frontier = self._frontier()
            candidates, targets = [], {}
            for pair in self.pairs:
                if pair.closed:
                    continue
                t = pair.next
                actual, expected = self.streams[pair.actual], self.streams[pair.expected]
                if actual.generated and expected.generated and t > frontier:
                    continue
                if rounding is not None and pair is not rounding and not rounding.closed and rounding.next <= t:
                    continue  # its derived bounds at step t are not measured yet
                for side in (actual, expected):
                    if side.generated and side.source is None and side.produced < t:
                        targets[side.name] = max(targets.get(side.name, -1), t)
                candidates.append(pair)
            self._reach_all(targets)
            ready = []
            for pair in candidates:
                t = pair.next
                actual, expected = self.streams[pair.actual], self.streams[pair.expected]
                self._reach(actual, t)  # a replaying reference, fed by its implementation
                self._reach(expected, t)
                if t in actual.buffer and t in expected.buffer:
                    ready.append(pair)
                elif (actual.ended and t not in actual.buffer) or (expected.ended and t not in expected.buffer):
                    pair.closed = True
                    progress = True
            if rounding in ready:  # first: its errors are the bounds of the others at this step
                ready.remove(rounding)
                self._compare_all([rounding])
                rounding.next += 1
                progress = True
            self._compare_all(ready)
            for pair in ready:
                pair.next += 1
                progress = True
            self._drop()
        self._step_references_ahead()

    def _step_references_ahead(self) -> None:
        """For a large model, start each reference's next step on a pool thread while the harness waits for the
        framework workers: at most one step beyond the furthest open pair, so memory stays a step or two."""
        if self.reference_error or not self._large():
            return
        open_pairs = [p for p in self.pairs if not p.closed]
        lead = max((p.next for p in open_pairs), default=None)
        if lead is None:
            return
        read = {name for p in open_pairs for name in (p.actual, p.expected)}
        for stream in self.streams.values():
            if (stream.generated and stream.source is None and not stream.ended and stream.pending is None
                    and stream.name in read and stream.produced < lead + 1):
                stream.pending = _pool().submit(next, stream.generator, _END)

    def _large(self, threshold: int = PARALLEL_ELEMENTS) -> bool:
        """A model of at least ``threshold`` parameters (by default: big enough that comparing and stepping
        references on both cores pays for the threads)."""
        initial = self.streams[REFERENCE].buffer.get(0) if REFERENCE in self.streams else None
        if initial is not None:
            self._parameters = sum(v.size for v in initial.values())
        return self._parameters >= threshold

    def _parallel(self, tasks: list) -> None:
        """Run independent tasks (NumPy releases the GIL on large arrays): on two threads for a large model,
        in order otherwise. A task's exception is raised here, as if it had run in order."""
        if len(tasks) < 2 or not self._large():
            for task in tasks:
                task()
            return
        for future in [_pool().submit(task) for task in tasks]:
            future.result()

    def _compare_all(self, pairs: list[Pair]) -> None:
        """Each pair at its next item. For a large model every large entry of every pair starts at once on the
        pool's threads (Accumulator.prefetch, start_kernels), then each pair folds its results in order here."""
        if self._large():
            jobs = []
            for pair in pairs:
                t = pair.next
                if t > 0:
                    jobs += pair.accumulator.prefetch(t, self.streams[pair.actual].buffer[t],
                                                      self.streams[pair.expected].buffer[t])
            start_kernels(jobs, _pool())
        for pair in pairs:
            self._compare(pair, pair.next)

    def _reach_all(self, targets: dict[str, int]) -> None:
        """Every reference stream in ``targets`` up to its index; independent streams advance in parallel."""
        self._parallel([lambda name=name, t=t: self._reach(self.streams[name], t) for name, t in targets.items()])

    def _compare(self, pair: Pair, t: int) -> None:
        a, e = self.streams[pair.actual].buffer[t], self.streams[pair.expected].buffer[t]
        if t == 0:
            pair.accumulator.initial(a, e)
        else:
            pair.accumulator.step(t, a, e)
        if pair is self._rounding_pair():
            self._record_rounding(pair.accumulator)
        elif t > 0 and pair.check.kind == "sensitivity" and self._large(SENSITIVITY_STOP_ELEMENTS):
            details = pair.accumulator.flushed_details()
            if any(over(d) and carries_state(d.quantity) for d in details if d.step == t):
                pair.closed, pair.stopped_at = True, t

    def _record_rounding(self, accumulator: Accumulator) -> None:
        """The rounding check's per-entry errors are the measured float32 rounding: each (RMS, worst element)
        becomes the scale of the derived bounds at that step (non-finite ones are not a scale)."""
        details = accumulator.flushed_details()
        for d in details[self._rounding_read:]:
            if np.isfinite(d.rms_error) and np.isfinite(d.max_abs_error):
                self.rounding.record(d.step, d.quantity, d.name, d.rms_error, d.max_abs_error)
        self._rounding_read = len(details)

    def _drop(self) -> None:
        """Forget every item that no open pair (and no replaying reference) still needs."""
        needs: dict[str, int] = {}
        for pair in self.pairs:
            if not pair.closed:
                for name in (pair.actual, pair.expected):
                    needs[name] = min(needs.get(name, pair.next), pair.next)
        for stream in self.streams.values():
            if stream.source is not None and not stream.ended:
                needs[stream.source] = min(needs.get(stream.source, math.inf), max(stream.produced + 1, 1))
        for stream in self.streams.values():
            keep_from = needs.get(stream.name, math.inf)
            for t in [t for t in stream.buffer if t < keep_from]:
                stream.drop(t)
            if keep_from == math.inf and stream.generated and not stream.ended and stream.pending is None:
                stream.ended = True  # no open pair reads it (a stopped sensitivity check): free its state now
                stream.generator.close()

    # ------------------------------------------------------------------------------------------ results
    def comparison(self, check: Check) -> Comparison | None:
        for pair in self.pairs:
            if (pair.check.implementation, pair.check.compared_with) == (check.implementation, check.compared_with):
                if pair.stopped_at is not None:
                    comparison = pair.accumulator.finish(pair.stopped_at, pair.stopped_at)
                    comparison.stopped_at = pair.stopped_at
                    return comparison
                return pair.accumulator.finish(self.streams[pair.actual].steps, self.streams[pair.expected].steps)
        return None

    def kept_run(self, name: str) -> Trajectory | None:
        """The whole run of a framework implementation that ended ``ok``, where it was small enough to keep."""
        stream, outcome = self.streams.get(name), self.outcomes.get(name)
        if stream is None or outcome is None or outcome.status != "ok" or stream.kept is None:
            return None
        if outcome.trajectory is not None:  # a route with one whole result
            return outcome.trajectory
        return Trajectory(initial=stream.kept[0] if stream.kept else {}, steps=stream.kept[1:])

    def ok_runs_kept(self, names) -> bool:
        """Whether every one of these implementations whose run ended ``ok`` was kept whole, so that an
        explanation never has to run it again."""
        return all(self.kept_run(name) is not None for name in names
                   if name in self.outcomes and self.outcomes[name].status == "ok")

    def held_bytes(self) -> int:
        """Bytes of the records currently held."""
        return sum(stream.held for stream in self.streams.values())
