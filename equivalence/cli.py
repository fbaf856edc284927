"""Command line: ``python -m equivalence run | list | show | schema | catalogue | sweep | diff | drift |
baseline``.

Exit codes: 0 every result matches its expectation (or is skipped), 1 some do not, 2 usage error, 3 nothing
was compared (``run`` without ``--allow-empty``), 141 the output pipe closed early (``show ... | head``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
import types
import typing
from pathlib import Path

from tabulate import tabulate

from . import catalogue
from .backends import BACKENDS
from .baseline import ReportError
from .plan import plan
from .record import QUANTITY_DOCS, QUANTITY_ORDER
from .gates import EXIT_NOTHING_COMPARED, nothing_compared
from .report import README_END, README_START, inert, report_files, summary_line, update_readme, write_atomic
from .runner import Runner, load_all
from .spec import Case, SpecError, _type_name, discover, read_raw
from .spec.limits import MAX_SEED, MAX_SWEEP_EXAMPLES

DEFAULT_CASES = "cases"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head`
MAX_SECONDS = 7 * 24 * 3600.0
STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _number(kind, low, high, what):
    """An argparse type: a finite number in [low, high] (argparse exits 2 naming the option otherwise)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    return parse


def _stem(text: str) -> str:
    if not STEM.fullmatch(text) or ".." in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a file name stem (letters, digits, '_', '.', '-'; "
                                         "no folder)")
    return text


SECONDS = _number(float, 1e-3, MAX_SECONDS, f"a number of seconds between 0.001 and {MAX_SECONDS:g}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m equivalence",
                                     description="Does a training step mean the same thing in Paddle and Torch?")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_cases(p):
        p.add_argument("--cases", nargs="+", default=[DEFAULT_CASES], metavar="PATH",
                       help="case files or folders (default: cases)")
        return p

    def with_execution(p):
        p.add_argument("--in-process", action="store_true",
                       help="run the frameworks in this process (debugging; no crash isolation)")
        p.add_argument("--timeout", type=SECONDS, default=300.0,
                       help="seconds a framework worker may take for one step of a run (default 300)")
        p.add_argument("--stall-timeout", type=SECONDS, default=10.0,
                       help="seconds a worker may send nothing and use no CPU before it counts as wedged (default 10)")
        return p

    run = with_execution(with_cases(sub.add_parser("run", help="run cases and write reports")))
    run.add_argument("--out", default="reports", metavar="DIR", help="report folder (default: reports)")
    run.add_argument("--readme", metavar="PATH", help="also refresh the results block of this README")
    run.add_argument("--allow-empty", action="store_true",
                     help=f"exit 0 even when nothing was compared (no case, or every framework check skipped; "
                          f"otherwise exit {EXIT_NOTHING_COMPARED})")
    run.add_argument("--stem", default="latest", metavar="NAME", type=_stem,
                     help="report file names: DIR/NAME.json and DIR/NAME.md (default: latest)")
    with_cases(sub.add_parser("list", help="list cases with their tags and checks"))
    show = with_execution(with_cases(sub.add_parser("show", help="run one case and print every comparison")))
    show.add_argument("case_id")
    show.add_argument("--step", type=int, nargs="+", metavar="N", help="rows of these steps only (0: initial)")
    show.add_argument("--quantity", nargs="+", metavar="NAME",
                      help="rows of these quantities only (a dotted prefix matches: state -> state.velocity)")
    show.add_argument("--failing", action="store_true", help="only the checks that fail or err")
    show.add_argument("--all", action="store_true", dest="every",
                      help="every row of every check (default: the first diverging step's mismatching rows)")
    sch = sub.add_parser("schema", help="print every key a case file may hold, or a JSON Schema")
    sch.add_argument("--json", choices=("case", "report"), help="print the JSON Schema of case files or reports")
    sch.add_argument("--write", action="store_true", help="regenerate schemas/*.schema.json")
    cat = with_cases(sub.add_parser("catalogue", help="write the catalogue of known differences and coverage"))
    cat.add_argument("--out", default=str(catalogue.DEFAULT_PATH), metavar="FILE",
                     help=f"where to write it (default: {catalogue.DEFAULT_PATH}); '-' prints it")
    cat.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 when FILE is not what the cases generate")
    sweep = with_execution(with_cases(sub.add_parser(
        "sweep", help="draw variants of cases over their [sweep] ranges; shrink a counter-example")))
    sweep.add_argument("case_ids", nargs="*", metavar="CASE_ID",
                       help="cases to sweep (default: every case with a [sweep] table)")
    sweep.add_argument("--examples", type=_number(int, 1, MAX_SWEEP_EXAMPLES, f"an integer in 1..{MAX_SWEEP_EXAMPLES}"),
                       metavar="N", help="variants per case (default: its sweep.examples)")
    sweep.add_argument("--seed", type=_number(int, 0, MAX_SEED, f"an integer in 0..{MAX_SEED}"), default=0,
                       help="hypothesis seed (default 0: the same draws every run)")
    sweep.add_argument("--max-seconds", type=SECONDS, metavar="S",
                       help="time budget per case: no new variant runs after it (default: none)")
    sweep.add_argument("--out", default="reports", metavar="DIR", help="report folder (default: reports)")
    sweep.add_argument("-v", "--verbose", action="store_true", help="print every variant as it runs")
    _add_upgrade_commands(sub)
    return parser


