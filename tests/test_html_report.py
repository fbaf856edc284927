"""latest.html: every result and case on the page, per-step error plots, every case string escaped, the page
self-contained, deterministic and bounded in size; rendered in headless Chromium to check what a person sees
(rows, plots, the filter) and that no script fails or gets injected.

The run behind most tests is the fake backend's (tests/fake_backends/crashy.py, as in test_report.py) over
the four cases of test_report.py plus one whose id, description, tags, reason and references are hostile.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from equivalence import html_plots, html_report, plots
from equivalence.compare import Comparison, Mismatch, QuantityError, compare
from equivalence.record import SCALAR, Trajectory
from equivalence.report import write_reports
from equivalence.runner import Result, Runner, RunReport, load_all
from equivalence.spec import Case, Tolerance

from .casefiles import load, tiny, write
from .test_report import CRASHY, write_cases

pytestmark = pytest.mark.harness

# Each payload, if it ever ran, would mark <html data-pwned=...>; the browser test checks it never does.
PWN = "document.documentElement.setAttribute('data-pwned','{}')"
EVIL_ID = "evil<b>\"it's\"&amp;"
EVIL_DESCRIPTION = (f"<script>{PWN.format('description')}</script> \"double\" 'single' & "
                    f"<img src=x onerror=\"{PWN.format('img')}\">")
EVIL_TAG = "tag\" onmouseover=\"x"
EVIL_REASON = f"</li></ul><script>{PWN.format('reason')}</script> reason with \"quotes\""
EVIL_REFERENCE = "<b>bold</b>.py:1"
EVIL_PARITY = f"<svg onload=\"{PWN.format('parity')}\">"
EVIL_STRINGS = (EVIL_ID, EVIL_DESCRIPTION, EVIL_TAG, EVIL_REASON, EVIL_REFERENCE, EVIL_PARITY)


def write_evil_case(folder: Path) -> Path:
    # float32 rounding against a float64-tight tolerance: an expected divergence that really occurs, so the
    # reason is shown as an expected divergence and its check is plotted.
    # The loader refuses such an id and tag (lowercase words only); `with_evil_id_and_tag` puts them back
    # after loading, so the page is tested against text that reached a report some other way (a file name).
    return write(folder, tiny(id="evil", description=EVIL_DESCRIPTION, tags=["alpha"], dtype="float32",
                              steps=3, tolerance={"rtol": 1e-13, "atol": 1e-15},
                              expect={"divergent": [{"implementations": ["reference/float32"], "reason": EVIL_REASON,
                                                     "references": [EVIL_REFERENCE], "parity": EVIL_PARITY}]}),
                 "evil.toml")


def with_evil_id_and_tag(item):
    if isinstance(item, Case) and item.id == "evil":
        return dataclasses.replace(item, id=EVIL_ID, tags=("alpha", EVIL_TAG))
    return item


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[RunReport, list[Case]]:
    folder = write_cases(tmp_path_factory.mktemp("cases"))
    write_evil_case(folder)
    items = [with_evil_id_and_tag(i) for i in load_all([folder])]
    with Runner(backends={"fake": CRASHY}, timeout=60.0) as runner:
        report = runner.run(items)
    statuses = {r.test_id: r.status for r in report.results}
    assert statuses[f"{EVIL_ID}[reference/float32]"] == "pass", statuses  # the expected divergence occurred
    assert statuses["stale[fake/optimizer]"] == "fail", statuses
    return report, [i for i in items if isinstance(i, Case)]


@pytest.fixture(scope="module")
def page(run) -> str:
    report, cases = run
    return html_report.render(report, cases)


# ------------------------------------------------------------------------------------------------ DOM model

VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "col", "area", "base", "embed", "param",
        "track"}


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict
    parent: "Node | None"
    children: list = dataclasses.field(default_factory=list)  # Node or str

    def find_all(self, tag: str | None = None, **attrs) -> list["Node"]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(
                        (child.attrs.get(k.rstrip("_")) or "").split().count(v) if k == "class_"
                        else child.attrs.get(k) == v for k, v in attrs.items()):
                    found.append(child)
                found += child.find_all(tag, **attrs)
        return found

    def text(self, visible_only: bool = False) -> str:
        if visible_only and (self.hidden or self.tag in ("script", "style", "title", "head")):
            return ""
        return "".join(c if isinstance(c, str) else c.text(visible_only) for c in self.children)

    @property
    def hidden(self) -> bool:
        return "hidden" in self.attrs

    def visible(self) -> bool:
        node = self
        while node is not None:
            if node.hidden:
                return False
            node = node.parent
        return True


class TreeBuilder(HTMLParser):
    """A DOM tree from HTML text, enough to ask what is shown (``hidden`` on the element or an ancestor)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def rows(dom: Node) -> list[Node]:
    """The check rows of the results table, in order (each case's <tbody> holds its summary row first)."""
    (table,) = dom.find_all("table", id="results")
    return [r for body in table.find_all("tbody", class_="case") for r in body.find_all("tr", class_="check")]


