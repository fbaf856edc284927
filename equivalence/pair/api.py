"""The Python API for hand-written tests of a model pair.

    from equivalence.pair import compare_pair, assert_equivalent

    run = compare_pair(paddle="mypkg.models:build_paddle", torch="mypkg.models:build_torch",
                       data={"input_shape": [3, 16, 16], "targets": "classes", "classes": 10},
                       loss="cross_entropy", optimizer={"name": "adam", "lr": 1e-3}, steps=5)
    assert_equivalent(run)

Builders are 'module:function' strings or module-level functions; a model object (or a list of (inputs,
targets) NumPy batches as ``data``) is accepted too, and then both frameworks run in this process (no worker
isolation), because an object cannot be handed to another process by name.
"""

from __future__ import annotations

import atexit
import copy
import inspect
import itertools

from ..runner import Runner
from .run import PairRun, run_pair
from .spec import pair_case_from_dict

_OBJECTS: dict[str, object] = {}
_COUNTER = itertools.count()


def __getattr__(name: str):
    """``object_<n>``: a builder returning a fresh copy of a registered model, or the registered batches."""
    if name in _OBJECTS:
        held = _OBJECTS[name]
        return lambda: copy.deepcopy(held)
    raise AttributeError(name)


def _target(value, what: str) -> tuple[str, bool]:
    """(importable 'module:function', whether it needs this process)."""
    if isinstance(value, str):
        return value, False
    if inspect.isfunction(value) and value.__qualname__ == value.__name__ and value.__module__ != "__main__":
        return f"{value.__module__}:{value.__name__}", False
    if callable(value) and inspect.isfunction(value):
        name = f"object_{next(_COUNTER)}"
        _OBJECTS[name] = value()  # a local function: call it here, hand over its result
        return f"{__name__}:{name}", True
    name = f"object_{next(_COUNTER)}"
    _OBJECTS[name] = value
    return f"{__name__}:{name}", True


def compare_pair(paddle, torch, data, optimizer: dict, loss: str = "mean", steps: int = 3,
                 dtype: str = "float32", case_id: str = "pair", weights_from: str = "torch",
                 name_map: dict[str, str] | None = None, dropout: str = "refuse", in_process: bool = False,
                 timeout: float = 300.0, **tables) -> PairRun:
    """Train both models ``steps`` steps with the optimizer settings (any case table may be given as a
    keyword: regularization, schedule, clip, tolerance) and compare every recorded quantity."""
    paddle_target, local_p = _target(paddle, "paddle")
    torch_target, local_t = _target(torch, "torch")
    pair = {"paddle": paddle_target, "torch": torch_target, "weights_from": weights_from, "dropout": dropout,
            "map": dict(name_map or {})}
    local = local_p or local_t
    if isinstance(data, dict):
        pair["data"] = dict(data)
    else:
        source, local_d = _target(data if callable(data) else list(data), "data")
        pair["data"] = {"source": source}
        local = local or local_d
    raw = {"id": case_id, "description": "a model pair compared through equivalence.pair.compare_pair",
           "kind": "training", "steps": steps, "dtype": dtype, "loss": loss, "optimizer": dict(optimizer),
           "pair": pair, **tables}
    pc = pair_case_from_dict(raw, f"<compare_pair {case_id}>")
    return run_pair(pc, _shared_runner(in_process or local, timeout).backends)


_RUNNERS: dict[tuple, Runner] = {}


def _shared_runner(in_process: bool, timeout: float) -> Runner:
    """One runner per setting for the life of the process: each framework is imported once however many
    calls a test session makes; closed at exit."""
    key = (in_process, timeout)
    if key not in _RUNNERS:
        _RUNNERS[key] = Runner(in_process=in_process, timeout=timeout)
        if len(_RUNNERS) == 1:
            atexit.register(close_runners)
    return _RUNNERS[key]


def close_runners() -> None:
    while _RUNNERS:
        _RUNNERS.popitem()[1].close()


class PairAssertionError(AssertionError):
    """A pair whose runs part; the message is the first divergence, its part and its layer."""


def assert_equivalent(run: PairRun) -> None:
    """Fails with the first-divergence message when any check of the pair does not meet its expectation."""
    bad = [r for r in run.results if r.status not in ("pass", "skipped")]
    if bad:
        raise PairAssertionError("\n".join(f"{r.test_id}: {r.status} ({r.observed}, expected {r.expected}): "
                                           f"{r.message}" for r in bad))
