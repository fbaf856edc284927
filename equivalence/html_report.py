"""``latest.html``: one self-contained page (no network, no external file) for people.

Environment, counts, the results table grouped per case (a summary row per case; its checks on demand, and
shown by themselves when a filter is set) with tag / status / kind filters (a few lines of inline script; the
filter is also read from the URL, e.g. ``latest.html#status=fail&tag=momentum``), then one section per case:
its description, the reason (and parity mapping) of each expected divergence, and plots of the errors per
step (``html_plots.py`` chooses them, ``plots.py`` draws them).

Every string that comes from a case file or a framework message goes through ``html.escape``; no data is
ever placed inside a ``<script>``. The page stays under ``MAX_BYTES``: plots of failing, stale and
expected-divergent checks come first, the other checks' plots as the budget allows, each cut said on the
page; the table always lists every result.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from . import html_plots
from .html_plots import LEVELS, is_stale, label as _label
from .plots import svg
from .runner import STATUSES, Result, RunReport
from .spec import Case
from .text import inert

MAX_BYTES = 2_000_000
MAX_POINTS = 200  # per series, before the size budget asks for fewer
MIN_POINTS = 16
# Few, clearly different colours: one per important series of a plot (html_plots.MAX_COLOURS), then the
# "more" series; grey is the context (the equal and sensitivity checks).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
MORE_COLOUR, CONTEXT_COLOUR = "#8c564b", "#9a9a9a"
ENV_ORDER = ("paddle", "torch", "numpy", "python", "device", "platform", "machine", "time", "executable")


def e(value) -> str:
    return html.escape(inert(value), quote=True)


def _anchor(case_id: str) -> str:
    return "case-" + quote(case_id, safe="")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.2e}"


def _note(r: Result) -> str:
    if r.status in ("fail", "error", "skipped", "not-applicable"):
        return r.message
    if r.observed == "divergent" and r.first_divergence is not None:
        note = "first divergence: " + r.first_divergence.describe()
        if r.explanation is not None:
            note += f" [{r.explanation.kind}] {r.explanation.text}"
        return note
    return ""


# ------------------------------------------------------------------------------------------------ page

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin:.2em 0}
dl.env{display:grid;grid-template-columns:max-content auto;gap:0 1em;margin:.5em 0}dl.env dt{font-weight:600}
dl.env dd{margin:0}
.counts span{display:inline-block;margin:.2em .6em .2em 0;padding:.2em .6em;border-radius:4px;background:#eee}
.pass{color:#176f2c}.fail,.error,.stale{color:#b00020;font-weight:600}.skipped,.not-applicable{color:#777}.expected{color:#1f4e8c}
.counts .fail,.counts .error{background:#fde2e4}.counts .pass{background:#e3f4e6}
.filters label{margin-right:1em}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 6px;text-align:left;vertical-align:top}
th{position:sticky;top:0;background:#f6f6f6}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
td.note{max-width:38em;overflow-wrap:anywhere}
tr.summary td{background:#fafafa;border-top:1px solid #ccc}tr.summary td.case{font-weight:600}
tr.check td:first-child{padding-left:2.2em;color:#777}
button.toggle{font:inherit;font-size:11px;width:1.8em;margin-right:.4em;cursor:pointer;border:1px solid #bbb;
background:#fff;border-radius:3px}
section.case{border-top:2px solid #ddd;margin-top:1.5em;padding-top:.5em}
.meta{color:#555}.desc{white-space:pre-wrap;margin:.4em 0}
.diverge li{margin:.3em 0}.refs{color:#555;font-size:12.5px}
.legend>span{display:inline-block;margin:.1em 1em .1em 0;font-size:12px}
.sw{display:inline-block;width:22px;vertical-align:middle;margin-right:4px;border-top:3px solid var(--c)}
.sw.exp{border-top-style:dashed}.sw.sens{border-top-style:dotted}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:.5em}
figure{margin:0}figcaption{font-size:12px;font-weight:600;text-align:center}
svg.plot{width:100%;height:auto;background:#fff}
svg .frame{fill:none;stroke:#999;stroke-width:.8}svg .grid{stroke:#eee;stroke-width:.8}
svg text{font-size:9px;fill:#444}svg .yl{text-anchor:end;dominant-baseline:middle}svg .xl{text-anchor:middle}
svg .tol{stroke:#b00020;stroke-width:1;stroke-dasharray:5 3}svg .tl{text-anchor:end;fill:#b00020}
svg g{stroke:var(--c);fill:var(--c)}svg polyline{fill:none;stroke-width:1.6}
svg g.exp polyline{stroke-dasharray:5 3}svg g.exp circle{fill:#fff;stroke-width:1.4}
svg g.bad polyline{stroke-width:2.2}svg g.ctx polyline{stroke-width:1.2}svg g.sens polyline{stroke-dasharray:1.5 2}
svg rect,svg circle.bad,svg circle.pt{stroke:none}svg g.exp circle.bad,svg g.exp circle.pt{stroke:var(--c)}
svg circle.first{fill:none;stroke-width:1.5}svg line.first{stroke-width:.8;stroke-dasharray:2 2}
.note-box{background:#fff6d5;border:1px solid #e6cf7a;padding:.4em .8em}
#script-problems{background:#fde2e4;padding:.4em .8em}
""" + "".join(f".c{i}{{--c:{c}}}" for i, c in enumerate(PALETTE)) + \
    f".more{{--c:{MORE_COLOUR}}}.ctx{{--c:{CONTEXT_COLOUR}}}"

