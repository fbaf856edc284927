"""Command line: ``python -m equivalence run | list | show | schema``.

Exit codes: 0 every result matches its expectation (or is skipped), 1 some do not, 2 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from pathlib import Path

from tabulate import tabulate

from .backends import BACKENDS
from .plan import plan
from .record import QUANTITY_DOCS, QUANTITY_ORDER
from .report import results_table, summary_line, update_readme, write_reports
from .runner import Runner, load_all
from .spec import Case, SpecError, _type_name

DEFAULT_CASES = "cases"


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
        p.add_argument("--timeout", type=float, default=300.0, help="seconds per framework run (default 300)")
        return p

    run = with_execution(with_cases(sub.add_parser("run", help="run cases and write reports")))
    run.add_argument("--out", default="reports", metavar="DIR", help="report folder (default: reports)")
    run.add_argument("--readme", metavar="PATH", help="also refresh the results block of this README")
    with_cases(sub.add_parser("list", help="list cases with their tags and checks"))
    show = with_execution(with_cases(sub.add_parser("show", help="run one case and print every comparison")))
    show.add_argument("case_id")
    sub.add_parser("schema", help="print every key a case file may hold")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return {"run": cmd_run, "list": cmd_list, "show": cmd_show, "schema": cmd_schema}[args.command](args)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_run(args) -> int:
    with Runner(in_process=args.in_process, timeout=args.timeout) as runner:
        report = runner.run(load_all(args.cases))
    paths = write_reports(report, args.out)
    if args.readme:
        update_readme(report, args.readme)
    for r in report.results:
        if r.status in ("fail", "error"):
            print(f"{r.status.upper()} {r.test_id}: {r.message}")
    print(f"{summary_line(report)}; reports: {', '.join(map(str, paths))}")
    return 0 if report.ok else 1


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
    if not chosen:
        known = ", ".join(sorted(i.id for i in items if isinstance(i, Case)))
        print(f"error: no case {args.case_id!r}; known: {known}", file=sys.stderr)
        return 2
    with Runner(in_process=args.in_process, timeout=args.timeout) as runner:
        report = runner.run(chosen)
    case = chosen[0]
    print(f"{case.id}: {case.description.strip()}\n({case.path})\n")
    print(results_table(report.results, fmt="simple"))
    for r in report.results:
        print(f"\n## {r.test_id}: {r.status} ({r.observed}, expected {r.expected})\n{r.message}")
        if r.comparison is None or not r.comparison.details:
            continue
        rows = [[d.step, d.quantity, d.name, d.size, d.mismatches, f"{d.max_abs_error:.3g}",
                 f"{d.max_rel_error:.3g}", f"rtol={d.tolerance.rtol:g} atol={d.tolerance.atol:g}"]
                for d in r.comparison.details]
        print(tabulate(rows, headers=["step", "quantity", "parameter", "elements", "mismatches", "max abs err",
                                      "max rel err", "tolerance"]))
        if r.comparison.only_in_actual or r.comparison.only_in_expected:
            print(f"not compared (recorded on one side only): {r.implementation}: "
                  f"{', '.join(r.comparison.only_in_actual) or '-'}; {r.compared_with}: "
                  f"{', '.join(r.comparison.only_in_expected) or '-'}")
    return 0 if report.ok else 1


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
        if dataclasses.is_dataclass(target):
            lines += ["  " + line for line in _schema_lines(target, f"{key}{sub}")]
    return lines


def cmd_schema(args) -> int:
    print("Keys of a case file (TOML). Unknown keys are errors.\n")
    print("\n".join(_schema_lines(Case)))
    print("\nRecorded quantities (keys of tolerance.quantities; compared element-wise at every step):\n")
    print("\n".join(f"- `{q}`: {QUANTITY_DOCS[q]}" for q in QUANTITY_ORDER))
    return 0