def _add_upgrade_commands(sub) -> None:
    """diff, drift and baseline: the upgrade checks (equivalence/diff.py, drift.py, baseline.py)."""
    from .diff import DEFAULT_FACTOR, DEFAULT_FLOOR

    def with_noise(p):
        p.add_argument("--factor", type=_number(float, 1.0, 1e300, "a finite number > 1"), default=DEFAULT_FACTOR,
                       help=f"report a worst absolute error grown more than this factor (default {DEFAULT_FACTOR:g})")
        p.add_argument("--floor", type=_number(float, 0.0, 1e300, "a finite number >= 0"), default=DEFAULT_FLOOR,
                       help="errors below this (or below the case's float32 rounding error) are noise "
                            f"(default {DEFAULT_FLOOR:g})")
        return p

    d = with_noise(sub.add_parser("diff", help="what changed between two reports; exit 1 on a regression"))
    d.add_argument("old", metavar="OLD.json")
    d.add_argument("new", metavar="NEW.json")
    d.add_argument("--format", choices=("text", "markdown"), default="text", help="what to print (default text)")
    d.add_argument("--markdown", metavar="PATH", help="also write the diff as Markdown to PATH")
    d.add_argument("--fail-on-change", action="store_true",
                   help="exit 1 when the frameworks' behaviour changed, even where the cases expect the change")
    d.add_argument("--cases", nargs="+", metavar="PATH",
                   help="case files or folders that name the API and the reasons of the behaviour changes "
                        f"(default: {DEFAULT_CASES} when it exists; baselines keep no reasons)")
    dr = with_noise(sub.add_parser("drift", help="case x version matrix of where behaviour changed"))
    dr.add_argument("reports", nargs="+", metavar="REPORT", help="report or baseline files, or folders of them")
    dr.add_argument("--out", metavar="PATH", help="write the Markdown here instead of printing it")
    dr.add_argument("--readme", metavar="PATH",
                    help="also refresh the README's generated summary of the behaviour changes (drift block)")
    b = sub.add_parser("baseline", help="compact baselines (reports/baselines) of full reports")
    b.add_argument("reports", nargs="+", metavar="REPORT", help="reports written by run (e.g. reports/paddle331.json)")
    b.add_argument("--out", required=True, metavar="DIR", help="folder for the baselines (same file names)")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    commands = {"run": cmd_run, "list": cmd_list, "show": cmd_show, "schema": cmd_schema,
                "catalogue": cmd_catalogue, "sweep": cmd_sweep, "diff": cmd_diff, "drift": cmd_drift,
                "baseline": cmd_baseline}
    saved = sys.stdout, sys.stderr
    # Case files and framework messages reach the terminal: their control characters are shown, not obeyed.
    sys.stdout, sys.stderr = _InertStream(sys.stdout), _InertStream(sys.stderr)
    try:
        return commands[args.command](args)
    except (FileNotFoundError, ReportError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `show ... | head`: the reader has all it wanted
        _silence(saved[0])
        return EXIT_BROKEN_PIPE
    finally:
        sys.stdout, sys.stderr = saved


class UsageError(ValueError):
    """A command line that cannot be run as given (checked before any case runs)."""


class _InertStream:
    """A text stream that writes what it is given with control characters escaped (report.inert)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(inert(text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _silence(stream) -> None:
    """Point the closed pipe's descriptor at /dev/null, so the interpreter's last flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _check_outputs(out_dir: str | Path, files: list[str], readme: str | None = None) -> None:
    """Refuse, before anything runs, outputs that could not be written: a report folder that is a file, a
    report name that is a folder, a README without its results block."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder; reports go in a folder")
    for name in files:
        if (out / name).is_dir():
            raise UsageError(f"{out / name} is a folder; the report of that name cannot be written")
    if readme is not None:
        text = Path(readme).read_text(encoding="utf-8") if Path(readme).is_file() else None
        if text is None or README_START not in text or README_END not in text:
            raise UsageError(f"--readme {readme}: no file with a results block (the lines {README_START!r} "
                             f"and {README_END!r})")


def is_full_default_run(paths: list[str]) -> bool:
    """Whether a run covers exactly the case files of the default folder: only such a run may rewrite the
    catalogue, which describes every case (a ``--cases SUBSET`` run must leave the checkout as it was)."""
    default = Path(DEFAULT_CASES)
    if not default.is_dir():
        return False
    return {p.resolve() for p in discover(paths)} == {p.resolve() for p in discover([default])}


def cmd_run(args) -> int:
    from .console import Progress, finish_log, start_log
    names = [f"{args.stem}.{ext}" for ext in ("json", "md", "html", "log")] + [catalogue.DEFAULT_PATH.name]
    _check_outputs(args.out, names, args.readme)
    found = discover(args.cases)  # a missing path is a usage error before anything is written
    log = start_log(Path(args.out) / f"{args.stem}.log")
    progress = None
    try:
        with Runner(in_process=args.in_process, timeout=args.timeout, stall_timeout=args.stall_timeout) as runner:
            if found:
                runner.launch()  # the frameworks import in their workers while the cases load here
            items = load_all(args.cases)
            runner.progress = progress = Progress(sum(isinstance(i, Case) for i in items))
            report = runner.run(items)
    finally:
        if progress is not None:
            progress.close()
        log_lines = finish_log(log)
    cases = [i for i in items if isinstance(i, Case)]
    # The reports and the catalogue are one set: all replaced together, or none.
    files = report_files(report, args.out, stem=args.stem, cases=cases)
    if is_full_default_run(args.cases):
        catalogue_path = Path(args.out) / catalogue.DEFAULT_PATH.name
        files[catalogue_path] = catalogue.render(*catalogue.split(items), out_dir=catalogue_path.parent)
    write_atomic(files)
    if args.readme:
        update_readme(report, args.readme)
    for r in report.results:
        if r.status in ("fail", "error"):
            print(f"{r.status.upper()} {r.test_id}: {r.message}")
    print(f"{summary_line(report)}; reports: {', '.join(map(str, files))}"
          + (f"; framework output ({log_lines} lines): {log}" if log_lines else ""))
    if not report.ok:
        return 1
    empty = nothing_compared(report.results)
    if empty and not args.allow_empty:
        print(f"NOTHING COMPARED: {empty}; exit {EXIT_NOTHING_COMPARED} (--allow-empty accepts it)", file=sys.stderr)
        return EXIT_NOTHING_COMPARED
    return 0


def cmd_list(args) -> int:
    rows = []
    for item in load_all(args.cases):
        if isinstance(item, SpecError):
            rows.append([Path(item.file).stem, "", "ERROR", str(item)])
            continue
        try:
            n = str(len(plan(item, list(BACKENDS))))
        except SpecError as exc:
            n = f"ERROR: {exc}"
        rows.append([item.id, ", ".join(item.tags), n, item.path])
    print(tabulate(rows, headers=["case", "tags", "checks", "file"]))
    return 0 if all(r[2].isdigit() for r in rows) else 1


def cmd_show(args) -> int:
    items = load_all(args.cases)
    chosen = [i for i in items if isinstance(i, Case) and i.id == args.case_id]
    broken = [e for e in items if isinstance(e, SpecError) and args.case_id in (Path(e.file).stem, _raw_id(e.file))]
    if not chosen and broken:
        for error in broken:
            print(f"ERROR {error}", file=sys.stderr)
        return 1
    if not chosen:
        known = ", ".join(sorted(i.id for i in items if isinstance(i, Case)))
        print(f"error: no case {args.case_id!r}; known: {known}", file=sys.stderr)
        return 2
    with Runner(in_process=args.in_process, timeout=args.timeout, stall_timeout=args.stall_timeout) as runner:
        report = runner.run(chosen)
    from .show import render
    print(render(chosen[0], report, steps=args.step, quantities=args.quantity, failing=args.failing,
                 every=args.every))
    return 0 if report.ok else 1


def _raw_id(path: str) -> str | None:
    """The id a case file declares, read without the checks its SpecError failed (None if unreadable)."""
    try:
        value = read_raw(path).get("id")
    except SpecError:
        return None
    return value if isinstance(value, str) else None


def _schema_lines(cls, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    lines = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        key = f"{prefix}{f.name}"
        if f.metadata.get("rest"):  # flat keys accepted per optimizer by the registry
            lines += [f"- `{prefix}{name}` (optional): {doc}" for name, doc in f.metadata["rest"]().items()]
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = "required" if required else (
            f"default {f.default!r}" if f.default is not dataclasses.MISSING else "optional")
        accepted = f.metadata.get("accepted")
        extra = f" Accepted: {', '.join(accepted)}." if accepted else ""
        lines.append(f"- `{key}` ({_type_name(hints[f.name])}, {default}): {f.metadata.get('doc', '')}{extra}")
        tp = hints[f.name]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):  # Optional[X] -> X
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        origin = typing.get_origin(tp)
        if origin is tuple:
            target, sub = typing.get_args(tp)[0], "[]."
        elif origin is dict:
            target, sub = typing.get_args(tp)[1], ".<name>."
        else:
            target, sub = tp, "."
        if dataclasses.is_dataclass(target) and target is not cls:  # a nested [schedule] is described once
            lines += ["  " + line for line in _schema_lines(target, f"{key}{sub}")]
    return lines


def cmd_schema(args) -> int:
    if args.json or args.write:
        from . import schemas
        if args.json:
            print(schemas.render(args.json), end="")
        if args.write:
            write_atomic({path: schemas.render(name) for name, path in schemas.FILES.items()})
            print(f"wrote {', '.join(map(str, schemas.FILES.values()))}", file=sys.stderr)
        return 0
    print("Keys of a case file (TOML). Unknown keys are errors.\n")
    print("\n".join(_schema_lines(Case)))
    print("\nRecorded quantities (keys of tolerance.quantities; compared element-wise at every step):\n")
    print("\n".join(f"- `{q}`: {QUANTITY_DOCS[q]}" for q in QUANTITY_ORDER))
    return 0


def cmd_catalogue(args) -> int:
    items = load_all(args.cases)
    if args.out == "-":
        print(catalogue.render(*catalogue.split(items)), end="")
        return 0
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; the catalogue is one file")
    if args.check:
        text = catalogue.render(*catalogue.split(items), out_dir=out.parent)
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            print(f"{out} is {'missing' if current is None else 'out of date'}; regenerate it: "
                  f"python -m equivalence catalogue --out {out}", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    print(f"catalogue: {catalogue.write(items, out)}")
    return 0


def cmd_sweep(args) -> int:
    from .sweep import run_sweep  # hypothesis is imported only by the command that needs it
    from .sweep_report import assignments, failure_lines, headline, write_sweep_reports

    _check_outputs(args.out, [])
    items = load_all(args.cases)
    cases = {i.id: i for i in items if isinstance(i, Case)}
    broken = {Path(i.file).stem: i for i in items if isinstance(i, SpecError)}
    if args.case_ids:
        for case_id in args.case_ids:
            if case_id in broken and case_id not in cases:
                print(f"error: {broken[case_id]}", file=sys.stderr)
                return 2
            if case_id not in cases:
                print(f"error: no case {case_id!r}; known: {', '.join(sorted(cases))}", file=sys.stderr)
                return 2
            if cases[case_id].sweep is None:
                print(f"error: {case_id} has no [sweep] table ({cases[case_id].path}); `python -m equivalence "
                      f"schema` lists its keys (sweep.ranges)", file=sys.stderr)
                return 2
        chosen = [cases[i] for i in dict.fromkeys(args.case_ids)]
    else:
        chosen = [c for c in cases.values() if c.sweep is not None]
        for error in broken.values():
            print(f"ERROR {error}", file=sys.stderr)
        if not chosen:
            print("error: no case under " + ", ".join(args.cases) + " has a [sweep] table", file=sys.stderr)
            return 2

    def progress(example):
        if args.verbose:
            print(f"  {'ok  ' if example.ok else 'FAIL'} {assignments(example.values)} ({example.seconds:.2f} s)",
                  flush=True)

    ok = not broken or bool(args.case_ids)
    with Runner(in_process=args.in_process, timeout=args.timeout, stall_timeout=args.stall_timeout) as runner:
        for case in chosen:
            if args.verbose:
                print(f"sweep {case.id}", flush=True)
            outcome = run_sweep(case, runner, examples=args.examples, seed_value=args.seed,
                                max_seconds=args.max_seconds, progress=progress)
            paths = write_sweep_reports(outcome, args.out)
            print(headline(outcome))
            for line in failure_lines(outcome):
                print(f"  {line}")
            print(f"  reports: {', '.join(map(str, paths))}")
            ok = ok and outcome.ok
    return 0 if ok else 1
# ------------------------------------------------------------------------------------------ upgrade checks

def cmd_diff(args) -> int:
    from .diff import diff, render
    from .behaviour import behaviour_changes
    from .diff_input import check_noise, load_checked
    try:
        check_noise(args.factor, args.floor)
        result = diff(load_checked(args.old), load_checked(args.new), factor=args.factor, floor=args.floor)
    except ValueError as exc:
        if isinstance(exc, ReportError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result.behaviour:  # the case files name the APIs and, for baselines, the reasons
        paths = args.cases if args.cases is not None else [DEFAULT_CASES] if Path(DEFAULT_CASES).is_dir() else []
        cases = {i.id: i for i in load_all(paths) if isinstance(i, Case)}  # a broken file only loses context
        result.behaviour = behaviour_changes(result, cases)
    print(render(result, markdown=args.format == "markdown", fail_on_change=args.fail_on_change))
    if args.markdown:
        write_atomic({Path(args.markdown): render(result, markdown=True, fail_on_change=args.fail_on_change)})
    return result.exit_code(args.fail_on_change)


def cmd_drift(args) -> int:
    from .diff_input import check_noise
    from .drift import collect, matrix
    try:
        check_noise(args.factor, args.floor)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reports = collect(args.reports)
    if not reports:
        print(f"error: no reports in {' '.join(args.reports)}", file=sys.stderr)
        return 2
    text = matrix(reports, factor=args.factor, floor=args.floor)
    if args.readme:
        from .drift import update_readme
        try:
            update_readme(reports, args.readme, factor=args.factor, floor=args.floor)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"behaviour summary of {len(reports)} reports: {args.readme}")
    if args.out:
        write_atomic({Path(args.out): text})
        print(f"drift matrix of {len(reports)} reports: {args.out}")
    elif not args.readme:
        print(text)
    return 0


def cmd_baseline(args) -> int:
    from .baseline import load, render
    files = {}
    for path in map(Path, args.reports):
        report = load(path)
        files[Path(args.out) / path.name] = render(report)
        counts = ", ".join(f"{n} {k}" for k, n in report.counts().items())
        # The run's time (dropped from the baseline) shows a report left over from an earlier run.
        print(f"{Path(args.out) / path.name}: {report.label}; {counts} (run {report.time or 'at an unknown time'})")
    write_atomic(files)
    return 0
