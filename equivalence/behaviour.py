"""The headline of an upgrade diff: what the frameworks now do differently, apart from what the suite expects.

``diff`` sorts every changed check into categories; this module picks the changes that are the frameworks'
own (a framework check whose verdict flipped, that started or stopped running because an API appeared,
disappeared or began to raise, or whose worst error grew) and groups them per case and direction, with
what a person deciding an upgrade needs: the framework API the case exercises and through which routes,
the quantity where the runs part and from which step, how much (worst absolute error OLD -> NEW), and
the reason the case's expectation gives (from NEW's report, or from the case files for a baseline, which
keeps no reasons). A behaviour change the case files expect is still a change: it passes the suite, but
code that relied on the old behaviour changes meaning. ``--fail-on-change`` makes any of them exit 1.

Framework-neutral: frameworks are whatever the reports name (the first part of an implementation id),
and the API is described from the case file alone, never from a framework module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .baseline import RAN, Key, Report
from .spec import Case, SpecError

FRAMEWORK_KINDS = ("equivalence", "direct")  # checks that run a framework; rounding / sensitivity do not
# Observations of a check that did not compare because of the framework itself (an API missing, refused or
# raising); "skipped" is the suite's own choice (a version range) or a framework not installed.
FRAMEWORK_REFUSALS = ("not-applicable", "error")

NOW_DIVERGES, NOW_AGREES, NOW_RUNS, NO_LONGER_RUNS, ERROR_GREW = (
    "now diverges", "now agrees", "now runs", "no longer runs", "error grew")
ORDER = (NOW_DIVERGES, NOW_AGREES, ERROR_GREW, NO_LONGER_RUNS, NOW_RUNS)
PLURAL = {NOW_DIVERGES: "now diverge", NOW_AGREES: "now agree", NOW_RUNS: "now run",
          NO_LONGER_RUNS: "no longer run", ERROR_GREW: "error grew"}


def direction(change) -> str | None:
    """The behaviour change a diff ``Change`` stands for, or None when it is not the frameworks' own."""
    r = change.new if change.new is not None else change.old
    if r["kind"] not in FRAMEWORK_KINDS or change.old is None or change.new is None:
        return None
    old, new = change.old["observed"], change.new["observed"]
    if change.category == "newly divergent":
        return NOW_DIVERGES
    if change.category in ("newly equal", "stale expectation"):
        return NOW_AGREES
    if change.category == "error grew":
        return ERROR_GREW
    if change.category == "started running" and old in FRAMEWORK_REFUSALS:
        return NOW_RUNS
    if change.category == "stopped running" and new in FRAMEWORK_REFUSALS:
        return NO_LONGER_RUNS
    return None


@dataclass
class BehaviourChange:
    """One case's checks that changed the same way."""

    case: str
    what: str  # one of ORDER
    changes: list = field(default_factory=list)  # diff.Change, in report order
    api: str = ""  # what the case exercises, from its file ("" when the case file is not at hand)
    description: str = ""
    where: str = ""  # "loss from step 1"
    old_error: float | str | None = None
    new_error: float | str | None = None
    expectation: str = ""  # what the case files say about it, with their reason
    references: tuple[str, ...] = ()
    message: str = ""  # why a check does not run (now runs / no longer runs)

    @property
    def implementations(self) -> list[str]:
        return [c.test_id.split("[", 1)[1].rstrip("]") for c in self.changes]

    def routes(self, frameworks: list[str]) -> dict[str, list[str]]:
        """framework -> its routes among the changed checks, for the given frameworks (those whose
        version changed), or for every framework the checks run when none of them is among those."""
        found: dict[str, list[str]] = {}
        for c in self.changes:
            r = c.new or c.old
            for impl in (r["implementation"], r["compared_with"]):
                head, _, route = impl.partition("/")
                if route and route not in found.setdefault(head, []):
                    found[head].append(route)
        chosen = {k: v for k, v in found.items() if k in frameworks}
        return chosen or found


