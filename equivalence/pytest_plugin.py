"""pytest integration: every case file under a ``cases`` folder, or under a folder named by the ini option
``equivalence_cases`` or ``--equivalence-cases DIR``, is a test file, every check an item. Installing the package
activates the plugin (the ``pytest11`` entry point); a model-pair case ([pair] table) gives its four checks.

Item ids read ``cases/regularization/l2decay-vs-penalty-momentum.toml::l2decay-vs-penalty-momentum[paddle/optimizer]``:
the case id is the item's name and the implementation its parameters (like a parametrized test), so
``--lf`` / ``--ff`` find the stored failures again. Select with ``-k momentum``, ``-m regularization`` (case
tags are markers, registered when pytest starts, so ``pytest --markers`` lists them), ``-m sensitivity``
(check kinds are markers: equivalence, direct, rounding, sensitivity) and ``-m paddle`` / ``-m torch``.

A case runs when its first selected item runs (each framework in its long-lived worker, imported once per
session, Paddle and Torch in parallel); its other items report the results kept from that run. So a
pytest-xdist worker runs only the cases it was given, and ``pytest -n 2`` hands all the items of a case file
to one worker (equivalence/pytest_xdist.py), which runs the case once. Each item is timed at its share of its case's run.

- pass: the observed relation is the expected one;
- xfail: an expected divergence that still diverges (the reason is shown, like ``xfail(strict=True)``);
- fail: a divergence that was not expected, a stale expected divergence, a tolerance that cannot detect a
  perturbation, a malformed case file, or a framework error or crash;
- skip: a framework that is not installed, or a route it cannot express (not applicable); the skip
  points at the case file.

``--equivalence-report DIR`` writes the reports of ``python -m equivalence run`` (latest.json, latest.md,
latest.html) for the checks this session ran, at the end of the session (under xdist the controller merges
the workers' results).

A case with a ``[sweep]`` table also gets the item ``case-id[sweep]`` (marker ``sweep``): a bounded sweep of
``sweep.ci_examples`` variants (equivalence/sweep.py) through the session's framework workers.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from . import pytest_markers, pytest_xdist
from .backends import BACKENDS
from .gates import nothing_compared
from .plan import Check, plan
from .report import summary_line, write_reports
from .runner import Result, Runner, RunReport
from .pair.run import PAIR_CHECKS
from .pair.spec import PairCase, load_any
from .spec import Case, SpecError, load_unique_case


def pytest_addoption(parser):
    group = parser.getgroup("equivalence")
    group.addoption("--equivalence-in-process", action="store_true",
                    help="run the frameworks inside the pytest process (debugging; no crash isolation)")
    group.addoption("--equivalence-timeout", type=float, default=300.0,
                    help="seconds allowed for one framework run (default 300)")
    group.addoption("--equivalence-allow-empty", action="store_true",
                    help="pass even when no framework check compared anything (every one skipped)")
    group.addoption("--equivalence-report", metavar="DIR", default=None,
                    help="write latest.json, latest.md and latest.html for the selected checks into DIR")
    group.addoption("--equivalence-cases", action="append", default=[], metavar="DIR",
                    help="a folder whose *.toml files are case files (repeatable; besides any folder named cases)")
    parser.addini("equivalence_cases", type="args", default=[],
                  help="folders, relative to the ini file, whose *.toml files are case files")


def pytest_configure(config):
    config.stash[_STATE] = _State(config)
    pytest_markers.register(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(pytest_xdist.XdistHooks(config), pytest_xdist.PLUGIN_NAME)


def pytest_sessionfinish(session):
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    if state.results and session.exitstatus == pytest.ExitCode.OK:  # checks ran in this process
        empty = nothing_compared(list(state.results.values()))  # a gate that compared nothing does not pass
        if empty and not session.config.getoption("equivalence_allow_empty"):
            session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
            state.empty_note = (f"equivalence: NOTHING COMPARED: {empty}; exit status "
                                f"{int(pytest.ExitCode.NO_TESTS_COLLECTED)} (--equivalence-allow-empty accepts it)")
    out = session.config.getoption("equivalence_report")
    if not out:
        return
    if pytest_xdist.is_worker(session.config):
        pytest_xdist.hand_over(session.config, state.ran_results())
    else:
        state.write_reports(session, out, pytest_xdist.received(session.config) or [state.ran_results()])


def pytest_terminal_summary(terminalreporter, config):
    state = config.stash.get(_STATE, None)
    if state is not None and state.report_note:
        terminalreporter.write_line(state.report_note)
    if state is not None and state.empty_note:
        terminalreporter.write_line(state.empty_note)


def pytest_unconfigure(config):
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix == ".toml" and ("cases" in file_path.parts[:-1] or _in_case_folder(file_path, parent.config)):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _case_folders(config) -> list[Path]:
    base = Path(config.inipath).parent if config.inipath else Path(config.rootpath)
    named = [base / p for p in config.getini("equivalence_cases")]
    named += [Path(config.invocation_params.dir) / p for p in config.getoption("equivalence_cases")]
    return [p.resolve() for p in named]


def _in_case_folder(file_path: Path, config) -> bool:
    path = Path(file_path).resolve()
    return any(folder == path or folder in path.parents for folder in _case_folders(config))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if isinstance(item, _CaseItem):
        if report.skipped and isinstance(report.longrepr, tuple):
            # pytest.skip points at the line that raised it, in this module; the reason is the case file's
            report.longrepr = (str(item.path), item.line + 1, report.longrepr[2])
        if call.when == "call" and isinstance(item, CheckItem):
            report.duration = max(0.0, report.duration - item.case_run_seconds) + item.share_seconds
    return report


class CaseFailure(Exception):
    """A check whose result does not match its expectation; the message says how."""


class _State:
    """Runs each case once, when its first item runs, and keeps the results for its other items."""

    def __init__(self, config):
        self.config = config
        self.runner: Runner | None = None
        self.results: dict[str, Result] = {}
        self.case_seconds: dict[str, float] = {}
        self.cases: dict[str, Case] = {}
        self.items_per_case: Counter[str] | None = None
        self.environment: dict = {}
        self.ran: list[_CaseItem] = []  # the items this process ran, for the reports
        self.report_note = ""
        self.empty_note = ""

    def result(self, item: "CheckItem") -> Result:
        case = item.case
        if case.id not in self.case_seconds:
            start = time.perf_counter()
            report = self.shared_runner().run([case])
            self.case_seconds[case.id] = seconds = time.perf_counter() - start
            item.case_run_seconds = seconds
            self.cases[case.id] = case
            self.environment = report.environment
            self.results.update((r.test_id, r) for r in report.results)
        item.share_seconds = self.case_seconds[case.id] / self.item_count(item)
        if item.check.test_id not in self.results:
            raise CaseFailure(f"no result for {item.check.test_id} (the case failed before its checks ran)")
        return self.results[item.check.test_id]

    def item_count(self, item: "CheckItem") -> int:
        """The selected check items of the item's case: they share its run's time."""
        if self.items_per_case is None:
            self.items_per_case = Counter(i.case.id for i in item.session.items if isinstance(i, CheckItem))
        return max(1, self.items_per_case[item.case.id])

    def shared_runner(self) -> Runner:
        if self.runner is None:
            self.runner = Runner(in_process=self.config.getoption("equivalence_in_process"),
                                 timeout=self.config.getoption("equivalence_timeout"))
        return self.runner

    def ran_results(self) -> pytest_xdist.Partial:
        """The results of the items this process ran (a malformed file's from its SpecError, no framework
        needed), with the environment and the cases the HTML report describes."""
        broken = [i.case or i.error for i in self.ran if isinstance(i, SpecErrorItem)]
        results = [self.results[i.check.test_id] for i in self.ran
                   if isinstance(i, CheckItem) and i.check.test_id in self.results]
        environment = self.environment
        if broken:
            with Runner(in_process=True) as runner:
                spec_report = runner.run(broken)
            results = spec_report.results + results
            environment = environment or spec_report.environment
        return pytest_xdist.Partial(results, environment, list(self.cases.values()))

    def write_reports(self, session, out: str, partials: list[pytest_xdist.Partial]) -> None:
        results = [r for p in partials for r in p.results]
        if not results:
            self.report_note = f"equivalence: no case was selected; no reports written to {out}"
            return
        report = RunReport(results, pytest_xdist.merged_environment(p.environment for p in partials))
        cases = [c for c in {c.id: c for p in partials for c in p.cases}.values() if isinstance(c, Case)]  # not pairs
        paths = write_reports(report, Path(session.config.invocation_params.dir) / out, cases=cases)
        self.report_note = f"equivalence reports ({summary_line(report)}): {', '.join(map(str, paths))}"

    def close(self):
        if self.runner is not None:
            self.runner.close()
            self.runner = None


_STATE = pytest.StashKey[_State]()


def _line_of_id(path: Path) -> int:
    """The 0-based line that sets the case's id (where a report about the case points); 0 if none does."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    for number, line in enumerate(lines):
        if line.replace('"', "").replace(" ", "").startswith("id="):
            return number
    return 0


