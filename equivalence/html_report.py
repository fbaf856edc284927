"""``latest.html``: one self-contained page (no network, no external file) for people.

Environment, counts, the results table with tag / status / kind filters (a few lines of inline script; the
filter is also read from the URL, e.g. ``latest.html#status=fail&tag=momentum``), then one section per case:
its description, the reason (and parity mapping) of each expected divergence, and a plot per quantity of
every check's error per step (``plots.py``).

Every string that comes from a case file or a framework message goes through ``html.escape``; no data is
ever placed inside a ``<script>``. The plots are bounded: when the page would exceed ``MAX_BYTES`` the
series are decimated harder, then plots of cases where everything is equal are left out, then all plots,
each time with a visible note; the table always lists every result.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from .plots import Plot, Series, decimate, svg
from .record import quantity_rank
from .runner import NOT_FAILING, STATUSES, Result, RunReport
from .spec import Case, Tolerance

MAX_BYTES = 2_000_000
MAX_POINTS = 200  # per series, before the size budget asks for fewer
MIN_POINTS = 16
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
ENV_ORDER = ("paddle", "torch", "numpy", "python", "device", "platform", "machine", "time", "executable")


def e(value) -> str:
    return html.escape(str(value), quote=True)


def _anchor(case_id: str) -> str:
    return "case-" + quote(case_id, safe="")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.2e}"


def _label(r: Result) -> str:
    return r.implementation if r.compared_with == "reference" else f"{r.implementation} vs {r.compared_with}"


def is_stale(r: Result) -> bool:
    """An expected divergence that no longer diverges."""
    return r.status == "fail" and r.expected == "divergent" and r.kind != "sensitivity"


def _note(r: Result) -> str:
    if r.status in ("fail", "error", "skipped", "not-applicable"):
        return r.message
    if r.observed == "divergent" and r.first_divergence is not None:
        return "first divergence: " + r.first_divergence.describe()
    return ""


# ------------------------------------------------------------------------------------------------ plots

def _worse(a: float, b: float) -> float:
    """The larger error; NaN wins, so a NaN at one parameter is never hidden by another's finite error."""
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


Legend = list[tuple[str, str, Result]]  # (label, css class, result) of each plotted check


def case_plots(results: list[Result], max_points: int = MAX_POINTS) -> tuple[list[Plot], Legend]:
    """One Plot per quantity compared in any check of the case; each check with per-step errors is a series."""
    per_quantity: dict[str, list[Series]] = {}
    tolerances: dict[str, set[Tolerance]] = {}
    legend: Legend = []
    plotted = [r for r in results if r.comparison is not None and r.comparison.details]
    for i, r in enumerate(plotted):
        css = f"s{i % len(PALETTE)}" + (" alt" if i >= len(PALETTE) else "") + (
            " sens" if r.kind == "sensitivity" else "")
        worst: dict[str, dict[int, list]] = {}
        for d in r.comparison.details:
            step = worst.setdefault(d.quantity, {}).setdefault(d.step, [0.0, 0])
            step[0] = _worse(step[0], d.max_tolerance_ratio)
            step[1] += d.mismatches
            tolerances.setdefault(d.quantity, set()).add(d.tolerance)
        first = r.first_divergence
        for quantity, by_step in worst.items():
            steps = sorted(by_step)
            series = Series(_label(r), css, steps, [by_step[t][0] for t in steps], [by_step[t][1] for t in steps],
                            first.step if first is not None and first.quantity == quantity else None)
            per_quantity.setdefault(quantity, []).append(decimate(series, max_points))
        legend.append((_label(r), css, r))
    plots = []
    for quantity in sorted(per_quantity, key=lambda q: (quantity_rank(q), q)):
        tols = sorted(tolerances[quantity], key=lambda t: (t.rtol, t.atol))
        caption = "; ".join(f"rtol {t.rtol:g}, atol {t.atol:g}" for t in tols)
        plots.append(Plot(quantity, caption, per_quantity[quantity]))
    return plots, legend


