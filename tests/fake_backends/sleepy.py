"""A fake backend whose every run writes its worker's pid to $EQUIVALENCE_TEST_PID_FILE, then computes (sleeps)
for a minute: a worker busy when its harness is killed."""

from __future__ import annotations

import os
import time

NAME = "sleepy"


def versions() -> dict[str, str]:
    return {"sleepy": "0.0.1"}


def run(case, route: str):
    with open(os.environ["EQUIVALENCE_TEST_PID_FILE"], "w", encoding="utf-8") as handle:
        handle.write(str(os.getpid()))
    time.sleep(60)
    raise AssertionError("the harness should have stopped this run")
