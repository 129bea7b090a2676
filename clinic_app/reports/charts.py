"""Small vector progress charts (reportlab.graphics): dates on x, the measure on y.

Each chart shows the results as lines with markers, the baseline (first result) as a dashed
line, and the measure's reference bands (fall-risk cut-off, goal) as shaded areas, so a reader
sees at a glance where the patient started, where they are and where the threshold lies.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from clinic_app.domain.measures import Band, Measure
from clinic_app.domain.progress import day_month
from clinic_app.reports.content import ChartSpec

LINE_COLORS = (
    colors.HexColor("#1f5fa8"),
    colors.HexColor("#c2571a"),
    colors.HexColor("#2e8540"),
    colors.HexColor("#7b3fa0"),
    colors.HexColor("#8a6d00"),
)
GRID = colors.HexColor("#e3e6ea")
AXIS = colors.HexColor("#5b6470")
TEXT = colors.HexColor("#222222")
BAND_FILL = {"cutoff": colors.HexColor("#f8dcdc"), "goal": colors.HexColor("#dcefdc"),
             "normative": colors.HexColor("#e8eef6")}
BAND_EDGE = {"cutoff": colors.HexColor("#c0392b"), "goal": colors.HexColor("#2e8540"),
             "normative": colors.HexColor("#5b7fa8")}


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1-2-2.5-5 x 10^n steps)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, target - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def date_ticks(first: date, last: date, max_ticks: int = 4) -> list[date]:
    """Evenly spread whole-day ticks from ``first`` to ``last`` (both included)."""
    span = (last - first).days
    if span <= 0:
        return [first]
    n = min(max_ticks, span + 1)
    return sorted({first + timedelta(days=round(span * i / (n - 1))) for i in range(n)})


def _day_label(d: date, with_year: bool) -> str:
    text = day_month(d)
    return f"{text} {d.year % 100:02d}" if with_year else text


def _band_range(b: Band, lo: float, hi: float) -> tuple[float, float] | None:
    a = lo if b.low is None else max(lo, b.low)
    z = hi if b.high is None else min(hi, b.high)
    return (a, z) if z > a else None


def progress_chart(spec: ChartSpec, width: float, height: float, font: str, bold: str) -> Drawing:
    """A ``width`` x ``height`` point drawing for one :class:`ChartSpec`."""
    m: Measure = spec.measure
    d = Drawing(width, height)
    left, right, bottom = 34.0, 8.0, 24.0

    values = [p.value for ln in spec.lines for p in ln.points]
    dates = [p.when for ln in spec.lines for p in ln.points]
    bounds = [x for b in m.bands for x in (b.low, b.high) if x is not None]
    lo, hi = min(values), max(values)
    # Show a band's bound when it is reasonably near the data, so the threshold is visible.
    span = max(hi - lo, abs(hi) * 0.1, 10 ** -m.decimals * 5)
    for x in bounds:
        if lo - span <= x <= hi + span:
            lo, hi = min(lo, x), max(hi, x)
    pad = (hi - lo) * 0.12 or 1.0
    ticks = nice_ticks(lo - pad, hi + pad)
    ymin, ymax = ticks[0], ticks[-1]
    ymin = max(ymin, m.min_value) if lo >= m.min_value else ymin
    ymax = min(ymax, m.max_value) if hi <= m.max_value else ymax
    ticks = [t for t in ticks if ymin <= t <= ymax]

    items: list[tuple[str, colors.Color, str]] = []
    if len(spec.lines) > 1:
        items += [(ln.label, LINE_COLORS[i % len(LINE_COLORS)], "line")
                  for i, ln in enumerate(spec.lines)]
    if any(ln.primary for ln in spec.lines):
        items.append(("baseline", AXIS, "dash"))
    for b in m.bands:
        off = "" if _band_range(b, ymin, ymax) else (
            " (above chart)" if (b.low is not None and b.low >= ymax) else " (below chart)")
        items.append((f"{b.label}: {b.describe(m.unit)}{off}", BAND_EDGE[b.kind], "band"))
    legend, rows = _legend_layout(items, font, 4.0, width - right)
    top = 24.0 + 8.0 * rows
    pw, ph = width - left - right, height - bottom - top
    d0, d1 = min(dates), max(dates)
    if d0 == d1:
        d0, d1 = d0 - timedelta(days=3), d1 + timedelta(days=3)
    days = (d1 - d0).days

    def sx(day: date) -> float:
        return left + pw * (day - d0).days / days

    def sy(v: float) -> float:
        return bottom + ph * (v - ymin) / (ymax - ymin)

    # title and direction
    unit = f" ({m.unit})" if m.unit and m.unit != "points" else (" (points)" if m.unit else "")
    d.add(String(4, height - 11, f"{spec.title}{unit}", fontName=bold, fontSize=8.5,
                 fillColor=TEXT))
    direction = "higher is better" if m.higher_is_better else "lower is better"
    d.add(String(width - right, height - 11, direction, fontName=font, fontSize=6.5,
                 fillColor=AXIS, textAnchor="end"))

    # bands (drawn first, under the grid)
    for b in m.bands:
        rng = _band_range(b, ymin, ymax)
        if rng is None:
            continue
        d.add(Rect(left, sy(rng[0]), pw, sy(rng[1]) - sy(rng[0]), fillColor=BAND_FILL[b.kind],
                   strokeColor=None))
        for bound in (b.low, b.high):
            if bound is not None and ymin < bound < ymax:
                d.add(Line(left, sy(bound), left + pw, sy(bound), strokeColor=BAND_EDGE[b.kind],
                           strokeWidth=0.6))

    # grid and y axis
    for t in ticks:
        y = sy(t)
        d.add(Line(left, y, left + pw, y, strokeColor=GRID, strokeWidth=0.4))
        d.add(String(left - 3, y - 2.3, f"{t:g}", fontName=font, fontSize=6.5, fillColor=AXIS,
                     textAnchor="end"))
    d.add(Line(left, bottom, left, bottom + ph, strokeColor=AXIS, strokeWidth=0.6))
    d.add(Line(left, bottom, left + pw, bottom, strokeColor=AXIS, strokeWidth=0.6))

    # x axis: dates
    ticks_x = date_ticks(min(dates), max(dates))
    with_year = ticks_x[0].year != ticks_x[-1].year
    for i, t in enumerate(ticks_x):
        x = sx(t)
        d.add(Line(x, bottom, x, bottom - 2.5, strokeColor=AXIS, strokeWidth=0.6))
        anchor = "start" if i == 0 and len(ticks_x) > 1 else "middle"
        if i == len(ticks_x) - 1 and len(ticks_x) > 1:
            anchor = "end"
        d.add(String(x, bottom - 10, _day_label(t, with_year), fontName=font, fontSize=6.5,
                     fillColor=AXIS, textAnchor=anchor))
    if not with_year:
        d.add(String(left + pw / 2, bottom - 20, str(ticks_x[0].year), fontName=font,
                     fontSize=6.5, fillColor=AXIS, textAnchor="middle"))

    # baselines of the primary lines
    for i, ln in enumerate(spec.lines):
        if not ln.primary:
            continue
        base = ln.points[0].value
        color = LINE_COLORS[i % len(LINE_COLORS)]
        d.add(Line(left, sy(base), left + pw, sy(base), strokeColor=color, strokeWidth=0.6,
                   strokeDashArray=[2.5, 2]))

    # result lines
    for i, ln in enumerate(spec.lines):
        color = LINE_COLORS[i % len(LINE_COLORS)]
        pts = [(sx(p.when), sy(p.value)) for p in ln.points]
        flat = [c for xy in pts for c in xy]
        d.add(PolyLine(flat, strokeColor=color, strokeWidth=1.1))
        for x, y in pts:
            d.add(Circle(x, y, 1.6, fillColor=color, strokeColor=colors.white, strokeWidth=0.4))

    # legend rows under the title: lines, baseline, bands
    for x, row, text, color, kind in legend:
        y = height - 22 - 8 * row
        if kind == "band":
            d.add(Rect(x, y - 1, 9, 5, fillColor=BAND_FILL[_kind_of(color)], strokeColor=color,
                       strokeWidth=0.5))
        else:
            dash = [2.5, 2] if kind == "dash" else None
            d.add(Line(x, y + 1.5, x + 9, y + 1.5, strokeColor=color, strokeWidth=1.1,
                       strokeDashArray=dash))
        d.add(String(x + 12, y, text, fontName=font, fontSize=6.2, fillColor=TEXT))
    return d


def _legend_layout(
    items: list[tuple[str, colors.Color, str]], font: str, x0: float, xmax: float
) -> tuple[list[tuple[float, int, str, colors.Color, str]], int]:
    """Place legend entries left to right, wrapping to new rows; returns entries and rows."""
    out = []
    x, row = x0, 0
    for text, color, kind in items:
        w = stringWidth(text, font, 6.2) + 12
        if x + w > xmax and x > x0:
            x, row = x0, row + 1
        out.append((x, row, text, color, kind))
        x += w + 8
    return out, (row + 1 if items else 0)


def _kind_of(edge: colors.Color) -> str:
    return next((k for k, c in BAND_EDGE.items() if c == edge), "normative")