def summary_rows(dom: Node) -> dict[str, Node]:
    (table,) = dom.find_all("table", id="results")
    return {body.attrs["data-case"]: body.find_all("tr", class_="summary")[0]
            for body in table.find_all("tbody", class_="case")}


def sections(dom: Node) -> dict[str, Node]:
    return {s.attrs["data-case"]: s for s in dom.find_all("section", class_="case")}


def compared_quantities(results: list[Result]) -> set[str]:
    return {d.quantity for r in results if r.comparison is not None for d in r.comparison.details}


# ------------------------------------------------------------------------------------------------ content

def test_page_has_every_result_case_and_plot(run, page):
    report, _ = run
    dom = parse(page)
    table_rows = rows(dom)
    assert len(table_rows) == len(report.results), f"{len(table_rows)} rows for {len(report.results)} results"
    assert [(r.attrs["data-case"], r.attrs["data-status"]) for r in table_rows] == \
           [(r.case, r.status) for r in report.results]
    by_case = {}
    for r in report.results:
        by_case.setdefault(r.case, []).append(r)
    found = sections(dom)
    assert set(found) == set(by_case), f"sections {sorted(found)} vs cases {sorted(by_case)}"
    for case, results in by_case.items():
        quantities = compared_quantities(results)
        figures = found[case].find_all("figure")
        captions = [f.find_all("figcaption")[0].text().split(" (")[0] for f in figures]
        assert sorted(captions) == sorted(quantities), f"{case}: plots of {captions}, compared {quantities}"
        assert len(found[case].find_all("svg")) == len(quantities), case
    assert "bad" in found and not found["bad"].find_all("svg"), "a malformed case has nothing to plot"
    env = dom.find_all("dl", class_="env")[0].text()
    assert "fake" in env and "0.0.1" in env and report.environment["time"] in env, env
    counts = dom.find_all("p", class_="counts")[0].text()
    expected = [f"{n} {status}" for status, n in report.counts().items()] + ["1 stale"]
    assert all(c in counts for c in expected) and report.counts()["fail"] == 1, (counts, expected)


def test_stale_and_first_divergence_are_shown(run, page):
    report, _ = run
    dom = parse(page)
    by_id = {(r.attrs["data-case"], r.find_all("td")[1].text()): r for r in rows(dom)}
    stale = by_id[("stale", "fake/optimizer")]
    assert stale.find_all("td")[5].text() == "stale", stale.text()
    assert "stale: the frameworks now agree" in stale.text(), stale.text()
    perturbed = next(r for r in report.results if r.case == "good" and r.implementation == "perturbed/lr")
    note = by_id[("good", "perturbed/lr")].find_all("td")[-1].text()
    explanation = perturbed.explanation
    assert note == (f"first divergence: {perturbed.first_divergence.describe()} "
                    f"[{explanation.kind}] {explanation.text}"), note
    # In the plot of an expected divergence's quantity its first divergence is marked: a ring and a line.
    divergent = next(r for r in report.results if r.case == EVIL_ID and r.implementation == "reference/float32")
    quantity = divergent.first_divergence.quantity
    figure = next(f for f in sections(dom)[EVIL_ID].find_all("figure")
                  if f.find_all("figcaption")[0].text().startswith(quantity + " "))
    marked = [g for g in figure.find_all("g") if g.find_all("title")[0].text() == "reference/float32"]
    assert marked and marked[0].find_all("circle", class_="first") and marked[0].find_all("line", class_="first"), \
        f"no first-divergence mark for reference/float32 in the {quantity} plot"
    assert "exp" in marked[0].attrs["class"].split(), "an expected divergence is drawn as one"
    summary = summary_rows(dom)
    assert summary["stale"].find_all("td")[2].text() == "stale", summary["stale"].text()
    assert "1 expected divergence" in summary[EVIL_ID].text() and \
        summary[EVIL_ID].find_all("td")[2].text() == "pass", summary[EVIL_ID].text()