# Records uncaught errors on <html data-script-errors="...">, so a headless browser's DOM dump shows them.
ERROR_TRAP = """<script>window.addEventListener('error',function(ev){var h=document.documentElement;
h.setAttribute('data-script-errors',(h.getAttribute('data-script-errors')||'')+(ev.message||'error')+
' at '+(ev.lineno||'?')+';');});</script>"""

# The filter: each case is a <tbody> with data-tags (a JSON list) and data-case; its check rows carry
# data-status and data-kind. A case shows when one of its checks matches; its check rows show when it is
# opened (its button) or when a status or kind filter is set. A case section is hidden when no check of
# it matches. No data from case files is ever placed in this script.
FILTER_SCRIPT = """<script>(function(){
var sel={tag:document.getElementById('f-tag'),status:document.getElementById('f-status'),
kind:document.getElementById('f-kind')};
var bodies=Array.prototype.slice.call(document.querySelectorAll('#results tbody.case'));
var total=document.querySelectorAll('#results tr.check').length;
var sections=Array.prototype.slice.call(document.querySelectorAll('section.case'));
location.hash.slice(1).split('&').forEach(function(kv){var p=kv.split('=');
if(p.length===2&&sel[p[0]]){sel[p[0]].value=decodeURIComponent(p[1]);}});
function apply(){var shown=0,cases={},t=sel.tag.value,s=sel.status.value,k=sel.kind.value;
bodies.forEach(function(b){var tagged=!t||JSON.parse(b.getAttribute('data-tags')).indexOf(t)>=0,any=false;
var open=b.getAttribute('data-open')==='1'||!!s||!!k;
Array.prototype.forEach.call(b.querySelectorAll('tr.check'),function(r){
var ok=tagged&&(!s||r.getAttribute('data-status')===s)&&(!k||r.getAttribute('data-kind')===k);
r.hidden=!(ok&&open);if(ok){shown++;any=true;}});
b.hidden=!any;b.querySelector('button.toggle').textContent=open?'\\u2212':'+';
b.querySelector('button.toggle').setAttribute('aria-expanded',open?'true':'false');
if(any){cases[b.getAttribute('data-case')]=true;}});
sections.forEach(function(c){c.hidden=!cases[c.getAttribute('data-case')];});
document.getElementById('shown').textContent=shown+' of '+total+' results shown';
var h=[];for(var n in sel){if(sel[n].value){h.push(n+'='+encodeURIComponent(sel[n].value));}}
try{history.replaceState(null,'',h.length?'#'+h.join('&'):location.pathname);}catch(err){}}
for(var n in sel){sel[n].addEventListener('change',apply);}
bodies.forEach(function(b){b.querySelector('button.toggle').addEventListener('click',function(){
b.setAttribute('data-open',b.getAttribute('data-open')==='1'?'0':'1');apply();});});
apply();
var problems=document.documentElement.getAttribute('data-script-errors');
if(problems){var p=document.getElementById('script-problems');p.hidden=false;p.textContent='Script errors: '+problems;}
document.body.setAttribute('data-ready','1');
})();</script>"""


def _environment(env: Mapping) -> str:
    keys = [k for k in ENV_ORDER if k in env] + sorted(k for k in env if k not in ENV_ORDER)
    return '<dl class="env">' + "".join(f"<dt>{e(k)}</dt><dd>{e(env[k])}</dd>" for k in keys) + "</dl>"


def _expected_divergence(r: Result) -> bool:
    return r.expected == "divergent" and r.kind != "sensitivity" and r.status == "pass"


def _counts(report: RunReport) -> str:
    counts = report.counts()
    divergent = sum(_expected_divergence(r) for r in report.results)
    stale = sum(is_stale(r) for r in report.results)
    spans = [f'<span class="{s}">{counts[s]} {s}</span>' for s in STATUSES]
    spans.append(f"<span>{divergent} expected divergences</span>")
    spans.append(f'<span class="{"fail" if stale else ""}">{stale} stale</span>')
    return f'<p class="counts">{"".join(spans)} of {len(report.results)} checks</p>'