def subject(case: Case) -> str:
    """The framework API a case exercises, in the case's neutral words (the backends map them to each
    framework's classes and functions)."""
    if case.kind == "loss" and case.loss_probe is not None:
        lp = case.loss_probe
        return f"{lp.name} loss (reduction {lp.reduction})"
    if case.kind == "dropout" and case.dropout is not None:
        d = case.dropout
        return d.variant + (f" ({d.mode})" if d.mode != "upscale_in_train" else "") + (
            "" if d.training else " in eval mode")
    if case.kind == "normalization" and case.normalization is not None:
        return case.normalization.layer
    parts = [f"{case.optimizer.name} optimizer" if case.optimizer is not None else "training step"]
    reg = case.regularization
    if reg is not None:
        parts += [f"{name.upper()} regularization" for name in ("l1", "l2") if getattr(reg, name)]
    if case.clip is not None:
        parts.append(f"{case.clip.kind} gradient clipping")
    if case.schedule is not None:
        parts.append(f"{case.schedule.name} lr schedule")
    if case.lr_multipliers:
        parts.append("per-parameter learning rates")
    if case.loss_scaling is not None:
        parts.append("loss scaling")
    if case.ema is not None:
        parts.append("EMA of the weights")
    return " with ".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else parts[0]


def expectation(case: Case | None, key: Key, frameworks: dict[str, str]) -> tuple[str, tuple[str, ...]] | None:
    """(reason, references) of the case file's expected divergence for this check under these framework
    versions, or None when the case expects it equal there (or its file is not at hand)."""
    from .plan import for_versions, plan  # plan imports the reference; only a diff with case files needs it
    if case is None:
        return None
    try:
        checks = plan(case, list(frameworks))
    except SpecError:
        return None
    for check in checks:
        if (check.implementation, check.compared_with) == key[1:]:
            check, _ = for_versions(check, frameworks)
            return (check.reason, check.references) if check.expected == "divergent" else None
    return None


def _reason(report: Report, key: Key, case: Case | None, result: dict) -> tuple[str, tuple[str, ...]] | None:
    """The reason and references of an expected divergence: from a full report when it holds them, else
    from the case file, as that report's framework versions select it."""
    if result["expected"] != "divergent":
        return None
    held = report.context.get(key)
    if held and held.get("reason"):
        return held["reason"], tuple(held.get("references", ()))
    found = expectation(case, key, report.frameworks)
    return found if found is not None else ("(no reason at hand: pass --cases with the case files)", ())


def _worst(values: list) -> float | str | None:
    """The largest error; a non-finite one ("nan", "inf") wins."""
    strings = [v for v in values if isinstance(v, str)]
    if strings:
        return strings[0]
    numbers = [v for v in values if isinstance(v, (int, float))]
    return max(numbers) if numbers else None


def _where(results: list[dict]) -> str:
    """Where the runs part, over the group: the quantities of the earliest first divergence."""
    firsts = [r["first_divergence"] for r in results if r and r.get("first_divergence")]
    if not firsts:
        return ""
    step = min(f["step"] for f in firsts)
    quantities = list(dict.fromkeys(f["quantity"] for f in firsts if f["step"] == step))
    return f"{', '.join(quantities)} from step {step}"


def behaviour_changes(d, cases: dict[str, Case] | None = None) -> list[BehaviourChange]:
    """The diff's framework behaviour changes, one entry per (case, direction), in report order."""
    cases = cases or {}
    groups: dict[tuple[str, str], BehaviourChange] = {}
    for change in d.changes:
        what = direction(change)
        if what is None:
            continue
        r = change.new or change.old
        group = groups.setdefault((r["case"], what), BehaviourChange(r["case"], what))
        group.changes.append(change)
    out = sorted(groups.values(), key=lambda g: ORDER.index(g.what))
    for g in out:
        case = cases.get(g.case)
        if case is not None:
            g.api, g.description = subject(case), " ".join(case.description.split())
        olds = [c.old for c in g.changes]
        news = [c.new for c in g.changes]
        g.old_error = _worst([o.get("max_abs_error") for o in olds if o["observed"] in RAN])
        g.new_error = _worst([n.get("max_abs_error") for n in news if n["observed"] in RAN])
        g.where = _where(news if g.what in (NOW_DIVERGES, ERROR_GREW) else olds)
        if g.what in (NOW_RUNS, NO_LONGER_RUNS):
            side = olds if g.what == NOW_RUNS else news
            g.message = next((r["message"] for r in side if r.get("message")), "")
        g.expectation, g.references = _expectation_text(d, g, cases.get(g.case))
    return out


