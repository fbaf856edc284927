"""pytest-xdist support for the case items (used only when xdist is installed and active).

A case runs once, in the process that runs its first item (pytest_plugin.py), so all the items of a case
file must go to the same xdist worker. ``-n N`` (xdist's ``load`` mode) and ``--dist loadgroup`` get a
scheduler that sends each case file whole and every other test on its own, as ``load`` would;
``--dist loadfile`` and ``--dist loadscope`` keep a case file together by themselves. (``--dist load`` set
explicitly is the same scheduler; ``--dist worksteal`` and ``each`` split cases, which then run once per
worker holding any of their items.)

With ``--equivalence-report`` each worker hands its results over in a temporary file named in its
``workeroutput``, and the controller writes one report of them all.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass, field

import pytest

from .runner import Result
from .spec import Case

PLUGIN_NAME = "equivalence-xdist"
_OUTPUT_KEY = "equivalence_results_file"


@dataclass
class Partial:
    """What one process ran: its results, the environment its workers reported, the cases it ran."""
    results: list[Result]
    environment: dict
    cases: list[Case] = field(default_factory=list)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def hand_over(config: pytest.Config, partial: Partial) -> None:
    """A worker's results for the controller's report, through a file (they hold arrays for the plots)."""
    handle, path = tempfile.mkstemp(prefix="equivalence-xdist-", suffix=".pickle")
    with os.fdopen(handle, "wb") as f:
        pickle.dump(partial, f, protocol=pickle.HIGHEST_PROTOCOL)
    config.workeroutput[_OUTPUT_KEY] = path


def received(config: pytest.Config) -> list[Partial]:
    """The workers' results, on the controller; empty in a session without xdist workers."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin.partials if plugin is not None else []


def merged_environment(environments) -> dict:
    """One environment for the report: a framework is described by a worker that started it."""
    merged: dict = {}
    for env in environments:
        for key, value in env.items():
            if key not in merged or merged[key] == "not started":
                merged[key] = value
    return merged


def case_file_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".toml") else None


class XdistHooks:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.partials: list[Partial] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") not in ("load", "loadgroup"):
            return None
        from xdist.scheduler import LoadGroupScheduling

        class CaseFileScheduling(LoadGroupScheduling):
            """loadgroup, with each case file one group."""

            def _split_scope(self, nodeid: str) -> str:
                return case_file_of(nodeid) or super()._split_scope(nodeid)

        return CaseFileScheduling(config, log)

    def pytest_testnodedown(self, node, error):
        path = getattr(node, "workeroutput", {}).get(_OUTPUT_KEY)
        if not path:
            return
        try:
            with open(path, "rb") as f:
                self.partials.append(pickle.load(f))
        finally:
            os.unlink(path)