def test_expected_divergence_reason_and_parity_are_in_the_case_section(run, page):
    dom = parse(page)
    section = sections(dom)[EVIL_ID]
    text = section.text()
    for s in (EVIL_DESCRIPTION, EVIL_REASON, EVIL_REFERENCE, EVIL_PARITY):
        assert s in text, f"{s!r} is not shown as text in its case section"
    assert "reference/float32" in section.find_all("ul", class_="diverge")[0].text()


def test_every_case_string_is_escaped(page):
    for s in EVIL_STRINGS:
        assert s not in page, f"{s!r} appears unescaped"
        assert html.escape(s) in page, f"{s!r} does not appear escaped"
    own_scripts = len(re.findall(r"<script>", html_report.ERROR_TRAP + html_report.FILTER_SCRIPT))
    assert page.count("<script") == own_scripts == 2, page.count("<script")
    assert "<img" not in page and "onerror=" not in page.replace("onerror=&quot;", ""), "an injected handler"
    tags = [t for t in re.findall(r'data-tags="([^"]*)"', page)]
    assert any(html.escape('"tag\\" onmouseover') in t for t in tags), tags  # JSON inside an attribute


def test_page_is_self_contained(page):
    elements = parse(page).find_all()
    loaders = [n.tag for n in elements if n.tag in ("link", "iframe", "object", "embed", "img", "image", "use")]
    assert not loaders, f"elements that load a resource: {loaders}"
    assert not [n.tag for n in elements if "src" in n.attrs], "a src attribute"
    styles = "".join(n.text() for n in elements if n.tag == "style")
    assert "url(" not in styles and "@import" not in styles, "CSS that loads a resource"
    hrefs = [n.attrs["href"] for n in elements if "href" in n.attrs]
    assert hrefs and all(h.startswith("#") for h in hrefs), [h for h in hrefs if not h.startswith("#")]
    assert all(n.tag == "a" for n in elements if "href" in n.attrs)


def test_rendering_is_deterministic(run):
    report, cases = run
    assert html_report.render(report, cases) == html_report.render(report, list(reversed(cases)))


def test_without_case_objects_the_reasons_come_from_the_results(run):
    report, _ = run
    section = sections(parse(html_report.render(report)))[EVIL_ID]
    assert EVIL_REASON in section.text() and EVIL_DESCRIPTION not in section.text()


def test_write_reports_writes_the_page_with_the_others(run, tmp_path):
    report, cases = run
    paths = write_reports(report, tmp_path, cases=cases)
    assert [p.name for p in paths] == ["latest.json", "latest.md", "latest.html"], paths
    assert (tmp_path / "latest.html").read_text(encoding="utf-8") == html_report.render(report, cases)
    assert os.stat(tmp_path / "latest.html").st_mode & 0o044 == 0o044, "a report must be readable by others"


# ------------------------------------------------------------------------------------------------ plot data

TOL = Tolerance(rtol=1e-10, atol=1e-12)