# ------------------------------------------------------------------------------------------------ page

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin:.2em 0}
dl.env{display:grid;grid-template-columns:max-content auto;gap:0 1em;margin:.5em 0}dl.env dt{font-weight:600}
dl.env dd{margin:0}
.counts span{display:inline-block;margin:.2em .6em .2em 0;padding:.2em .6em;border-radius:4px;background:#eee}
.pass{color:#176f2c}.fail,.error{color:#b00020;font-weight:600}.skipped,.not-applicable{color:#777}
.counts .fail,.counts .error{background:#fde2e4}.counts .pass{background:#e3f4e6}
.filters label{margin-right:1em}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 6px;text-align:left;vertical-align:top}
th{position:sticky;top:0;background:#f6f6f6}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
td.note{max-width:38em;overflow-wrap:anywhere}
section.case{border-top:2px solid #ddd;margin-top:1.5em;padding-top:.5em}
.meta{color:#555}.desc{white-space:pre-wrap;margin:.4em 0}
.diverge li{margin:.3em 0}.refs{color:#555;font-size:12.5px}
.legend>span{display:inline-block;margin:.1em 1em .1em 0;font-size:12px}
.sw{display:inline-block;width:22px;vertical-align:middle;margin-right:4px;border-top:3px solid var(--c)}
.sw.sens{border-top-style:dashed}.sw.alt{border-top-style:dotted}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:.5em}
figure{margin:0}figcaption{font-size:12px;font-weight:600;text-align:center}
svg.plot{width:100%;height:auto;background:#fff}
svg .frame{fill:none;stroke:#999;stroke-width:.8}svg .grid{stroke:#eee;stroke-width:.8}
svg text{font-size:9px;fill:#444}svg .yl{text-anchor:end;dominant-baseline:middle}svg .xl{text-anchor:middle}
svg .tol{stroke:#b00020;stroke-width:1;stroke-dasharray:5 3}svg .tl{text-anchor:end;fill:#b00020}
svg g{stroke:var(--c);fill:var(--c)}svg polyline{fill:none;stroke-width:1.4}
svg g.sens polyline{stroke-dasharray:4 3}svg g.alt polyline{stroke-dasharray:1 2}
svg circle.bad{stroke:none}svg circle.pt{stroke:none}svg circle.first{fill:none;stroke-width:1.5}
svg line.first{stroke-width:.8;stroke-dasharray:2 2}
.note-box{background:#fff6d5;border:1px solid #e6cf7a;padding:.4em .8em}
#script-problems{background:#fde2e4;padding:.4em .8em}
""" + "".join(f".s{i}{{--c:{c}}}" for i, c in enumerate(PALETTE))

# Records uncaught errors on <html data-script-errors="...">, so a headless browser's DOM dump shows them.
ERROR_TRAP = """<script>window.addEventListener('error',function(ev){var h=document.documentElement;
h.setAttribute('data-script-errors',(h.getAttribute('data-script-errors')||'')+(ev.message||'error')+
' at '+(ev.lineno||'?')+';');});</script>"""

# The filter: rows carry data-tags (a JSON list), data-status, data-kind and data-case; a case section is
# hidden when none of its rows is shown. No data from case files is ever placed in this script.
FILTER_SCRIPT = """<script>(function(){
var sel={tag:document.getElementById('f-tag'),status:document.getElementById('f-status'),
kind:document.getElementById('f-kind')};
var rows=Array.prototype.slice.call(document.querySelectorAll('#results tbody tr'));
var sections=Array.prototype.slice.call(document.querySelectorAll('section.case'));
location.hash.slice(1).split('&').forEach(function(kv){var p=kv.split('=');
if(p.length===2&&sel[p[0]]){sel[p[0]].value=decodeURIComponent(p[1]);}});
function apply(){var shown=0,cases={},t=sel.tag.value,s=sel.status.value,k=sel.kind.value;
rows.forEach(function(r){var ok=(!t||JSON.parse(r.getAttribute('data-tags')).indexOf(t)>=0)&&
(!s||r.getAttribute('data-status')===s)&&(!k||r.getAttribute('data-kind')===k);
r.hidden=!ok;if(ok){shown++;cases[r.getAttribute('data-case')]=true;}});
sections.forEach(function(c){c.hidden=!cases[c.getAttribute('data-case')];});
document.getElementById('shown').textContent=shown+' of '+rows.length+' results shown';
var h=[];for(var n in sel){if(sel[n].value){h.push(n+'='+encodeURIComponent(sel[n].value));}}
try{history.replaceState(null,'',h.length?'#'+h.join('&'):location.pathname);}catch(err){}}
for(var n in sel){sel[n].addEventListener('change',apply);}
apply();
var problems=document.documentElement.getAttribute('data-script-errors');
if(problems){var p=document.getElementById('script-problems');p.hidden=false;p.textContent='Script errors: '+problems;}
document.body.setAttribute('data-ready','1');
})();</script>"""


def _environment(env: Mapping) -> str:
    keys = [k for k in ENV_ORDER if k in env] + sorted(k for k in env if k not in ENV_ORDER)
    return '<dl class="env">' + "".join(f"<dt>{e(k)}</dt><dd>{e(env[k])}</dd>" for k in keys) + "</dl>"


def _counts(report: RunReport) -> str:
    counts = report.counts()
    divergent = sum(r.expected == "divergent" and r.kind != "sensitivity" and r.status == "pass"
                    for r in report.results)
    stale = sum(is_stale(r) for r in report.results)
    spans = [f'<span class="{s}">{counts[s]} {s}</span>' for s in STATUSES]
    spans.append(f"<span>{divergent} expected divergences</span>")
    spans.append(f'<span class="{"fail" if stale else ""}">{stale} stale</span>')
    return f'<p class="counts">{"".join(spans)} of {len(report.results)} checks</p>'


def _select(name: str, label: str, values: Iterable[str]) -> str:
    options = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)
    return f'<label>{label} <select id="f-{name}"><option value="">all</option>{options}</select></label>'


def _table(results: list[Result]) -> str:
    tags = sorted({t for r in results for t in r.tags})
    kinds = sorted({r.kind for r in results})
    head = ("<tr><th>case</th><th>check</th><th>kind</th><th>expected</th><th>observed</th><th>status</th>"
            "<th>max abs err</th><th>max rel err</th><th>first divergence / note</th></tr>")
    rows = []
    for r in results:
        rows.append(
            f'<tr data-case="{e(r.case)}" data-tags="{e(json.dumps(list(r.tags)))}" data-status="{e(r.status)}" '
            f'data-kind="{e(r.kind)}"><td><a href="#{e(_anchor(r.case))}">{e(r.case)}</a></td>'
            f"<td>{e(_label(r))}</td><td>{e(r.kind)}</td><td>{e(r.expected)}</td><td>{e(r.observed)}</td>"
            f'<td class="{e(r.status)}">{e("stale" if is_stale(r) else r.status)}</td>'
            f'<td class="num">{e(_num(r.max_abs_error))}</td><td class="num">{e(_num(r.max_rel_error))}</td>'
            f'<td class="note">{e(_note(r))}</td></tr>')
    filters = (f'<p class="filters">{_select("tag", "tag", tags)}{_select("status", "status", STATUSES)}'
               f'{_select("kind", "kind", kinds)}<span id="shown">{len(results)} results</span></p>')
    return f'{filters}<table id="results"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _divergences(case: Case | None, results: list[Result]) -> str:
    """The case's declared divergences with reason, source lines and parity mapping (from the case file when
    it is at hand, else from the results)."""
    items = []
    if case is not None:
        for d in case.expect.divergent:
            parity = f'<br>parity: {e(d.parity)}' if d.parity else ""
            items.append(f"<li><b>{e(', '.join(d.implementations))}</b> vs {e(d.compared_with)}: {e(d.reason)}"
                         f'<br><span class="refs">{e("; ".join(d.references))}</span>{parity}</li>')
    else:
        seen = set()
        for r in results:
            if r.expected == "divergent" and r.kind != "sensitivity" and (r.reason, r.references) not in seen:
                seen.add((r.reason, r.references))
                items.append(f"<li>{e(r.reason)}<br><span class=\"refs\">{e('; '.join(r.references))}</span></li>")
    if not items:
        return ""
    return f'<p>Expected divergences:</p><ul class="diverge">{"".join(items)}</ul>'


def _case_section(case_id: str, results: list[Result], case: Case | None, plots_html: str | None,
                  legend: Legend) -> str:
    tags = sorted({t for r in results for t in r.tags})
    file = results[0].file
    parts = [f'<section class="case" id="{e(_anchor(case_id))}" data-case="{e(case_id)}">',
             f"<h3>{e(case_id)}</h3>",
             f'<p class="meta">{e(file)}' + (f" · tags: {e(', '.join(tags))}" if tags else "") + "</p>"]
    if case is not None:
        parts.append(f'<p class="desc">{e(case.description.strip())}</p>')
        if case.source:
            parts.append(f'<p class="refs">source: {e("; ".join(case.source))}</p>')
    parts.append(_divergences(case, results))
    if plots_html is None:
        parts.append('<p class="note-box">Plots left out to keep the page under its size limit.</p>')
    elif plots_html:
        parts.append('<p class="legend">' + "".join(
            f'<span><i class="sw {e(css)}"></i>{e(label)} (<span class="{e(r.status)}">'
            f'{e("stale" if is_stale(r) else r.status)}</span>)</span>' for label, css, r in legend) + "</p>")
        parts.append(plots_html)
    parts.append("</section>")
    return "".join(parts)


def _all_equal(results: list[Result]) -> bool:
    """Nothing to look at: every check passed and none but the sensitivity checks diverges."""
    return all(r.kind == "sensitivity" or (r.status in NOT_FAILING and r.observed != "divergent")
               for r in results)


def _page(report: RunReport, cases: Mapping[str, Case], max_points: int, plots_for, note: str = "") -> str:
    by_case: dict[str, list[Result]] = {}
    for r in report.results:
        by_case.setdefault(r.case, []).append(r)
    sections = []
    for case_id, results in by_case.items():
        plots_html, legend = "", []
        if plots_for(results):
            plots, legend = case_plots(results, max_points)
            plots_html = ('<div class="plots">' + "".join(
                f"<figure><figcaption>{e(p.quantity)} <small>({e(p.caption)})</small></figcaption>"
                f"{svg(p, f'{case_id}: {p.quantity}')}</figure>" for p in plots) + "</div>") if plots else ""
        elif any(r.comparison is not None and r.comparison.details for r in results):
            plots_html = None
        sections.append(_case_section(case_id, results, cases.get(case_id), plots_html, legend))
    title = "Equivalence report"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{title}</title>{ERROR_TRAP}<style>{CSS}</style></head><body>",
        '<p id="script-problems" hidden></p>',
        f"<h1>{title}</h1>", _environment(report.environment), _counts(report),
        "<h2>Results</h2>", _table(report.results),
        "<h2>Cases</h2>",
        '<p class="meta">Each plot: one quantity, one line per check; per step (step 0: the initial parameters) '
        "the worst element's error in units of the allowed error, |a - b| / (atol + rtol*|b|), on a log scale. "
        "Dashed red line: the tolerance (1), so a point above it is a mismatch; filled dot: a step with "
        "mismatching elements; ring and vertical line: the check's first divergence. Dashed lines are the "
        "sensitivity checks, wrong mappings that must land above the tolerance.</p>",
        f'<p class="note-box">{e(note)}</p>' if note else "",
        *sections, FILTER_SCRIPT, "</body></html>\n"])


def render(report: RunReport, cases: Iterable[Case] = (), max_bytes: int = MAX_BYTES) -> str:
    """The page; ``cases`` (the Case objects of the run, when at hand) add descriptions and parity mappings.

    Over ``max_bytes``: fewer points per series (down to MIN_POINTS), then no plots for cases where everything
    is equal, then no plots at all; the page says which. The table always has every result."""
    by_id = {c.id: c for c in cases}
    longest = max((len({d.step for d in r.comparison.details}) for r in report.results
                   if r.comparison is not None), default=0)

    def fits(page: str) -> bool:
        return len(page.encode("utf-8")) <= max_bytes

    def decimated(points: int) -> str:
        return (f"Series with more than {points} steps are decimated to {points} points (the worst step of each "
                "bucket and the first divergence are kept). " if longest > points else "")

    points = MAX_POINTS
    page = _page(report, by_id, points, lambda results: True, decimated(points))
    while not fits(page) and points > MIN_POINTS:
        points = max(MIN_POINTS, points // 2)
        page = _page(report, by_id, points, lambda results: True, decimated(points))
    if not fits(page):
        page = _page(report, by_id, points, lambda results: not _all_equal(results), decimated(points) + (
            f"Plots of the cases where every check passed are left out to keep this page under {max_bytes} bytes."))
    if not fits(page):
        page = _page(report, by_id, points, lambda results: False,
                     f"Plots are left out to keep this page under {max_bytes} bytes; per-step errors: "
                     "python -m equivalence show CASE_ID.")
    return page