def _select(name: str, label: str, values: Iterable[str]) -> str:
    options = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)
    return f'<label>{label} <select id="f-{name}"><option value="">all</option>{options}</select></label>'


def _by_case(results: list[Result]) -> dict[str, list[Result]]:
    by_case: dict[str, list[Result]] = {}
    for r in results:
        by_case.setdefault(r.case, []).append(r)
    return by_case


def _summary_row(case: str, results: list[Result]) -> str:
    """One line per case: its counts, its worst status, the first problem."""
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    stale = sum(is_stale(r) for r in results)
    divergent = sum(_expected_divergence(r) for r in results)
    words = [f"{n} {s}" for s, n in counts.items() if n] + (
        [f"{divergent} expected divergence{'s' if divergent != 1 else ''}"] if divergent else [])
    worst = "stale" if stale and counts["fail"] == stale and not counts["error"] else \
        "error" if counts["error"] else "fail" if counts["fail"] else "pass" if counts["pass"] else \
        "skipped" if counts["skipped"] else "not-applicable"
    problem = next((r for r in results if r.status in ("fail", "error")), None)
    note = f"{problem.test_id}: {_note(problem)}" if problem is not None else ""
    return (f'<tr class="summary"><td class="case"><button class="toggle" type="button" aria-expanded="false">+'
            f'</button><a href="#{e(_anchor(case))}">{e(case)}</a></td><td colspan="4">{e(", ".join(words))}'
            f' ({len(results)} checks)</td><td class="{e(worst)}">{e(worst)}</td><td colspan="2"></td>'
            f'<td class="note">{e(note)}</td></tr>')


def _table(results: list[Result]) -> str:
    tags = sorted({t for r in results for t in r.tags})
    kinds = sorted({r.kind for r in results})
    head = ("<tr><th>case</th><th>check</th><th>kind</th><th>expected</th><th>observed</th><th>status</th>"
            "<th>max abs err</th><th>max rel err to scale</th><th>first divergence / note</th></tr>")
    bodies = []
    for case, group in _by_case(results).items():
        rows = [_summary_row(case, group)]
        for r in group:
            rows.append(
                f'<tr class="check" data-case="{e(r.case)}" data-status="{e(r.status)}" data-kind="{e(r.kind)}" '
                f"hidden><td>{e(r.case)}</td><td>{e(_label(r))}</td><td>{e(r.kind)}</td><td>{e(r.expected)}</td>"
                f'<td>{e(r.observed)}</td><td class="{e(r.status)}">{e("stale" if is_stale(r) else r.status)}</td>'
                f'<td class="num">{e(_num(r.max_abs_error))}</td><td class="num">{e(_num(r.max_rel_error))}</td>'
                f'<td class="note">{e(_note(r))}</td></tr>')
        case_tags = sorted({t for r in group for t in r.tags})
        bodies.append(f'<tbody class="case" data-case="{e(case)}" data-tags="{e(json.dumps(case_tags))}">'
                      f'{"".join(rows)}</tbody>')
    filters = (f'<p class="filters">{_select("tag", "tag", tags)}{_select("status", "status", STATUSES)}'
               f'{_select("kind", "kind", kinds)}<span id="shown">{len(results)} results</span></p>'
               '<p class="meta">One row per case; + shows its checks, and a status or kind filter shows the '
               "matching checks of every case.</p>")
    return f'{filters}<table id="results"><thead>{head}</thead>{"".join(bodies)}</table>'


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


def _plots_html(case_id: str, plots, legend) -> str:
    if not plots:
        return ""
    keys = "".join(f'<span><i class="sw {e(item.css)}"></i>{e(item.label)} (<span class="'
                   f'{e(item.status.split()[0])}">{e(item.status)}</span>)</span>' for item in legend)
    figures = "".join(f"<figure><figcaption>{e(p.quantity)} <small>({e(p.caption)})</small></figcaption>"
                      f"{svg(p, f'{case_id}: {p.quantity}')}</figure>" for p in plots)
    return f'<p class="legend">{keys}</p><div class="plots">{figures}</div>'


def _case_section(case_id: str, results: list[Result], case: Case | None, plots_html: str, left_out: bool) -> str:
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
    parts.append(plots_html)
    if left_out:
        parts.append('<p class="note-box">Some plots of this case are left out to keep the page under its size '
                     "limit; per-step errors: python -m equivalence show CASE_ID.</p>")
    parts.append("</section>")
    return "".join(parts)