def synthetic(case: str, implementation: str, ratios: dict[str, list[float]], kind: str = "equivalence",
              params: tuple[str, ...] = ("linear0.weight",), first: Mismatch | None = None,
              expected: str = "equal") -> Result:
    """A Result whose per-step tolerance ratios are given per quantity (same for every parameter)."""
    details = [QuantityError(step, q, name, r * 1e-12, r * 1e-12, int(r > 1), 4, TOL, r)
               for q, values in ratios.items() for step, r in enumerate(values, start=1) for name in params]
    comparison = Comparison(mismatches=sum(d.mismatches for d in details), details=details, first=first)
    observed = "divergent" if comparison.mismatches else "equal"
    return Result(case=case, implementation=implementation, compared_with="reference", kind=kind, expected=expected,
                  observed=observed, status="pass" if observed == expected else "fail", message="", tags=("t",),
                  comparison=comparison, first_divergence=first)


def test_series_take_the_worst_parameter_and_count_mismatches():
    a = synthetic("c", "x/a", {"grad": [0.5, 2.0, 0.0]}, params=("w",))
    b = dataclasses.replace(a, implementation="x/b", comparison=Comparison(details=[
        QuantityError(1, "grad", "w", 0, 0, 0, 4, TOL, 0.25), QuantityError(1, "grad", "b", 0, 0, 1, 4, TOL, 3.0),
        QuantityError(2, "grad", "w", 0, 0, 0, 4, TOL, math.nan), QuantityError(2, "grad", "b", 0, 0, 0, 4, TOL, 0.1)]))
    (plot,), legend = html_plots.case_plots([a, b], "all", 200)
    sa, sb = plot.series
    assert (sa.steps, sa.values, sa.mismatches) == ([1, 2, 3], [0.5, 2.0, 0.0], [0, 1, 0]), sa
    assert sb.steps == [1, 2] and sb.values[0] == 3.0 and math.isnan(sb.values[1]) and sb.mismatches == [1, 0], sb
    assert [item.label for item in legend] == ["x/a", "x/b"] and plot.caption == "rtol 1e-10, atol 1e-12", plot
    assert [item.status for item in legend] == ["fail", "fail"] and all("bad" in item.css for item in legend)


def test_important_checks_coloured_the_rest_grey():
    """Failing first, then expected divergences, identical ones in one series, at most MAX_COLOURS colours
    plus one 'more' series; the equal checks as their worst, the sensitivity checks as the closest."""
    diverging = [0.5, 40.0, 50.0]
    results = [synthetic("c", f"x/exp{i}", {"loss": [v * (i + 1) for v in diverging]}, expected="divergent")
               for i in range(5)]
    results.append(dataclasses.replace(results[0], implementation="x/twin"))  # identical to x/exp0
    results.append(synthetic("c", "x/broken", {"loss": diverging}))  # an unexpected divergence: failing
    results += [synthetic("c", "x/ok1", {"loss": [1e-3, 1e-2, 1e-4]}), synthetic("c", "x/ok2", {"loss": [1e-2, 1e-5, 0]})]
    results += [synthetic("c", "perturbed/a", {"loss": [5.0, 3.0, 9.0]}, kind="sensitivity", expected="divergent"),
                synthetic("c", "perturbed/b", {"loss": [7.0, 2.0, 8.0]}, kind="sensitivity", expected="divergent")]
    (plot,), legend = html_plots.case_plots(results, "all", 200)
    by_label = {s.label: s for s in plot.series}
    assert [item.label for item in legend][:4] == ["x/broken", "x/exp0, x/twin", "x/exp1", "3 more (worst)"], legend
    assert legend[0].css == "c0 bad" and legend[1].css == "c1 exp" and legend[0].status == "fail"
    assert by_label["3 more (worst)"].values == [2.5, 200.0, 250.0], "x/exp4, the worst of x/exp2 to x/exp4"
    assert by_label[html_plots.EQUAL_LABEL].values == [1e-2, 1e-2, 1e-4], "the worst equal check per step"
    assert by_label[html_plots.SENSITIVITY_LABEL].values == [5.0, 2.0, 8.0], "the closest sensitivity check"
    colours = {c for s in plot.series for c in s.css.split() if c[0] == "c" and c[1:].isdigit() or c == "more"}
    assert len(colours) <= html_plots.MAX_COLOURS, colours
    assert [s.css.split()[0] for s in plot.series[:2]] == ["ctx", "ctx"], "grey context is drawn first, underneath"


