"""Checking a user's own Paddle/Torch model pair (README: Check your own model).

``compare_pair`` and ``assert_equivalent`` (equivalence/pair/api.py) are loaded on first use, so the workers,
which import this package's loop, and the runner, which imports its spec, do not load each other."""

__all__ = ["PairAssertionError", "PairRun", "assert_equivalent", "compare_pair"]


def __getattr__(name: str):
    if name in ("PairAssertionError", "assert_equivalent", "compare_pair"):
        from . import api
        return getattr(api, name)
    if name == "PairRun":
        from .run import PairRun
        return PairRun
    raise AttributeError(name)
