"""Which plots latest.html draws, and how, within its size budget.

A person opens the page for what went wrong or differs, so the checks are plotted by importance:

1. **failing** checks (an unexpected divergence, a stale expectation, an error with data) and **expected
   divergences** (the known Paddle/Torch differences): each in its own colour, a failure drawn with a solid
   line and filled square markers, an expected divergence with a dashed line and hollow circles, each with
   its first divergence marked; checks whose errors are identical at every step (a layer route and its
   functional twin) share one series, and beyond ``MAX_COLOURS`` the rest are one "more" series;
2. the other checks of the case as grey context: the worst of the equal checks, and the closest of the
   sensitivity checks (wrong mappings that must stay above the tolerance).

Levels, from the richest down, until the page fits its cap (``html_report.render``):

- ``all``: a plot for every compared quantity of every case;
- ``overview``: the quantities where an important check diverges (or, for a check that does not, its
  worst one), and one plot for every other case: the worst over all its quantities;
- ``important``: those quantity plots only.

Each level is tried with ``MAX_POINTS`` points per series and then fewer; when even the last does not fit,
the plots of the least important checks are left out first (expected divergences before failures), and the
page says so. A one-step series is drawn as markers, never as an empty line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .plots import Plot, Series, decimate
from .record import quantity_rank
from .runner import Result
from .spec import Tolerance

LEVELS = ("all", "overview", "important")
MAX_COLOURS = 4  # distinct colours of important series in one plot; grey is the context
EQUAL_LABEL, SENSITIVITY_LABEL = "equal checks (worst)", "sensitivity checks (closest to tolerance)"
OVERVIEW = "every quantity"


def is_stale(r: Result) -> bool:
    """An expected divergence that no longer diverges."""
    return r.status == "fail" and r.expected == "divergent" and r.kind != "sensitivity"


def importance(r: Result) -> int | None:
    """0 failing or stale, 1 expected divergence, None for the rest (context)."""
    if r.status in ("fail", "error"):
        return 0
    if r.expected == "divergent" and r.kind != "sensitivity":
        return 1
    return None


def label(r: Result) -> str:
    return r.implementation if r.compared_with == "reference" else f"{r.implementation} vs {r.compared_with}"


def status_word(r: Result) -> str:
    if is_stale(r):
        return "stale"
    if r.status in ("fail", "error"):
        return r.status
    return "expected divergence" if importance(r) == 1 else r.status


def _worse(a: float, b: float) -> float:
    """The larger error; NaN wins, so a NaN at one parameter is never hidden by another's finite error."""
    if a != a or b != b:  # NaN
        return math.nan
    return a if a >= b else b


def _closer(a: float, b: float) -> float:
    """The smaller ratio (closest to the tolerance from above); NaN counts as infinitely far."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return min(a, b)


_PER_STEP: dict[int, tuple[Result, dict]] = {}  # id(result) -> (result, quantity -> step -> [ratio, mismatches])


def _tables(r: Result) -> dict:
    """Per quantity (and None: every quantity), step -> [worst tolerance ratio, mismatches], computed once
    per result: the size budget asks for the same plots at several levels."""
    cached = _PER_STEP.get(id(r))
    if cached is not None and cached[0] is r:
        return cached[1]
    overall: dict = {}
    tables: dict = {None: overall}
    tolerances: dict = {None: set()}
    last: dict = {}  # quantity -> the tolerance last added (a quantity has one or two: hashing each is slow)
    for d in r.comparison.details:
        quantity, step, ratio, mismatches = d.quantity, d.step, d.max_tolerance_ratio, d.mismatches
        table = tables.get(quantity)
        if table is None:
            table = tables[quantity] = {}
            tolerances[quantity] = set()
        if last.get(quantity) is not d.tolerance:
            last[quantity] = d.tolerance
            tolerances[quantity].add(d.tolerance)
            tolerances[None].add(d.tolerance)
        for cells in (table, overall):
            cell = cells.get(step)
            if cell is None:
                cells[step] = [_worse(0.0, ratio), mismatches]
            else:
                cell[0] = _worse(cell[0], ratio)
                cell[1] += mismatches
    if len(tables) == 1:  # no details: no quantity, and no overview either
        tables, tolerances = {}, {}
    tables["tolerances"] = tolerances
    if len(_PER_STEP) > 50_000:
        _PER_STEP.clear()
    _PER_STEP[id(r)] = (r, tables)
    return tables


def per_step(r: Result, quantity: str | None) -> dict[int, list]:
    """step -> [worst tolerance ratio, mismatches] of one quantity (None: over every quantity)."""
    return _tables(r).get(quantity, {})


def focus_quantities(r: Result) -> list[str]:
    """Where an important check is worth looking at: the quantities with mismatches, else its worst one."""
    mismatching = {d.quantity for d in r.comparison.details if d.mismatches}
    if mismatching:
        return sorted(mismatching, key=lambda q: (quantity_rank(q), q))
    worst = max(_rank(d.max_tolerance_ratio) for d in r.comparison.details)
    return [min((d.quantity for d in r.comparison.details if _rank(d.max_tolerance_ratio) == worst),
                key=lambda q: (quantity_rank(q), q))]


def _rank(v: float) -> float:
    return math.inf if math.isnan(v) else v


@dataclass
class Legend:
    label: str
    css: str
    status: str  # the word shown after the label: fail, stale, expected divergence, ...


def _plotted(results: list[Result]) -> list[Result]:
    return [r for r in results if r.comparison is not None and r.comparison.details]


def _series_for(name: str, css: str, members: list[Result], quantity: str | None, first: int | None,
                combine=_worse) -> Series | None:
    steps: dict[int, list] = {}
    for r in members:
        for t, (value, mismatches) in per_step(r, quantity).items():
            if t in steps:
                steps[t] = [combine(steps[t][0], value), steps[t][1] + mismatches]
            else:
                steps[t] = [value, mismatches]
    if not steps:
        return None
    order = sorted(steps)
    return Series(name, css, order, [steps[t][0] for t in order], [steps[t][1] for t in order], first)


def _identical(a: Result, b: Result) -> bool:
    """Same errors at every step of every quantity: one series stands for both."""
    return [(d.step, d.quantity, d.name, d.max_tolerance_ratio) for d in a.comparison.details] == \
        [(d.step, d.quantity, d.name, d.max_tolerance_ratio) for d in b.comparison.details] and \
        importance(a) == importance(b) and a.status == b.status


def important_groups(results: list[Result]) -> list[list[Result]]:
    """The case's important checks, failing first, those with identical errors grouped."""
    ranked = sorted((r for r in _plotted(results) if importance(r) is not None), key=importance)
    groups: list[list[Result]] = []
    for r in ranked:
        for g in groups:
            if _identical(g[0], r):
                g.append(r)
                break
        else:
            groups.append([r])
    return groups