def test_levels_plot_what_matters_first():
    case = [synthetic("c", "x/exp", {"loss": [2.0, 3.0], "grad": [0.1, 0.2], "param": [0.5, 0.1]},
                      expected="divergent"),
            synthetic("c", "x/ok", {"loss": [0.1, 0.1], "grad": [0.1, 0.2], "param": [0.5, 0.1]})]
    passing = [synthetic("p", "x/ok", {"loss": [0.1, 0.1], "grad": [0.1, 0.2]})]
    quantities = {level: [p.quantity for p in html_plots.case_plots(case, level, 200)[0]] for level in html_plots.LEVELS}
    assert quantities == {"all": ["loss", "grad", "param"], "overview": ["loss"], "important": ["loss"]}, quantities
    assert [p.quantity for p in html_plots.case_plots(passing, "overview", 200)[0]] == [html_plots.OVERVIEW]
    assert html_plots.case_plots(passing, "important", 200)[0] == []
    stale = synthetic("s", "x/stale", {"loss": [0.1, 0.3], "grad": [0.5, 0.2]}, expected="divergent")
    assert stale.status == "fail" and html_plots.focus_quantities(stale) == ["grad"], "its worst quantity"


def test_svg_places_tolerance_zero_and_inf_rows():
    first = Mismatch(2, "grad", "linear0.weight", (0,), 1.0, 2.0)
    r = synthetic("c", "x/a", {"grad": [0.0, 1e3, math.inf, 1e-4]}, first=first)
    (plot,), _ = html_plots.case_plots([r], "all", 200)
    out = parse(plots.svg(plot, "c: grad"))
    labels = [t.text() for t in out.find_all("text", class_="yl")]
    assert "0" in labels and "inf" in labels and "1e0" in labels, labels
    assert out.find_all("text", class_="tl")[0].text() == "tolerance"
    (line,) = out.find_all("polyline")
    ys = [float(p.split(",")[1]) for p in line.attrs["points"].split()]
    assert ys[0] == plots.HEIGHT - plots.BOTTOM and ys[2] == plots.TOP, ys  # 0 on the bottom row, inf on top
    tol_y = float(out.find_all("line", class_="tol")[0].attrs["y1"])
    assert ys[1] < tol_y < ys[3], f"1e3 must be above the tolerance line at {tol_y}, 1e-4 below: {ys}"
    assert len(out.find_all("rect", class_="bad")) == 2, "two steps mismatch (1e3 and inf): squares, it fails"
    ring = out.find_all("circle", class_="first")[0]
    assert float(ring.attrs["cy"]) == ys[1], "the first divergence is marked at step 2"


def test_one_step_series_are_markers_in_the_middle():
    failing = synthetic("c", "x/bad", {"loss": [3.0]})
    expected = synthetic("c", "x/exp", {"loss": [5.0]}, expected="divergent")
    equal = synthetic("c", "x/ok", {"loss": [0.5]})
    (plot,), _ = html_plots.case_plots([failing, expected, equal], "all", 200)
    out = parse(plots.svg(plot, "c: loss"))
    assert not out.find_all("polyline"), "a one-step series is no line"
    groups = {g.find_all("title")[0].text(): g for g in out.find_all("g")}
    assert groups["x/bad"].find_all("rect", class_="bad") and not groups["x/bad"].find_all("circle")
    assert groups["x/exp"].find_all("circle", class_="bad") and "exp" in groups["x/exp"].attrs["class"]
    assert groups[html_plots.EQUAL_LABEL].find_all("circle", class_="pt"), "an equal one-step check is a marker too"
    middle = plots.LEFT + (plots.WIDTH - plots.LEFT - plots.RIGHT) / 2
    assert float(groups["x/exp"].find_all("circle")[0].attrs["cx"]) == pytest.approx(middle, abs=0.1)
    assert [t.text() for t in out.find_all("text", class_="xl")] == ["1"]


