"""Hand-written inline SVG: the error of each check per step, one small plot per (case, quantity).

The y axis is, on a log scale, the worst error over the quantity's elements and parameters at that step in
units of the allowed error, |a - b| / (atol + rtol*|b|) (``QuantityError.max_tolerance_ratio``): the dashed
line at 1 is the tolerance, so a point above it is a mismatch, whatever mix of atol and rtol allowed it. A
marker is a step with mismatching elements (a square for a failing check), a ring with a vertical line the
check's first divergence; a one-step series is markers only.
Zero errors sit on a ``0`` row below the decades, NaN/Inf on an ``inf`` row above them, so neither
disappears from a log axis. Long runs are decimated by keeping the worst step of each
bucket (and the first divergence), so a spike is never averaged away. Output is deterministic: fixed number
formats, no ids or timestamps.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 320, 160
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 8, 22  # margins of the plot area
ZERO_GAP = 12  # pixels between the lowest decade and the "0" row (and the highest decade and "inf")


@dataclass
class Series:
    """One check's error per step for one quantity: steps ascending, values >= 0, nan or inf."""

    label: str
    css: str  # class giving colour / dash, e.g. "s3" or "s3 sens"
    steps: list[int]
    values: list[float]
    mismatches: list[int]
    first_divergence: int | None = None  # step, when the check first diverges in this quantity


@dataclass
class Plot:
    quantity: str
    caption: str  # e.g. the tolerance, "rtol 1e-10, atol 1e-12"
    series: list[Series] = field(default_factory=list)


def decimate(s: Series, max_points: int) -> Series:
    """At most ``max_points`` points: the worst step of each equal bucket of steps, plus the first divergence."""
    n = len(s.steps)
    if n <= max_points:
        return s
    keep = set()
    for b in range(max_points):
        lo, hi = b * n // max_points, (b + 1) * n // max_points
        if hi > lo:
            keep.add(max(range(lo, hi), key=lambda i: (_rank(s.values[i]), -i)))
    if s.first_divergence is not None and s.first_divergence in s.steps:
        keep.add(s.steps.index(s.first_divergence))
    idx = sorted(keep)
    return Series(s.label, s.css, [s.steps[i] for i in idx], [s.values[i] for i in idx],
                  [s.mismatches[i] for i in idx], s.first_divergence)


def _rank(v: float) -> float:
    return math.inf if math.isnan(v) else v


class _Axis:
    def __init__(self, plot: Plot):
        finite = [v for s in plot.series for v in s.values if v > 0 and math.isfinite(v)] + [1.0]
        lo = math.floor(math.log10(min(finite))) if finite else -16
        hi = math.ceil(math.log10(max(finite))) if finite else 0
        if hi - lo < 2:
            lo, hi = lo - 1, hi + 1
        self.lo, self.hi = lo, hi
        steps = [t for s in plot.series for t in s.steps] or [0, 1]
        self.single = min(steps) == max(steps)
        # One step (a loss or dropout probe): the markers stand in the middle, not on the frame.
        self.x0, self.x1 = (min(steps) - 1, min(steps) + 1) if self.single else (min(steps), max(steps))
        self.has_zero = any(v == 0 for s in plot.series for v in s.values)
        self.has_inf = any(not math.isfinite(v) for s in plot.series for v in s.values)
        top, bottom = TOP, HEIGHT - BOTTOM
        self.y_inf, self.y_zero = top, bottom
        self.y_hi = top + (ZERO_GAP if self.has_inf else 0)
        self.y_lo = bottom - (ZERO_GAP if self.has_zero else 0)

    def x(self, step: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (step - self.x0) / (self.x1 - self.x0)

    def y(self, value: float) -> float:
        if not math.isfinite(value):
            return self.y_inf
        if value <= 0:
            return self.y_zero
        frac = (math.log10(value) - self.lo) / (self.hi - self.lo)
        return self.y_lo - (self.y_lo - self.y_hi) * min(max(frac, 0.0), 1.0)

    def decade_ticks(self) -> list[int]:
        every = max(1, math.ceil((self.hi - self.lo) / 5))
        return [d for d in range(self.hi, self.lo - 1, -1) if d % every == 0]  # 1e0, the tolerance, always

    def step_ticks(self) -> list[int]:
        if self.single:
            return [self.x0 + 1]
        span = self.x1 - self.x0
        every = max(1, math.ceil(span / 6))
        return list(range(self.x0, self.x1 + 1, every))


def _f(v: float) -> str:
    return f"{v:.1f}"


def svg(plot: Plot, title: str) -> str:
    """The plot as one ``<svg>`` element; ``title`` (already escaped by the caller or plain) is escaped here."""
    ax = _Axis(plot)
    right = WIDTH - RIGHT
    out = [f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
           f"<title>{html.escape(title)}</title>",
           f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
           f'height="{HEIGHT - TOP - BOTTOM}"/>']
    for d in ax.decade_ticks():
        y = _f(ax.y(10.0 ** d))
        out.append(f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{right}" y2="{y}"/>'
                   f'<text class="yl" x="{LEFT - 3}" y="{y}">1e{d}</text>')
    if ax.has_zero:
        out.append(f'<text class="yl" x="{LEFT - 3}" y="{_f(ax.y_zero)}">0</text>')
    if ax.has_inf:
        out.append(f'<text class="yl" x="{LEFT - 3}" y="{_f(ax.y_inf)}">inf</text>')
    base = HEIGHT - BOTTOM
    for t in ax.step_ticks():
        x = _f(ax.x(t))
        out.append(f'<text class="xl" x="{x}" y="{base + 12}">{t}</text>')
    y = ax.y(1.0)
    out.append(f'<line class="tol" x1="{LEFT}" y1="{_f(y)}" x2="{right}" y2="{_f(y)}"/>'
               f'<text class="tl" x="{right - 2}" y="{_f(y - 3)}">tolerance</text>')
    for s in plot.series:
        points = " ".join(f"{_f(ax.x(t))},{_f(ax.y(v))}" for t, v in zip(s.steps, s.values))
        out.append(f'<g class="{html.escape(s.css)}"><title>{html.escape(s.label)}</title>')
        if len(s.steps) > 1:
            out.append(f'<polyline points="{points}"/>')
        square = "bad" in s.css.split()  # a failing check: square markers, whatever the colour
        context = "ctx" in s.css.split()  # grey context: a line only (its mismatches are no news)
        for t, v, m in zip(s.steps, s.values, s.mismatches):
            if (m and not context) or len(s.steps) == 1:
                x, y, kind = ax.x(t), ax.y(v), "bad" if m else "pt"
                out.append(f'<rect class="{kind}" x="{_f(x - 2.6)}" y="{_f(y - 2.6)}" width="5.2" height="5.2"/>'
                           if square else f'<circle class="{kind}" cx="{_f(x)}" cy="{_f(y)}" r="2.4"/>')
        if s.first_divergence is not None and s.first_divergence in s.steps:
            t = s.first_divergence
            v = s.values[s.steps.index(t)]
            x = _f(ax.x(t))
            out.append(f'<line class="first" x1="{x}" y1="{TOP}" x2="{x}" y2="{base}"/>'
                       f'<circle class="first" cx="{x}" cy="{_f(ax.y(v))}" r="4.5"/>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