PLOT_GUIDE = ("Each plot: one quantity (or, for a case with nothing to look at when space is short, the worst "
              "over every quantity); per step (step 0: the initial parameters) the worst element's error in "
              "units of the allowed error, |a - b| / (atol + rtol*|b|), on a log scale. Dashed red line: the "
              "tolerance (1), so a point above it is a mismatch. Coloured: the checks to look at, a failing or "
              "stale check as a thick solid line with square markers, an expected divergence as a dashed line "
              "with hollow circles; a ring and a vertical line mark the first divergence. Grey: the other checks, "
              "the worst of the equal ones (solid) and the sensitivity checks closest to the tolerance (dotted), "
              "wrong mappings that must stay above it. A one-step case is markers only.")


def _page(report: RunReport, cases: Mapping[str, Case], plot_sections: Mapping[str, tuple[str, bool]],
          note: str = "") -> str:
    sections = [_case_section(case_id, results, cases.get(case_id), *plot_sections.get(case_id, ("", False)))
                for case_id, results in _by_case(report.results).items()]
    title = "Equivalence report"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{title}</title>{ERROR_TRAP}<style>{CSS}</style></head><body>",
        '<p id="script-problems" hidden></p>',
        f"<h1>{title}</h1>", _environment(report.environment), _counts(report),
        "<h2>Results</h2>", _table(report.results),
        "<h2>Cases</h2>", f'<p class="meta">{PLOT_GUIDE}</p>',
        f'<p class="note-box">{e(note)}</p>' if note else "",
        *sections, FILTER_SCRIPT, "</body></html>\n"])


def _plot_sections(report: RunReport, level: str, points: int, keep: int | None = None) -> dict[str, tuple]:
    """case -> (plots html, whether the budget left some out) at one level of html_plots."""
    out = {}
    for case_id, results in _by_case(report.results).items():
        plots, legend = html_plots.case_plots(results, level, points, keep)
        full = len(html_plots.important_groups(results))
        out[case_id] = (_plots_html(case_id, plots, legend), keep is not None and full > keep)
    return out


def render(report: RunReport, cases: Iterable[Case] = (), max_bytes: int = MAX_BYTES) -> str:
    """The page; ``cases`` (the Case objects of the run, when at hand) add descriptions and parity mappings.

    The richest plot level that fits ``max_bytes`` (html_plots.LEVELS, each with MAX_POINTS points per series,
    then fewer down to MIN_POINTS); when even the important plots do not fit, the important checks of each
    case are plotted up to a count that fits (failures first), then none. The page says what it left out."""
    by_id = {c.id: c for c in cases}
    longest = max((len({d.step for d in r.comparison.details}) for r in report.results
                   if r.comparison is not None), default=0)

    def fits(page: str) -> bool:
        return len(page.encode("utf-8")) <= max_bytes

    def decimated(points: int) -> str:
        return (f"Series with more than {points} steps are decimated to {points} points (the worst step of each "
                "bucket and the first divergence are kept). " if longest > points else "")

    level_notes = {"all": "", "overview": "Plots of checks that pass show the worst over every quantity of their "
                                          "case, to keep this page under its size limit. ",
                   "important": "Only failing, stale and expected-divergent checks are plotted, to keep this page "
                                "under its size limit. "}
    def page_at(level: str, points: int) -> str:
        return _page(report, by_id, _plot_sections(report, level, points), decimated(points) + level_notes[level])

    candidates = [MIN_POINTS] + [p for p in (MAX_POINTS // 8, MAX_POINTS // 4, MAX_POINTS // 2, MAX_POINTS)
                                 if p > MIN_POINTS]
    for level in LEVELS:
        page = page_at(level, MIN_POINTS)
        if not fits(page):
            continue
        lo, hi = 0, len(candidates) - 1  # candidates[lo] fits: find the most points that fit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            trial = page_at(level, candidates[mid])
            if fits(trial):
                lo, page = mid, trial
            else:
                hi = mid - 1
        return page
    most = max((len(html_plots.important_groups(results)) for results in _by_case(report.results).values()),
               default=0)
    lo, hi = 0, most  # the most important groups per case that fit
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        note = (f"{decimated(MIN_POINTS)}At most {mid} failing or expected-divergent check(s) per case are plotted "
                f"(failures first), to keep this page under {max_bytes} bytes; per-step errors: python -m "
                "equivalence show CASE_ID." if mid else
                f"Plots are left out to keep this page under {max_bytes} bytes; per-step errors: "
                "python -m equivalence show CASE_ID.")
        candidate = _page(report, by_id, _plot_sections(report, "important", MIN_POINTS, keep=mid), note)
        if fits(candidate):
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best if best is not None else candidate