def case_plots(results: list[Result], level: str, max_points: int,
               keep: int | None = None) -> tuple[list[Plot], list[Legend]]:
    """The case's plots at a level; ``keep`` limits the important groups plotted (the budget's last cut)."""
    plotted = _plotted(results)
    if not plotted:
        return [], []
    groups = important_groups(results)
    if keep is not None:
        groups = groups[:keep]
    colours = {id(g[0]): i for i, g in enumerate(groups[:MAX_COLOURS - 1 if len(groups) > MAX_COLOURS
                                                        else MAX_COLOURS])}
    rest = [g for g in groups if id(g[0]) not in colours]
    important_ids = {id(r) for g in groups for r in g}
    equal = [r for r in plotted if id(r) not in important_ids and r.kind != "sensitivity" and importance(r) is None]
    sensitivity = [r for r in plotted if r.kind == "sensitivity"]

    if level == "all":
        quantities = sorted({d.quantity for r in plotted for d in r.comparison.details},
                            key=lambda q: (quantity_rank(q), q))
    elif groups:
        quantities = sorted({q for g in groups for q in focus_quantities(g[0])}, key=lambda q: (quantity_rank(q), q))
    elif level == "overview":
        quantities = [None]
    else:
        return [], []

    legend: list[Legend] = []
    for g in groups:
        if id(g[0]) in colours:
            legend.append(Legend(", ".join(label(r) for r in g), _css(g, colours), status_word(g[0])))
    if rest:
        css = "more " + ("bad" if any(importance(g[0]) == 0 for g in rest) else "exp")
        legend.append(Legend(f"{sum(len(g) for g in rest)} more (worst)", css, "mixed" if len(
            {status_word(g[0]) for g in rest}) > 1 else status_word(rest[0][0])))
    if equal:
        legend.append(Legend(f"{len(equal)} {EQUAL_LABEL}", "ctx", "pass"))
    if sensitivity:
        legend.append(Legend(f"{len(sensitivity)} {SENSITIVITY_LABEL}", "ctx sens", "pass"))

    plots = []
    for q in quantities:
        series: list[Series] = []
        for g in groups:
            if id(g[0]) not in colours:
                continue
            first = g[0].first_divergence
            marked = first.step if first is not None and (q is None or first.quantity == q) else None
            s = _series_for(", ".join(label(r) for r in g), _css(g, colours), g, q, marked)
            if s is not None:
                series.append(s)
        if rest:
            s = _series_for(f"{sum(len(g) for g in rest)} more (worst)", next(x.css for x in legend
                                                                             if x.css.startswith("more")),
                            [r for g in rest for r in g], q, None)
            if s is not None:
                series.append(s)
        for members, name, css, combine in ((sensitivity, SENSITIVITY_LABEL, "ctx sens", _closer),
                                            (equal, EQUAL_LABEL, "ctx", _worse)):
            s = _series_for(name, css, members, q, None, combine) if members else None
            if s is not None:
                series.insert(0, s)  # grey context is drawn first, under the coloured series
        if series:
            tolerances = sorted({t for r in plotted for t in _tolerances(r).get(q, ())}, key=lambda t: (t.rtol, t.atol))
            plots.append(Plot(q or OVERVIEW, _caption(tolerances), [decimate(s, max_points) for s in series]))
    return plots, legend


def _css(group: list[Result], colours: dict) -> str:
    """Colour by position, line style by status: 'bad' (failing: solid, filled squares) or 'exp'
    (expected divergence: dashed, hollow circles)."""
    return f"c{colours[id(group[0])]} {'bad' if importance(group[0]) == 0 else 'exp'}"


def _tolerances(r: Result) -> dict:
    """quantity (None: every quantity) -> the tolerances it was compared with."""
    return _tables(r)["tolerances"]


def _caption(tolerances: list[Tolerance]) -> str:
    if len(tolerances) > 2:
        return f"{len(tolerances)} tolerances"
    return "; ".join(f"rtol {t.rtol:g}, atol {t.atol:g}" for t in tolerances)
