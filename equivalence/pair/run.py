"""Running a model pair: describe both models in their workers, map names, copy the initial weights, train
both step by step into step files, compare, replay each framework's gradients through the reference update,
and at the first divergence say which part differs and which layer."""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass

from ..compare import Comparison
from ..runner import Result
from ..workers import Outcome
from .attribution import attribute
from .localise import localise
from .loop import Description, PairRequest
from .namemap import MapError, build_map
from .replay import replay
from .spec import PairCase
from .steps import read_step
from .streamed import compare_records, merge_step

ROUTE = "pair"  # the route name a backend's run() dispatches pair requests on
DIRECT = ("paddle/pair", "torch/pair")
# (implementation, compared with, kind) of every check of a pair, in report order.
PAIR_CHECKS = (("paddle/pair", "torch/pair", "direct"), ("paddle/replay", "paddle/pair", "replay"),
               ("torch/replay", "torch/pair", "replay"), ("perturbed/replay-lr", "torch/pair", "sensitivity"))
SENSITIVITY_LR_FACTOR = 1.001


@dataclass
class PairRun:
    """What a pair run leaves, for the API and for reports."""
    pair_case: PairCase
    results: list[Result]
    direct: Comparison | None = None
    attribution: str = ""
    layer: str = ""


def _parallel(backends: dict, requests: dict[str, PairRequest]) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}

    def one(name):
        try:
            outcomes[name] = backends[name].run(requests[name], ROUTE)
        except Exception as exc:  # a harness bug still leaves a result
            outcomes[name] = Outcome("error", message=f"harness: {type(exc).__name__}: {exc}")
    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _problem(outcomes: dict[str, Outcome]) -> tuple[str, str] | None:
    """(status, message) of the first framework whose run did not succeed."""
    for name in ("paddle", "torch"):
        o = outcomes[name]
        if o.status != "ok":
            text = o.message.removeprefix("PairInputError: ")
            return ("skipped" if o.status in ("skipped", "not-applicable") else "error", f"{name}: {text}")
    return None


def _result(pc: PairCase, implementation: str, compared_with: str, kind: str, status: str, observed: str,
            message: str, comparison: Comparison | None = None, expected: str = "equal", reason: str = "",
            references: tuple = ()) -> Result:
    extra = {}
    if comparison is not None:
        extra = dict(max_abs_error=comparison.max_abs_error, max_rel_error=comparison.max_rel_error,
                     mismatches=comparison.mismatches, compared=comparison.compared,
                     first_divergence=comparison.first, comparison=comparison)
    return Result(case=pc.id, implementation=implementation, compared_with=compared_with, kind=kind,
                  expected=expected, observed=observed, status=status, message=message, file=pc.case.path,
                  tags=pc.case.tags, reason=reason, references=references, **extra)


def _expectation(pc: PairCase, implementation: str, compared_with: str) -> tuple[str, str, tuple]:
    for d in pc.case.expect.divergent:
        if implementation in d.implementations and d.compared_with in (compared_with, "reference",
                                                                      compared_with.split("/")[0]):
            return "divergent", d.reason, d.references
    return "equal", "", ()


def _verdict(pc: PairCase, implementation: str, compared_with: str, kind: str, comparison: Comparison,
             note: str = "", invert: bool = False) -> Result:
    expected, reason, refs = _expectation(pc, implementation, compared_with)
    if invert:  # a sensitivity check: the perturbed run must be told apart
        expected = "divergent"
    observed = "equal" if comparison.equal else "divergent"
    summary = comparison.summary()
    if observed == expected:
        message = f"diverges as expected ({reason}): {summary}" if expected == "divergent" and reason else summary
    elif invert:
        message = (f"the case's tolerance cannot tell a learning rate x{SENSITIVITY_LR_FACTOR} from the replayed "
                   f"update, so its 'equal' verdicts could not fail: {summary}")
    elif expected == "divergent":
        message = f"stale: the frameworks now agree, but the case expects a divergence ({reason}): {summary}"
    else:
        message = f"diverges from {compared_with}: {summary}"
    if note:
        message += f". {note}"
    return _result(pc, implementation, compared_with, kind, "pass" if observed == expected else "fail", observed,
                   message, comparison, expected=expected, reason=reason, references=refs)


