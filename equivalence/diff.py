"""``python -m equivalence diff OLD.json NEW.json``: what changed between two runs of the cases, typically
the same cases before and after a framework upgrade.

Each check (case, implementation, compared_with) present in both runs falls in at most one category:

- newly divergent: equal before, divergent now;
- newly equal: divergent before, equal now (a fix, or a sensitivity check that no longer detects);
- stale expectation: equal now although the case expects a divergence, which occurred before;
- stopped running: compared before, and now an error, skipped or not applicable;
- started running: did not compare before, compares now;
- status changed: between error, skipped and not applicable;
- expectation changed: same observation, other expectation (the case file, or a version-limited divergence);
- error grew: same observation, worst absolute error grown by more than ``factor`` (see ``grew``);
- still failing: failing in both runs, unchanged.

plus checks and cases added or removed. A **regression** (exit code 1) is a change that leaves the check
failing (fail or error) in NEW, a check that stopped running, or an error that grew (but for a sensitivity
check's, which only moves a wrong mapping further from the tolerance): an upgrade with none is safe for these
cases. A change that NEW's case files expect (a divergence declared for NEW's version range)
is listed but passes, so it is no regression.

The output leads with the **behaviour changes** (``behaviour.py``): the frameworks' own changes, expected
by the cases or not, per case with the API, quantity, size and reason; then the regressions of the suite's
expectations; then every changed check by category. ``fail_on_change`` (``--fail-on-change``) makes any
behaviour change exit 1 too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tabulate import tabulate

from . import behaviour
from .baseline import RAN, Report, check_id

DEFAULT_FACTOR = 10.0
# Errors below this are noise whatever the dtype: float64 runs differ from the reference by ~1e-16.
DEFAULT_FLOOR = 1e-12
ROUNDING = "reference/float32"  # the case's own float32 rounding check; its error is the noise level

CATEGORIES = ("newly divergent", "newly equal", "stale expectation", "stopped running", "started running",
              "status changed", "expectation changed", "error grew", "still failing", "checks added",
              "checks removed")
FAILING = ("fail", "error")


@dataclass
class Change:
    category: str
    test_id: str
    old: dict | None
    new: dict | None
    regression: bool
    note: str = ""


@dataclass
class Diff:
    old: Report
    new: Report
    factor: float
    changes: list[Change] = field(default_factory=list)
    cases_added: list[str] = field(default_factory=list)
    cases_removed: list[str] = field(default_factory=list)
    behaviour: list = field(default_factory=list)  # behaviour.BehaviourChange, the headline

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]

    def exit_code(self, fail_on_change: bool = False) -> int:
        return 1 if self.regressions or (fail_on_change and self.behaviour) else 0

    def by_category(self) -> dict[str, list[Change]]:
        grouped = {name: [] for name in CATEGORIES}
        for c in self.changes:
            grouped[c.category].append(c)
        return {k: v for k, v in grouped.items() if v}


def noise_level(report: Report, case: str, floor: float) -> float:
    """Errors below this say nothing about the frameworks: the floor, or for a float32 case the error
    that plain float32 rounding already makes (its reference/float32 check), whichever is larger."""
    rounding = report.results.get((case, ROUNDING, "reference"), {}).get("max_abs_error")
    return max(floor, rounding) if isinstance(rounding, float) else floor


def grew(old: dict, new: dict, factor: float, noise: float) -> bool:
    """Whether NEW's worst absolute error exceeds ``factor`` times OLD's, both raised to the noise level
    first. The absolute error, not the relative: the relative error of an element near zero swings by
    orders of magnitude with its last bits."""
    a, b = old.get("max_abs_error"), new.get("max_abs_error")
    if b is None or a is None:
        return False
    if isinstance(b, str) or isinstance(a, str):  # "nan" / "inf": a change only if it is new
        return isinstance(b, str) and not isinstance(a, str)
    return max(b, noise) > factor * max(a, noise)


def _category(old: dict, new: dict, factor: float, noise: float) -> str | None:
    o, n = old["observed"], new["observed"]
    if o == "equal" and n == "divergent":
        return "newly divergent"
    if o == "divergent" and n == "equal":
        return "stale expectation" if new["expected"] == "divergent" else "newly equal"
    if o in RAN and n not in RAN:
        return "stopped running"
    if o not in RAN and n in RAN:
        return "started running"
    if o != n:
        return "status changed"
    if old["expected"] != new["expected"]:
        return "expectation changed"
    if n in RAN and grew(old, new, factor, noise):
        return "error grew"
    if new["status"] in FAILING:
        return "still failing"
    return None


def _note(category: str, old: dict | None, new: dict | None, factor: float) -> str:
    r = new if new is not None else old
    if category == "error grew":
        return f"worst abs error x{_ratio(old, new):.3g} (more than x{factor:g})"
    if category in ("checks added", "checks removed"):
        return f"{r['status']} in {'NEW' if new is not None else 'OLD'}"
    if r.get("message"):
        return r["message"]
    where = r.get("first_divergence")
    if where:
        return f"first divergence: step {where['step']}, {where['quantity']} of {where['parameter']}"
    return ""


def _ratio(old: dict, new: dict) -> float:
    a, b = old.get("max_abs_error"), new.get("max_abs_error")
    if isinstance(a, str) or isinstance(b, str) or not a:
        return float("inf")
    return b / a


def diff(old: Report, new: Report, factor: float = DEFAULT_FACTOR, floor: float = DEFAULT_FLOOR,
         cases: dict | None = None) -> Diff:
    """``cases`` (case id -> Case, when the case files are at hand) give the behaviour changes their API
    and, for baselines (which keep no reasons), the reasons of the expectations."""
    if factor <= 1:
        raise ValueError(f"factor {factor:g} must be > 1 (the error growth worth reporting)")
    result = Diff(old, new, factor)
    old_cases, new_cases = set(old.cases()), set(new.cases())
    result.cases_added = [c for c in new.cases() if c not in old_cases]
    result.cases_removed = [c for c in old.cases() if c not in new_cases]
    for key, n in new.results.items():
        o = old.results.get(key)
        if o is None:
            if key[0] in old_cases:
                result.changes.append(Change("checks added", check_id(n), None, n, False,
                                             _note("checks added", None, n, factor)))
            continue
        noise = max(noise_level(old, key[0], floor), noise_level(new, key[0], floor))
        category = _category(o, n, factor, noise)
        if category is None:
            continue
        # A sensitivity check (a deliberately wrong mapping) whose error grew is further from the tolerance:
        # easier to detect, no regression.
        regression = category != "still failing" and (
            n["status"] in FAILING or category == "stopped running"
            or (category == "error grew" and n["kind"] != "sensitivity"))
        result.changes.append(Change(category, check_id(n), o, n, regression, _note(category, o, n, factor)))
    for key, o in old.results.items():
        if key not in new.results and key[0] in new_cases:
            result.changes.append(Change("checks removed", check_id(o), o, None, False,
                                         _note("checks removed", o, None, factor)))
    result.behaviour = behaviour.behaviour_changes(result, cases)
    return result


# ------------------------------------------------------------------------------------------------ output

def verdict_cell(r: dict | None) -> str:
    if r is None:
        return "-"
    plain = r["status"] in ("pass", "skipped", "not-applicable") or r["status"] == r["observed"]  # not "error (error)"
    text = r["observed"] if plain else f"{r['observed']} ({r['status']})"
    if r.get("max_abs_error") is not None and r["observed"] in RAN:
        value = r["max_abs_error"]
        text += f", abs err {value:.2e}" if isinstance(value, float) else f", abs err {value}"
    return text


def shorten(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def render(d: Diff, markdown: bool = False, fail_on_change: bool = False) -> str:
    """The diff for a terminal (tabulate's simple tables) or as Markdown (GitHub tables): the behaviour
    changes first, then the regressions of the suite's expectations, then every changed check."""
    fmt = "github" if markdown else "simple"

    def heading(text: str, level: int = 2) -> str:
        return f"{'#' * level} {text}" if markdown else f"{text}\n{'=' * len(text) if level == 1 else '-' * len(text)}"

    def code(text: str) -> str:
        return f"`{text}`" if markdown else text

    def strong(text: str) -> str:
        return f"**{text}**" if markdown else text

    regressions = d.regressions
    exit_code = d.exit_code(fail_on_change)
    verdict = (f"NOT SAFE: {len(regressions)} regression{'s' if len(regressions) != 1 else ''} (exit code 1)"
               if regressions else "no regression (exit code 1: --fail-on-change and the behaviour changed)"
               if exit_code else "no regression (exit code 0)")
    rule = (f"The suite's expectations: {strong(verdict)}. A regression is a check failing in NEW that did "
            f"not fail the same way in OLD, a check that stopped running, or a worst absolute error grown more "
            f"than x{d.factor:g} above the noise level.")
    lines = [heading(f"Upgrade diff: {d.old.label} -> {d.new.label}", 1), "",
             f"OLD: {code(d.old.path)} ({_counts(d.old)})", "",
             f"NEW: {code(d.new.path)} ({_counts(d.new)})", "",
             strong(behaviour.counts_line(d.behaviour)), "", rule, ""]
    if d.behaviour:
        lines += [heading(f"Behaviour changes ({len(d.behaviour)})"), "",
                  "What the frameworks now compute differently, whether or not a case expects it: a change the "
                  "case files expect passes the suite, but code written for OLD's behaviour changes meaning. "
                  f"{'Any of them exits 1 (--fail-on-change).' if fail_on_change else '--fail-on-change exits 1 on any.'}",
                  ""]
        lines += behaviour.render(d.behaviour, markdown, code, shorten,
                                  behaviour.changed_frameworks(d.old, d.new))
    lines += [heading(f"Regressions of the suite's expectations ({len(regressions)})"), ""]
    if regressions:
        rows = [[code(c.test_id), c.category, verdict_cell(c.old), verdict_cell(c.new), shorten(c.note)]
                for c in regressions]
        if markdown:
            rows = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        lines += [tabulate(rows, headers=["check", "change", "OLD", "NEW", "note"], tablefmt=fmt,
                           disable_numparse=True), ""]
    else:
        lines += ["None: every check meets its case's expectation in NEW wherever it did in OLD.", ""]
    for label, cases in (("Cases added", d.cases_added), ("Cases removed", d.cases_removed)):
        if cases:
            lines += [f"{label} ({len(cases)}): " + ", ".join(code(c) for c in cases), ""]
    grouped = d.by_category()
    if not grouped:
        lines += ["No check changed.", ""]
    else:
        lines += ["Every changed check, by category:", ""]
    for category, changes in grouped.items():
        lines += [heading(f"{category[0].upper()}{category[1:]} ({len(changes)})"), ""]
        rows = [[code(c.test_id), "yes" if c.regression else "", verdict_cell(c.old), verdict_cell(c.new),
                 shorten(c.note)] for c in changes]
        if markdown:
            rows = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        lines += [tabulate(rows, headers=["check", "regression", "OLD", "NEW", "note"], tablefmt=fmt,
                           disable_numparse=True), ""]
    return "\n".join(lines)


def _counts(report: Report) -> str:
    counts = report.counts()
    return ", ".join(f"{n} {k}" for k, n in counts.items())
