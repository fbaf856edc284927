"""A sweep's report: ``sweep-<case>.json`` (the contract, see reports/README.md) and ``sweep-<case>.md``,
written together with report.write_atomic; and the lines the CLI and the pytest item print."""

from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from .report import md_code, md_text, write_atomic
from .spec.limits import is_safe_id
from .runner import Result
from .sweep import Example, SweepOutcome

SWEEP_SCHEMA_VERSION = 1


def _value(v) -> str:
    return "(not set)" if v is None else repr(v)


def assignments(values: dict) -> str:
    """``optimizer.lr = 0.3012, optimizer.momentum = 0.9``: pasteable into the case file key by key."""
    return ", ".join(f"{k} = {_value(v)}" for k, v in values.items()) or "(the case as written)"


def _failure_json(r: Result) -> dict:
    data = r.to_json()
    return {k: data[k] for k in ("implementation", "compared_with", "kind", "expected", "observed", "status",
                                 "max_abs_error", "max_rel_error", "mismatches", "first_divergence", "message")
            } | {"test_id": r.test_id}


def _example_json(e: Example) -> dict:
    return {"values": e.values, "ok": e.ok, "phase": e.phase, "seconds": round(e.seconds, 4),
            "failing": [r.test_id for r in e.failing]}


def to_json(outcome: SweepOutcome) -> dict:
    ce = outcome.counterexample
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "case": outcome.case.id,
        "file": outcome.case.path,
        "status": outcome.status,
        "message": headline(outcome),
        "environment": outcome.environment,
        "settings": {"max_examples": outcome.max_examples, "seed": outcome.seed, "max_seconds": outcome.max_seconds},
        "ranges": {a.key: {"low": a.range.low, "high": a.range.high, "scale": a.range.scale,
                           "integer": a.range.integer, "steps": a.range.steps, "base": a.base}
                   for a in outcome.axes},
        "examples_run": len(outcome.examples),
        "examples_failed": sum(not e.ok for e in outcome.examples),
        "rejected": outcome.rejected,
        "out_of_time": outcome.out_of_time,
        "elapsed_s": round(outcome.elapsed, 3),
        "counterexample": None if ce is None else {
            "values": ce.values,
            "changed": ce.changed(outcome.axes),
            "nearest_passing": outcome.nearest_passing(),
            "failures": [_failure_json(r) for r in ce.failing],
        },
        "examples": [_example_json(e) for e in outcome.examples],
        "not_swept": sorted(outcome.unavailable),
        "error": outcome.error or None,
    }


def headline(outcome: SweepOutcome) -> str:
    """One line: what was swept and what came of it."""
    n = len(outcome.examples)
    budget = " (stopped by the time budget)" if outcome.out_of_time else ""
    if outcome.error:
        return f"{outcome.case.id}: sweep error: {outcome.error}"
    ce = outcome.counterexample
    if ce is None:
        keys = ", ".join(a.key for a in outcome.axes)
        return (f"{outcome.case.id}: no counter-example in {n} variants over {keys}{budget} "
                f"({outcome.elapsed:.1f} s)")
    changed = ce.changed(outcome.axes)
    where = assignments(changed) if changed else "the case as written"
    near = outcome.nearest_passing()
    bracket = "".join(f"; passes at {k} = {_value(v)}" for k, v in near.items())
    return (f"{outcome.case.id}: counter-example at {where}{bracket} (after {n} variants{budget}, "
            f"{outcome.elapsed:.1f} s): {len(ce.failing)} check(s) off their expectation")


def failure_lines(outcome: SweepOutcome) -> list[str]:
    """The counter-example's failing checks, each with its first divergence, and any framework that did not
    run at all."""
    lines = [f"not swept: {m}" for m in sorted(outcome.unavailable)]
    ce = outcome.counterexample
    if ce is None:
        return lines
    for r in ce.failing:
        lines.append(f"{r.test_id}: {r.status} (expected {r.expected}, observed {r.observed}): {r.message}")
    bases = {a.key: a.base for a in outcome.axes}
    lines.append(f"variant: {assignments(ce.values)} (case: {assignments(bases)})")
    return lines


def markdown(outcome: SweepOutcome) -> str:
    env = outcome.environment
    lines = [f"# Sweep: {outcome.case.id}", "", headline(outcome) + ".", "",
             f"Case file: {md_code(outcome.case.path)}. Seed {outcome.seed}, at most {outcome.max_examples} variants"
             + (f", {outcome.max_seconds:g} s" if outcome.max_seconds is not None else "") + ". "
             + "Environment: " + ", ".join(f"{k} {env[k]}" for k in ("python", "numpy", "paddle", "torch")
                                           if k in env) + ".", "",
             "## Ranges", "",
             tabulate([[f"`{a.key}`", a.range.low, a.range.high, "integer" if a.range.integer else a.range.scale,
                        "" if a.range.integer else a.range.steps, _value(a.base)] for a in outcome.axes],
                      headers=["key", "low", "high", "scale", "steps", "case value"], tablefmt="github",
                      disable_numparse=True), ""]
    ce = outcome.counterexample
    if ce is not None:
        lines += ["## Counter-example", "",
                  "The failing variant hypothesis shrank towards the case as written; in the case file:", "", "```toml"]
        lines += [f"{k} = {_value(v)}" for k, v in ce.values.items()]
        lines += ["```", ""]
        for r in ce.failing:
            lines.append(f"- `{r.test_id}` ({r.status}, expected {r.expected}, observed {r.observed}): "
                         f"{md_text(r.message)}")
        lines.append("")
    if outcome.error:
        lines += ["## Error", "", md_text(outcome.error), ""]
    if outcome.unavailable:
        lines += ["## Not swept", "", *(f"- {m}" for m in sorted(outcome.unavailable)), ""]
    keys = [a.key for a in outcome.axes]
    rows = [[i + 1, e.phase, *(_value(e.values[k]) for k in keys), "ok" if e.ok else "FAIL",
             ", ".join(f"`{r.test_id}`" for r in e.failing)] for i, e in enumerate(outcome.examples)]
    lines += ["## Variants run", "",
              tabulate(rows, headers=["#", "phase", *(f"`{k}`" for k in keys), "result", "failing checks"],
                       tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines)


def write_sweep_reports(outcome: SweepOutcome, out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    if not is_safe_id(outcome.case.id):  # the loader checks ids; a path is never built from unchecked text
        raise ValueError(f"{outcome.case.id!r} is not a case id that can name a file")
    stem = f"sweep-{outcome.case.id}"
    # Render both before writing either, so a rendering bug leaves the previous pair untouched.
    files = {out_dir / f"{stem}.json": json.dumps(to_json(outcome), indent=2, allow_nan=False) + "\n",
             out_dir / f"{stem}.md": markdown(outcome)}
    write_atomic(files)
    return list(files)