def run_pair(pc: PairCase, backends: dict) -> PairRun:
    """Every check of one pair case; a bad input becomes one error result naming the case, the key and why."""
    folder = tempfile.mkdtemp(prefix=f"equivalence-pair-{pc.id[:40]}-")
    try:
        return _run(pc, backends, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _error(pc: PairCase, status: str, message: str) -> PairRun:
    """The direct check carries the error; the others, which need both runs, are skipped naming it."""
    observed = "error" if status == "error" else "skipped"
    results = [_result(pc, *PAIR_CHECKS[0], status, observed, f"{pc.id}: {message}")]
    results += [_result(pc, *check, "skipped", "skipped", f"not run: {pc.id}: {message}") for check in PAIR_CHECKS[1:]]
    return PairRun(pc, results)


def _run(pc: PairCase, backends: dict, folder: str) -> PairRun:
    described = _parallel(backends, {n: PairRequest(pc, n, "describe") for n in ("paddle", "torch")})
    if (problem := _problem(described)) is not None:
        return _error(pc, *problem)
    paddle_d: Description = described["paddle"].trajectory
    torch_d: Description = described["torch"].trajectory
    try:
        mapping = build_map(paddle_d.entries, torch_d.entries, pc.pair.map)
    except MapError as exc:
        return _error(pc, "error", f"pair.map: {exc}")
    names = {"torch": {e.name: e.name for e in torch_d.entries}, "paddle": dict(mapping)}
    by_p = {e.name: e for e in paddle_d.entries}
    by_t = {e.name: e for e in torch_d.entries}
    names["paddle"].update({f"module:{by_p[p].module}": by_t[t].module for p, t in mapping.items()})
    # The source keeps the weights it was described with too: a builder without a seed draws others each call.
    if pc.pair.weights_from == "none":
        initial = {"torch": {}, "paddle": {}}
    elif pc.pair.weights_from == "torch":
        initial = {"torch": torch_d.initial, "paddle": {p: torch_d.initial[t] for p, t in mapping.items()}}
    else:
        initial = {"paddle": paddle_d.initial, "torch": {t: paddle_d.initial[p] for p, t in mapping.items()}}
    requests = {n: PairRequest(pc, n, "train", initial[n], names[n], folder) for n in ("paddle", "torch")}
    trained = _parallel(backends, requests)
    if (problem := _problem(trained)) is not None:
        return _error(pc, *problem)
    steps = pc.case.steps
    direct = Comparison()
    for step in range(0, steps + 1):
        merge_step(direct, compare_records(read_step(folder, "paddle", step), read_step(folder, "torch", step),
                                           pc.case), step)
    replays = {n: replay(pc.case, folder, n, steps) for n in ("paddle", "torch")}
    perturbed = replay(pc.case, folder, "torch", steps, lr_factor=SENSITIVITY_LR_FACTOR)
    attribution, layer = "", ""
    if not direct.equal:
        attribution = attribute(direct, replays)
        if direct.first is not None and direct.first.step == 0:
            layer = f"localised: layer {direct.first.name.rpartition('.')[0]!r} starts from other weights"
        elif pc.pair.localise and direct.first is not None and not direct.first.quantity.startswith("hyper."):
            layer = localise(pc, backends, requests, direct.first, folder)
    note = " ".join(filter(None, [attribution, layer]))
    results = [_verdict(pc, DIRECT[0], DIRECT[1], "direct", direct, note)]
    for n in ("paddle", "torch"):
        results.append(_verdict(pc, f"{n}/replay", f"{n}/pair", "replay", replays[n],
                                "the reference update fed this framework's gradients" if replays[n].equal else
                                "this framework's update is not the reference update rule fed its own gradients"))
    results.append(_verdict(pc, "perturbed/replay-lr", "torch/pair", "sensitivity", perturbed, invert=True))
    return PairRun(pc, results, direct, attribution, layer)