def test_decimate_keeps_the_worst_step_of_each_bucket_and_the_first_divergence():
    values = [1e-3] * 1000
    values[417], values[900] = 50.0, math.nan
    s = plots.Series("x", "s0", list(range(1000)), values, [0] * 1000, first_divergence=3)
    d = plots.decimate(s, 20)
    assert len(d.steps) <= 21, len(d.steps)
    assert 417 in d.steps and 900 in d.steps and 3 in d.steps, d.steps
    assert d.steps == sorted(d.steps) and plots.decimate(s, 2000) is s


# ------------------------------------------------------------------------------------------------ size cap

QUANTITIES = ("loss", "grad", "grad_regularized", "state.velocity", "update", "param")


def big_report(cases: int, steps: int, expected_every: int = 0, failing: int = 1) -> RunReport:
    """Cases of three checks and one sensitivity check over six quantities; the first ``failing`` cases have
    a failing check, every ``expected_every``-th case an expected divergence."""
    results = []
    rng = np.random.default_rng(0)
    for c in range(cases):
        ratios = {q: list(10.0 ** rng.uniform(-6, -1, steps)) for q in QUANTITIES}
        diverging = {q: [v * 1e6 for v in vals] for q, vals in ratios.items()}
        results += [synthetic(f"case-{c}", f"x/{i}", ratios) for i in range(3)]
        if c < failing:
            results[-3] = synthetic(f"case-{c}", "x/0", {"loss": [2.0] * steps})
        if expected_every and c % expected_every == 0:
            results[-1] = synthetic(f"case-{c}", "x/2", {**ratios, "update": [v * 1e6 for v in ratios["update"]]},
                                    expected="divergent", first=Mismatch(1, "update", "w", (), 1.0, 2.0))
        results.append(synthetic(f"case-{c}", "perturbed/lr", diverging, kind="sensitivity", expected="divergent",
                                 first=Mismatch(1, "loss", SCALAR, (), 1.0, 2.0)))
    return RunReport(results, {"time": "t"})


def sizes(report: RunReport) -> dict[str, int]:
    """Page sizes at each stage of the size budget."""
    def size(level, points, keep=None):
        return len(html_report._page(report, {}, html_report._plot_sections(report, level, points, keep)).encode())
    return {"full": size("all", html_report.MAX_POINTS), "fewest points": size("all", html_report.MIN_POINTS),
            "overview": size("overview", html_report.MIN_POINTS),
            "important": size("important", html_report.MIN_POINTS),
            "no plots": size("important", html_report.MIN_POINTS, keep=0)}


@pytest.fixture(scope="module")
def big() -> tuple[RunReport, dict[str, int]]:
    report = big_report(cases=10, steps=300)
    return report, sizes(report)


def test_a_realistic_run_is_far_under_the_cap(run):
    report, cases = run
    size = len(html_report.render(report, cases).encode())
    assert size < html_report.MAX_BYTES // 10, size


def plotted_sections(page: str) -> list[str]:
    return re.findall(r'<section class="case" id="[^"]*" data-case="([^"]*)">(?:(?!</section>).)*<svg', page,
                      flags=re.S)


@pytest.mark.parametrize("stage, plotted", [("full", 10), ("fewest points", 10), ("overview", 10), ("important", 1),
                                            ("no plots", 0)])
def test_size_cap(big, stage, plotted):
    """With the cap at each stage's size, the page fits, keeps every row and has the plots of that stage."""
    report, measured = big
    assert measured["full"] > 2 * measured["fewest points"] > 4 * measured["important"], measured
    assert measured["fewest points"] > measured["overview"] > measured["important"] > measured["no plots"], measured
    cap = measured[stage] + 400  # room for the page's note on what the cap did, far less than between stages
    page = html_report.render(report, max_bytes=cap)
    assert len(page.encode()) <= cap, f"{len(page.encode())} bytes > cap {cap} ({stage})"
    with_plots = plotted_sections(page)
    assert len(with_plots) == plotted and (plotted != 1 or with_plots == ["case-0"]), (stage, with_plots)
    assert page.count('<tr class="check"') == len(report.results), "the table keeps every result"
    notes = {"full": f"decimated to {html_report.MAX_POINTS} points",
             "fewest points": f"decimated to {html_report.MIN_POINTS} points",
             "overview": "show the worst over every quantity", "important": "Only failing, stale and expected",
             "no plots": "Plots are left out"}
    assert notes[stage] in page, f"the page does not say what the cap did ({stage})"
    assert stage != "full" or "left out" not in page, "plots left out although the page fits"