class CaseFile(pytest.File):
    def collect(self):
        case = None
        line = _line_of_id(self.path)
        try:
            loaded = load_any(self.path)
            if isinstance(loaded, PairCase):
                yield from _pair_items(self, loaded)
                return
            case = load_unique_case(self.path)  # an id another case file has is a spec error
            checks = plan(case, list(BACKENDS))
        except SpecError as exc:  # named like the runner's result: the case id once the file loads
            name = case.id if case is not None else self.path.stem
            yield SpecErrorItem.create(self, name, "spec", line, error=exc, case=case)
            return
        pytest_markers.register_case(self.config, case)
        for check in checks:
            item = CheckItem.create(self, case.id, check.test_id[len(case.id) + 1:-1], line, case=case, check=check)
            for marker in (*case.tags, check.kind, check.backend):
                if marker:
                    item.add_marker(marker)
            yield item
        if case.sweep is not None:
            item = SweepItem.create(self, case.id, "sweep", line, case=case)
            for marker in (*case.tags, "sweep"):
                item.add_marker(marker)
            yield item


def _pair_items(parent: CaseFile, pc: PairCase):
    """A model pair's checks (equivalence/pair/run.py), items like any case's; its case runs in the same
    session runner (Runner.run takes a PairCase)."""
    pytest_markers.register_case(parent.config, pc)
    parent.config.addinivalue_line("markers", "replay: check kind: a model pair's gradient replay")
    line = _line_of_id(parent.path)
    for implementation, compared_with, kind in PAIR_CHECKS:
        check = Check(pc.id, implementation, compared_with, kind)
        item = CheckItem.create(parent, pc.id, check.test_id[len(pc.id) + 1:-1], line, case=pc, check=check)
        for marker in (*pc.case.tags, kind):
            item.add_marker(marker)
        yield item