def _expectation_text(d, g: BehaviourChange, case: Case | None) -> tuple[str, tuple[str, ...]]:
    """What the suite's case files say about the change, with the reason they give."""
    first = g.changes[0]
    key = (first.new or first.old)["case"], (first.new or first.old)["implementation"], \
        (first.new or first.old)["compared_with"]
    new_reason = _reason(d.new, key, case, first.new) if first.new["observed"] in RAN else None
    old_reason = _reason(d.old, key, case, first.old) if first.old["observed"] in RAN else None
    if g.what == NOW_DIVERGES:
        if new_reason:
            return f"expected by the case: {new_reason[0]}", new_reason[1]
        return "not expected by the case: a regression of the suite's expectations too", ()
    if g.what == NOW_AGREES:
        if old_reason:
            still = " (NEW still expects it: stale)" if new_reason else ""
            return f"the divergence the case expected before{still}: {old_reason[0]}", old_reason[1]
        return "the case did not expect the old divergence", ()
    reason = new_reason or old_reason
    return (f"expected divergence: {reason[0]}", reason[1]) if reason else ("", ())



# ------------------------------------------------------------------------------------------------ output

def counts_line(groups: list[BehaviourChange]) -> str:
    """'BEHAVIOUR CHANGED in 17 cases (66 checks): 1 case now diverges, ...' or that nothing changed."""
    if not groups:
        return ("Behaviour unchanged: every framework check has the same verdict, runs as before, and no worst "
                "error grew.")
    per = {w: sum(g.what == w for g in groups) for w in ORDER}
    cases = len({g.case for g in groups})
    checks = sum(len(g.changes) for g in groups)
    parts = [f"{n} {w if n == 1 else PLURAL[w]}" for w, n in per.items() if n]
    return (f"BEHAVIOUR CHANGED in {cases} case{'s' if cases != 1 else ''} ({checks} framework "
            f"check{'s' if checks != 1 else ''}): {', '.join(parts)}.")


def error_text(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def changed_frameworks(old: Report, new: Report) -> list[str]:
    """The frameworks whose version differs between the reports: the ones an upgrade changed."""
    return [k for k, v in new.frameworks.items() if old.frameworks.get(k) != v]


def render(groups: list[BehaviourChange], markdown: bool, code, shorten, upgraded: list[str]) -> list[str]:
    """The behaviour changes as lines: every verdict flip and grown error in full, then the APIs that
    appeared or disappeared as one table (there can be many: every optimizer an old version lacks)."""
    from tabulate import tabulate

    from .report import md_text
    text = md_text if markdown else (lambda x: x)  # case-file text is inert in Markdown (no HTML, no tables)
    detailed = [g for g in groups if g.what in (NOW_DIVERGES, NOW_AGREES, ERROR_GREW)]
    availability = [g for g in groups if g.what in (NOW_RUNS, NO_LONGER_RUNS)]
    lines: list[str] = []
    for g in detailed:
        api = g.api or "(case file not at hand: pass --cases)"
        routes = "; ".join(f"{framework} {', '.join(names)}" for framework, names in g.routes(upgraded).items())
        head = f"{code(g.case)}: {g.what.upper()}"
        where = {NOW_AGREES: f", where OLD parted first: {g.where}"}.get(g.what, f", first in {g.where}")
        body = [f"API: {text(api)}, through {text(routes)}",
                f"how much: worst abs error {error_text(g.old_error)} -> {error_text(g.new_error)}"
                + (where if g.where else ""),
                f"checks: {', '.join(code(i) for i in g.implementations)}"]
        if g.expectation:
            body.append(text(shorten(g.expectation, 400)))
        if g.references:
            body.append("source: " + text(shorten("; ".join(g.references), 300)))
        if g.description:
            body.append(f"case: {text(shorten(g.description, 200))}")
        if markdown:
            lines += [f"- **{head}**"] + [f"  - {b}" for b in body]
        else:
            lines += [f"- {head}"] + [f"    {b}" for b in body]
    if detailed:
        lines.append("")
    if availability:
        intro = ("APIs that appeared or disappeared (a framework check that now runs, or now is not applicable "
                 "or raises):")
        rows = [[code(g.case), g.what, text(g.api or "-"), ", ".join(code(i) for i in g.implementations),
                 text(shorten(g.message, 120))] for g in availability]
        lines += [intro, "", tabulate(rows, headers=["case", "change", "API", "checks", "why it did not run"],
                                      tablefmt="github" if markdown else "simple", disable_numparse=True), ""]
    return lines