def test_a_full_size_run_plots_every_failing_and_expected_divergent_check_under_the_cap():
    """A run the size of the suite's own (200 cases, 1,000 checks, 100 steps): every failing and expected-
    divergent check is in a plot of its case, and the page stays under its 2 MB cap."""
    report = big_report(cases=200, steps=100, expected_every=4, failing=5)
    page = html_report.render(report)
    assert len(page.encode()) <= html_report.MAX_BYTES, len(page.encode())
    dom = parse(page)
    found = sections(dom)
    important = [r for r in report.results if html_plots.importance(r) is not None]
    assert len(important) == 55, len(important)
    for r in important:
        titles = {t.text() for g in found[r.case].find_all("g") for t in g.find_all("title")[:1]}
        assert any(r.implementation in t.split(", ") for t in titles), f"{r.test_id} is in no plot: {titles}"
    assert len(plotted_sections(page)) > 55, "the passing cases get plots too, as the budget allows"


# ------------------------------------------------------------------------------------------------ comparator

def test_tolerance_ratio_exceeds_one_exactly_where_elements_mismatch(tmp_path):
    case = load(tmp_path, tiny())
    e = np.array([1.0, -2.0, 0.0, 1e-13])
    tol = Tolerance(1e-10, 1e-12)
    allowed = tol.atol + tol.rtol * np.abs(e)
    for factor, equal in ((0.5, True), (0.99, True), (3.0, False)):
        a = e + factor * allowed
        got = compare(Trajectory(steps=[{"loss": {SCALAR: a}}]), Trajectory(steps=[{"loss": {SCALAR: e}}]), case)
        ratio = got.details[0].max_tolerance_ratio
        assert got.equal == equal and (ratio <= 1) == equal, (factor, ratio, got.summary())
        assert ratio == pytest.approx(factor, rel=1e-3), (factor, ratio)
    bad = compare(Trajectory(steps=[{"loss": {SCALAR: np.array([np.nan])}}]),
                  Trajectory(steps=[{"loss": {SCALAR: np.array([1.0])}}]), case)
    assert bad.details[0].max_tolerance_ratio == math.inf and not bad.equal


# ------------------------------------------------------------------------------------------------ browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def browser() -> str:
    path = os.environ.get("EQUIVALENCE_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not path:
        pytest.skip(f"no headless browser to render latest.html: none of {', '.join(BROWSERS)} on PATH and "
                    "EQUIVALENCE_CHROMIUM unset (./dev test installs chromium with apt-get when it can)")
    return path


def render_in_browser(browser: str, page_file: Path, fragment: str = "") -> tuple[Node, str]:
    """The DOM after the page's scripts ran, as Chromium dumps it, and Chromium's log."""
    profile = page_file.parent / f"profile{len(fragment)}"
    command = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
               "--dump-dom", page_file.as_uri() + fragment]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "</html>" in done.stdout, f"{' '.join(command)}: exit {done.returncode}\n" \
                                                              f"{done.stderr[-3000:]}"
    return parse(done.stdout), done.stderr


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]