class _CaseItem(pytest.Item):
    """An item of a case file, named ``case-id[parameters]`` with a parametrized test's node id."""

    line = 0  # 0-based line of the case file the item's reports point at

    @classmethod
    def create(cls, parent: CaseFile, base: str, params: str, line: int, **kwargs):
        # A string node id is parsed into name and parameters, as pytest's cache stores them for --lf.
        item = cls.from_parent(parent, name=f"{base}[{params}]", nodeid=f"{parent.nodeid}::{base}[{params}]",
                               **kwargs)
        item.line = line
        return item

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value) if excinfo.errisinstance(CaseFailure) else super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.line, self.name


class SpecErrorItem(_CaseItem):
    def __init__(self, *, error: SpecError, case: Case | None = None, **kwargs):
        super().__init__(**kwargs)
        self.error, self.case = error, case  # case: the file loaded but its checks could not be planned

    def runtest(self):
        self.config.stash[_STATE].ran.append(self)
        raise CaseFailure(str(self.error))


class CheckItem(_CaseItem):
    def __init__(self, *, case: Case, check: Check, **kwargs):
        super().__init__(**kwargs)
        self.case, self.check = case, check
        self.case_run_seconds = 0.0  # the case's whole run, when this item started it
        self.share_seconds = 0.0  # this item's part of it

    def runtest(self):
        state = self.config.stash[_STATE]
        state.ran.append(self)
        result = state.result(self)
        self.user_properties.extend(_properties(self.case, result))
        if result.status == "not-applicable":  # a skip in pytest's terms, told apart by its reason
            pytest.skip(f"not applicable: {result.message}")
        if result.status == "skipped":
            pytest.skip(f"{result.observed}: {result.message}")
        if result.status != "pass":
            raise CaseFailure(_failure_text(result))
        if result.expected == "divergent" and result.kind != "sensitivity":
            pytest.xfail(f"expected divergence: {result.reason} [{'; '.join(result.references)}]")


# Passing sweeps end after ci_examples variants (1-2 s); this bounds the shrinking of a failing one.
SWEEP_ITEM_SECONDS = 60.0


class SweepItem(_CaseItem):
    """A bounded sweep (``sweep.ci_examples`` variants, seed 0: the same draws every run)."""

    def __init__(self, *, case: Case, **kwargs):
        super().__init__(**kwargs)
        self.case = case

    def runtest(self):
        from .sweep import run_sweep  # hypothesis is imported only when a sweep item runs
        from .sweep_report import failure_lines, headline
        outcome = run_sweep(self.case, self.config.stash[_STATE].shared_runner(),
                            examples=self.case.sweep.ci_examples, max_seconds=SWEEP_ITEM_SECONDS)
        if not outcome.ok:
            raise CaseFailure("\n".join([headline(outcome), *failure_lines(outcome),
                                         f"full sweep: python -m equivalence sweep {self.case.id}"]))
        if outcome.unavailable:  # like the check items of a framework that is not installed
            pytest.skip(f"skipped: {'; '.join(sorted(outcome.unavailable))}")


def _properties(case: Case, r: Result) -> list[tuple[str, str]]:
    """What --junitxml records of a check besides its outcome (<properties> of its testcase)."""
    props = [("case", case.id), ("case_kind", case.kind), ("tags", " ".join(case.tags)),
             ("check_kind", r.kind), ("expected", r.expected), ("observed", r.observed)]
    if r.first_divergence is not None:
        props.append(("first_divergence", r.first_divergence.describe()))
    return props


def _failure_text(r: Result) -> str:
    lines = [f"{r.test_id}: {r.status} (expected {r.expected}, observed {r.observed})", r.message]
    if r.first_divergence is not None:
        d = r.first_divergence
        lines.append(f"first divergence: step {d.step}, {d.quantity}, parameter {d.name}, index {list(d.index)}: "
                     f"{d.actual!r} vs {d.expected!r}")
    if r.explanation is not None:
        lines.append(f"explanation ({r.explanation.kind}): {r.explanation.text}")
    lines.append(f"case file: {r.file}; details: python -m equivalence show {r.case}")
    return "\n".join(lines)
