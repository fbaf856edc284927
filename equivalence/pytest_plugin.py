"""pytest integration: every case file under a ``cases`` folder, or under a folder named by the ini option
``equivalence_cases`` or ``--equivalence-cases DIR``, is a test file, every check an item. Installing the package
activates the plugin (the ``pytest11`` entry point); a model-pair case ([pair] table) gives its four checks.

Item ids read ``cases/regularization/l2decay-vs-penalty-momentum.toml::l2decay-vs-penalty-momentum[paddle/optimizer]``,
so ``pytest -k momentum`` and ``pytest -m regularization`` (case tags are markers) select as expected. The
first item to run executes every selected case in one batch, so each framework is imported once and Paddle
and Torch run in parallel workers; each item then reports its own result.

- pass: the observed relation is the expected one;
- xfail: an expected divergence that still diverges (the reason is shown, like ``xfail(strict=True)``);
- fail: a divergence that was not expected, a stale expected divergence, a tolerance that cannot detect a
  perturbation, a malformed case file, or a framework error or crash;
- skip: a framework that is not installed, or a route it cannot express (not applicable).

``--equivalence-report DIR`` writes the reports of ``python -m equivalence run`` (latest.json, latest.md,
latest.html) for the checks this session selected, at the end of the session.

A case with a ``[sweep]`` table also gets the item ``case-id[sweep]`` (marker ``sweep``): a bounded sweep of
``sweep.ci_examples`` variants (equivalence/sweep.py) through the session's framework workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .backends import BACKENDS
from .plan import Check, plan
from .report import summary_line, write_reports
from .runner import Result, Runner, RunReport
from .pair.run import PAIR_CHECKS
from .pair.spec import PairCase, load_any
from .spec import Case, SpecError


def pytest_addoption(parser):
    group = parser.getgroup("equivalence")
    group.addoption("--equivalence-in-process", action="store_true",
                    help="run the frameworks inside the pytest process (debugging; no crash isolation)")
    group.addoption("--equivalence-timeout", type=float, default=300.0,
                    help="seconds allowed for one framework run (default 300)")
    group.addoption("--equivalence-report", metavar="DIR", default=None,
                    help="write latest.json, latest.md and latest.html for the selected checks into DIR")
    group.addoption("--equivalence-cases", action="append", default=[], metavar="DIR",
                    help="a folder whose *.toml files are case files (repeatable; besides any folder named cases)")
    parser.addini("equivalence_cases", type="args", default=[],
                  help="folders, relative to the ini file, whose *.toml files are case files")


def pytest_configure(config):
    config.stash[_STATE] = _State(config)
    config.addinivalue_line("markers", "sweep: a bounded hyper-parameter sweep of a case ([sweep] table)")


def pytest_sessionfinish(session):
    out = session.config.getoption("equivalence_report")
    state = session.config.stash.get(_STATE, None)
    if out and state is not None:
        state.write_reports(session, out)


def pytest_terminal_summary(terminalreporter, config):
    state = config.stash.get(_STATE, None)
    if state is not None and state.report_note:
        terminalreporter.write_line(state.report_note)


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


class CaseFailure(Exception):
    """A check whose result does not match its expectation; the message says how."""


class _State:
    """Runs the selected cases once, on first need, and keeps the results for the items."""

    def __init__(self, config):
        self.config = config
        self.runner: Runner | None = None
        self.results: dict[str, Result] = {}
        self.report: RunReport | None = None
        self.cases: list[Case] = []
        self.report_note = ""
        self.done = False

    def result(self, item: "CheckItem") -> Result:
        if not self.done:
            self.done = True
            cases = {i.case.id: i.case for i in item.session.items if isinstance(i, CheckItem)}
            # Malformed files go in too, so the written reports name them like `run` does.
            broken = [i.case or i.error for i in item.session.items if isinstance(i, SpecErrorItem)]
            self.cases = list(cases.values())
            self.report = self.shared_runner().run(self.cases + broken)
            self.results = {r.test_id: r for r in self.report.results}
            if not any(isinstance(i, SweepItem) for i in item.session.items):
                self.close()  # sweep items, if any, reuse the workers
        if item.check.test_id not in self.results:
            raise CaseFailure(f"no result for {item.check.test_id} (the case failed before its checks ran)")
        return self.results[item.check.test_id]

    def shared_runner(self) -> Runner:
        if self.runner is None:
            self.runner = Runner(in_process=self.config.getoption("equivalence_in_process"),
                                 timeout=self.config.getoption("equivalence_timeout"))
        return self.runner

    def write_reports(self, session, out: str) -> None:
        """The reports of the run, limited to the selected items; a session whose selected items are all
        malformed case files still gets them (no framework runs for those)."""
        selected = {i.name for i in session.items if isinstance(i, (CheckItem, SpecErrorItem))}
        if self.report is None and selected:
            broken = [i.case or i.error for i in session.items if isinstance(i, SpecErrorItem)]
            with Runner(in_process=True) as runner:
                self.report = runner.run(broken)
        if self.report is None:
            self.report_note = f"equivalence: no case was selected; no reports written to {out}"
            return
        report = RunReport([r for r in self.report.results if r.test_id in selected], self.report.environment)
        paths = write_reports(report, Path(session.config.invocation_params.dir) / out,
                              cases=[c for c in self.cases if isinstance(c, Case)])
        self.report_note = f"equivalence reports ({summary_line(report)}): {', '.join(map(str, paths))}"

    def close(self):
        if self.runner is not None:
            self.runner.close()
            self.runner = None


_STATE = pytest.StashKey[_State]()


class CaseFile(pytest.File):
    def collect(self):
        case = None
        try:
            loaded = load_any(self.path)
            if isinstance(loaded, PairCase):
                yield from _pair_items(self, loaded)
                return
            case = loaded
            checks = plan(case, list(BACKENDS))
        except SpecError as exc:  # named like the runner's result: the case id once the file loads
            name = case.id if case is not None else self.path.stem
            yield SpecErrorItem.from_parent(self, name=f"{name}[spec]", error=exc, case=case)
            return
        for marker in (*case.tags, *BACKENDS):
            self.config.addinivalue_line("markers", f"{marker}: case tag or backend")
        for check in checks:
            item = CheckItem.from_parent(self, name=check.test_id, case=case, check=check)
            for tag in case.tags:
                item.add_marker(tag)
            if check.backend:
                item.add_marker(check.backend)
            yield item
        if case.sweep is not None:
            item = SweepItem.from_parent(self, name=f"{case.id}[sweep]", case=case)
            for tag in (*case.tags, "sweep"):
                item.add_marker(tag)
            yield item


def _pair_items(parent: CaseFile, pc: PairCase):
    """A model pair's checks (equivalence/pair/run.py), items like any case's."""
    for marker in pc.case.tags:
        parent.config.addinivalue_line("markers", f"{marker}: case tag")
    for implementation, compared_with, kind in PAIR_CHECKS:
        check = Check(pc.id, implementation, compared_with, kind)
        item = CheckItem.from_parent(parent, name=check.test_id, case=pc, check=check)
        for tag in pc.case.tags:
            item.add_marker(tag)
        yield item


class SpecErrorItem(pytest.Item):
    def __init__(self, *, error: SpecError, case: Case | None = None, **kwargs):
        super().__init__(**kwargs)
        self.error, self.case = error, case  # case: the file loaded but its checks could not be planned

    def runtest(self):
        raise CaseFailure(str(self.error))

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value) if excinfo.errisinstance(CaseFailure) else super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


class CheckItem(pytest.Item):
    def __init__(self, *, case: Case, check: Check, **kwargs):
        super().__init__(**kwargs)
        self.case, self.check = case, check

    def runtest(self):
        result = self.config.stash[_STATE].result(self)
        if result.status == "not-applicable":  # a skip in pytest's terms, told apart by its reason
            pytest.skip(f"not applicable: {result.message}")
        if result.status == "skipped":
            pytest.skip(f"{result.observed}: {result.message}")
        if result.status != "pass":
            raise CaseFailure(_failure_text(result))
        if result.expected == "divergent" and result.kind != "sensitivity":
            pytest.xfail(f"expected divergence: {result.reason} [{'; '.join(result.references)}]")

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value) if excinfo.errisinstance(CaseFailure) else super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


# Passing sweeps end after ci_examples variants (1-2 s); this bounds the shrinking of a failing one.
SWEEP_ITEM_SECONDS = 60.0


class SweepItem(pytest.Item):
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

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value) if excinfo.errisinstance(CaseFailure) else super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


def _failure_text(r: Result) -> str:
    lines = [f"{r.test_id}: {r.status} (expected {r.expected}, observed {r.observed})", r.message]
    if r.first_divergence is not None:
        d = r.first_divergence
        lines.append(f"first divergence: step {d.step}, {d.quantity}, parameter {d.name}, index {list(d.index)}: "
                     f"{d.actual!r} vs {d.expected!r}")
    lines.append(f"case file: {r.file}; details: python -m equivalence show {r.case}")
    return "\n".join(lines)