def test_browser_shows_every_case_and_plot_and_runs_no_injected_script(browser, run, page, tmp_path):
    report, _ = run
    page_file = tmp_path / "latest.html"
    page_file.write_text(page, encoding="utf-8")
    start = time.monotonic()
    dom, log = render_in_browser(browser, page_file)
    elapsed = time.monotonic() - start
    (root,) = dom.find_all("html")
    (body,) = dom.find_all("body")
    assert body.attrs.get("data-ready") == "1", "the page's script did not run to its end"
    assert "data-script-errors" not in root.attrs, root.attrs.get("data-script-errors")
    assert not console_errors(log), console_errors(log)
    assert "data-pwned" not in root.attrs, f"injected script ran: {root.attrs.get('data-pwned')}"
    shown = dom.find_all("span", id="shown")[0].text()
    assert shown == f"{len(report.results)} of {len(report.results)} results shown", shown

    visible = body.text(visible_only=True)
    for case in {r.case for r in report.results}:
        assert case in visible, f"case id {case!r} is not visible"
    for s in (EVIL_DESCRIPTION, EVIL_REASON, EVIL_PARITY):
        assert s in visible, f"{s!r} is not visible as text"
    assert all(r.visible() for r in summary_rows(dom).values()), "a case is hidden without a filter"
    assert not any(r.visible() for r in rows(dom)), "the checks of a case show on demand only"
    assert all(b.find_all("button")[0].text() == "+" for b in dom.find_all("tbody", class_="case"))
    by_case = {}
    for r in report.results:
        by_case.setdefault(r.case, []).append(r)
    for case, section in sections(dom).items():
        svgs = section.find_all("svg")
        assert section.visible() and len(svgs) == len(compared_quantities(by_case[case])), case
        assert all(s.find_all("polyline") or s.find_all("circle") or s.find_all("rect", class_="bad")
               for s in svgs), f"{case}: an empty plot"
    assert elapsed < 10, f"rendering took {elapsed:.1f} s"


def test_browser_filter_from_the_url(browser, run, page, tmp_path):
    report, _ = run
    page_file = tmp_path / "latest.html"
    page_file.write_text(page, encoding="utf-8")
    dom, log = render_in_browser(browser, page_file, "#status=fail")
    shown = [r.attrs["data-case"] for r in rows(dom) if r.visible()]  # a status filter opens the cases
    assert shown == [r.case for r in report.results if r.status == "fail"] == ["stale"], shown
    assert [c for c, s in sections(dom).items() if s.visible()] == ["stale"]
    assert [c for c, r in summary_rows(dom).items() if r.visible()] == ["stale"]

    dom, log = render_in_browser(browser, page_file, "#tag=" + quote(EVIL_TAG, safe=""))
    assert [c for c, r in summary_rows(dom).items() if r.visible()] == [EVIL_ID]
    assert not any(r.visible() for r in rows(dom)), "a tag filter alone opens no case"
    assert not console_errors(log) and "data-script-errors" not in dom.find_all("html")[0].attrs


def test_browser_opens_a_case_on_demand(browser, run, page, tmp_path):
    """The + of a case shows its checks (clicked here by a script appended after the page's own)."""
    report, _ = run
    page_file = tmp_path / "clicked.html"
    click = "<script>document.querySelector('tbody.case[data-case=\"good\"] button.toggle').click();</script>"
    page_file.write_text(page.replace("</body>", click + "</body>"), encoding="utf-8")
    dom, log = render_in_browser(browser, page_file)
    shown = [r.find_all("td")[1].text() for r in rows(dom) if r.visible()]
    assert shown == [html_plots.label(r) for r in report.results if r.case == "good"], shown
    (body,) = [b for b in dom.find_all("tbody", class_="case") if b.attrs["data-case"] == "good"]
    assert body.attrs.get("data-open") == "1" and body.find_all("button")[0].attrs["aria-expanded"] == "true"
    assert not console_errors(log) and "data-script-errors" not in dom.find_all("html")[0].attrs


def test_browser_check_sees_a_script_error(browser, page, tmp_path):
    """The checks above can fail: a page whose script throws is caught by the page's own error trap."""
    page_file = tmp_path / "broken.html"
    page_file.write_text(page.replace("</body>", "<script>notDefinedAnywhere();</script></body>"), encoding="utf-8")
    dom, _ = render_in_browser(browser, page_file)
    errors = dom.find_all("html")[0].attrs.get("data-script-errors", "")
    assert "notDefinedAnywhere" in errors, errors
