"""``python -m equivalence show CASE_ID``: one case, check by check, in as much detail as asked.

By default it stays short: the results table (every check's verdict), then the checks to look at (failing,
erring, or diverging as the case expects; not the sensitivity checks, which diverge by design), each with
the mismatching rows of the step where it first diverges (at most ``DEFAULT_ROWS``). ``--step`` and ``--quantity`` choose rows,
``--failing`` keeps the checks that fail or err, ``--all`` prints every row of every check (one row per
step, quantity and parameter: hundreds for a long case).
"""

from __future__ import annotations

from tabulate import tabulate

from .report import results_table

DEFAULT_ROWS = 5
HEADERS = ["step", "quantity", "parameter", "elements", "mismatches", "max abs err", "max rel err to scale",
           "tolerance"]


def quantity_matches(quantity: str, wanted: list[str]) -> bool:
    """A quantity matches its name or a dotted prefix of it: ``state`` matches ``state.velocity``."""
    return any(quantity == w or quantity.startswith(w + ".") for w in wanted)


def _rows(details, steps: list[int] | None, quantities: list[str] | None, every: bool) -> tuple[list, str]:
    """The rows to print and, when some are left out, a line saying how to see them."""
    chosen = [d for d in details if (steps is None or d.step in steps)
              and (quantities is None or quantity_matches(d.quantity, quantities))]
    if every or steps is not None or quantities is not None:
        return chosen, ""
    mismatching = [d for d in chosen if d.mismatches]
    if not mismatching:
        return [], f"every one of the {len(chosen)} rows (step, quantity, parameter) is within tolerance"
    first = min(d.step for d in mismatching)
    shown = [d for d in mismatching if d.step == first][:DEFAULT_ROWS]
    return shown, (f"{len(shown)} of {len(chosen)} rows: the mismatching ones of step {first}, where it first "
                   f"diverges ({len(mismatching)} mismatching rows in all)")


def render(case, report, steps: list[int] | None = None, quantities: list[str] | None = None,
           failing: bool = False, every: bool = False) -> str:
    lines = [f"{case.id}: {case.description.strip()}", f"({case.path})", ""]
    results = [r for r in report.results if not failing or r.status in ("fail", "error")]
    if failing and not results:
        lines.append("No check fails or errs.")
    if results:
        lines.append(results_table(results, fmt="simple"))
    narrowed = steps is not None or quantities is not None or every
    detailed = results if narrowed or failing else [
        r for r in results if r.status in ("fail", "error") or (r.observed == "divergent" and r.kind != "sensitivity")]
    for r in detailed:
        lines += ["", f"## {r.test_id}: {r.status} ({r.observed}, expected {r.expected})", r.message]
        if r.explanation is not None:
            lines.append(f"explanation ({r.explanation.kind}): {r.explanation.text}")
        if r.comparison is None or not r.comparison.details:
            continue
        rows, note = _rows(r.comparison.details, steps, quantities, every)
        if rows:
            lines.append(tabulate([[d.step, d.quantity, d.name, d.size, d.mismatches, f"{d.max_abs_error:.3g}",
                                    f"{d.max_rel_error:.3g}", f"rtol={d.tolerance.rtol:g} atol={d.tolerance.atol:g}"]
                                   for d in rows], headers=HEADERS))
        elif narrowed:
            lines.append("no row matches --step / --quantity")
        if note:
            lines.append(f"({note})")
        if every and (r.comparison.only_in_actual or r.comparison.only_in_expected):
            lines.append(f"not compared (recorded on one side only): {r.implementation}: "
                         f"{', '.join(r.comparison.only_in_actual) or '-'}; {r.compared_with}: "
                         f"{', '.join(r.comparison.only_in_expected) or '-'}")
    if not narrowed:
        lines += ["", f"Details of {len(detailed)} of {len(results)} checks (failing, erring or diverging). More: "
                      "--step N, --quantity NAME (state matches state.velocity), --failing, --all."]
    return "\n".join(lines)
