"""One small pyqtgraph plot for one measure: data, baseline, MCID band, reference bands, surgery.

Used by :class:`clinic_app.ui.progress_plot.ProgressPlot`; imports pyqtgraph, so like that
module it must be imported lazily (see its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt

from clinic_app.domain.measures import Band, Measure
from clinic_app.domain.progress import day_month, format_date
from clinic_app.domain.records import Side
from clinic_app.ui.plot_data import Series, x_to_datetime
from clinic_app.ui.plot_style import (
    BAND_FILL,
    BIG_SERIES,
    BLACK,
    GREY,
    MCID_FILL,
    ORANGE,
    SERIES_STYLE,
    TEXT,
    color,
)

_SYMBOL_GLYPH = {"o": "\u25cf", "t1": "\u25b2", "s": "\u25a0"}
DAY = 86400.0
LABEL_FILL = (255, 255, 255, 190)  # translucent white behind on-plot labels
LABEL_PAD = 3.0  # px kept between an on-plot label and the plot's edge
LABEL_GAP = 8.0  # px between the baseline label and its (13 px) marker
POINT_HALF = 5.0  # px around a data point that a label must leave free


@dataclass(frozen=True)
class HoverHit:
    """The data point nearest the mouse."""

    series: Series
    index: int
    x: float
    y: float

GOAL_GREEN = "#1b7f3b"  # goals: target line and date


def _role(series: Series) -> str:
    if series.key in ("before", "after") and not isinstance(series.key, Side):
        return str(series.key)
    if series.affected is None:
        return "single" if series.key is None else "other"
    return "affected" if series.affected else "unaffected"


def band_text(measure: Measure, band: Band, compact: bool = False) -> str:
    """Short on-plot label, e.g. ``"Fall-risk cut-off > 4.5 s"`` or ``"Goal ≥ 90 %"``."""
    if band.low is not None and band.high is not None:
        bound = f"{band.low:g}\u2013{band.high:g}"
    elif band.low is not None:
        bound = ("\u2265\u00a0" if band.low_inclusive else ">\u00a0") + f"{band.low:g}"
    else:
        assert band.high is not None
        bound = ("\u2264\u00a0" if band.high_inclusive else "<\u00a0") + f"{band.high:g}"
    # No-break spaces: a label wrapped in a narrow plot keeps "> 4.5 s" on one line.
    unit = measure.unit if measure.unit in ("", "\u00b0") else f"\u00a0{measure.unit}"
    name = band.label[0].upper() + band.label[1:]
    if band.kind == "goal" and compact:
        name = "Goal"
    elif band.kind == "goal" and "goal" not in band.label.lower():
        name = f"Goal ({band.label})"
    return f"{name} {bound}{unit}"


def relax_min_width(label: pg.LabelItem) -> None:
    """Let a layout shrink ``label`` below its text width (pyqtgraph pins it to the text)."""
    label.setMinimumWidth(0)
    hint = label._sizeHint  # noqa: SLF001 - LabelItem has no public way to do this
    if Qt.SizeHint.MinimumSize in hint:
        hint[Qt.SizeHint.MinimumSize] = (0, hint[Qt.SizeHint.MinimumSize][1])
        hint[Qt.SizeHint.PreferredSize] = (0, hint[Qt.SizeHint.PreferredSize][1])
    label.updateGeometry()


class ClinicDateAxis(pg.DateAxisItem):
    """Date axis that writes day ticks as ``14 Oct`` (not a bare ``14``); wall-clock x."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802, N803
        span_days = (maxVal - minVal) / DAY
        if span_days > 200:
            return super().tickValues(minVal, maxVal, size)
        # Rehab episodes span weeks: day ticks ("14 Oct") every 1, 2, 7, 14 or 28 days,
        # whichever leaves each label about 64 px.
        room = max(2, int(size / 64))
        step = next((n for n in (1, 2, 7, 14) if span_days / n <= room), 28)
        first = math.ceil(minVal / DAY) * DAY
        values = [first + k * step * DAY for k in range(int((maxVal - first) // (step * DAY)) + 1)]
        return [(step * DAY, values)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if DAY <= spacing <= 28 * DAY:
            out = []
            for v in values:
                d = x_to_datetime(v)
                out.append(day_month(d))
            return out
        return super().tickStrings(values, scale, spacing)


class MeasurePanel:
    """A ``PlotItem`` showing one measure in ``mode`` ("date" or "weeks")."""

    def __init__(
        self, measure: Measure, series: list[Series], mode: str, surgery: float | None,
        compact: bool = False,
    ) -> None:
        self.measure = measure
        self.compact = compact  # narrow grid cell: short title and legend
        self.series = series
        self.mode = mode
        axis = {"bottom": ClinicDateAxis(orientation="bottom", utcOffset=0)}
        self.plot = pg.PlotItem(axisItems=axis if mode == "date" else None)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.12)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.plot.getViewBox().setMouseEnabled(x=True, y=False)
        self._style_axes()
        self.curves: list[pg.PlotDataItem] = []
        self.band_items: list[tuple[Band, pg.LinearRegionItem, pg.InfiniteLine]] = []
        self.band_labels: list[pg.TextItem] = []  # one per band, same order as band_items
        self.mcid_item: pg.LinearRegionItem | None = None
        self.mcid_label: pg.TextItem | None = None
        self.baseline_item: pg.ScatterPlotItem | None = None
        self.baseline_label: pg.TextItem | None = None
        self.surgery_line: pg.InfiniteLine | None = None
        self.goal_items: list[tuple[pg.InfiniteLine, pg.ScatterPlotItem, pg.TextItem]] = []
        self._set_title()
        self._add_bands()
        for s in series:
            self._add_curve(s)
        self._add_baseline()
        if surgery is not None:
            self._add_surgery(surgery)
        self.highlight = pg.ScatterPlotItem(size=16, pen=pg.mkPen(BLACK, width=2), brush=None)
        self.highlight.setZValue(30)
        self.highlight.setVisible(False)
        self.plot.addItem(self.highlight, ignoreBounds=True)
        self.fit_y()
        vb = self.plot.getViewBox()
        # On-plot labels are placed in pixels, so again whenever the view's size or range
        # moves; once per repaint at most (linked plots change range many times per rebuild).
        self._labels_due = True
        self._scene = None
        vb.sigResized.connect(self._labels_moved)
        vb.sigRangeChanged.connect(self._labels_moved)

    # --- construction ---------------------------------------------------------------------
    def _style_axes(self) -> None:
        m = self.measure
        left = self.plot.getAxis("left")
        unit = f" ({m.unit})" if m.unit else ""
        left.setLabel(f"{m.short_name}{unit}", color=TEXT)
        left.setWidth(62)
        bottom = self.plot.getAxis("bottom")
        bottom.setLabel("Date" if self.mode == "date" else "Weeks since surgery", color=TEXT)
        for ax in (left, bottom):
            ax.setTextPen(TEXT)
            ax.setPen(GREY)
        for name in ("left", "bottom", "right", "top"):
            # Ticks stay in the unit the label names: an automatic "(x0.001)" factor made
            # 0.32 m/s read as 300.
            self.plot.getAxis(name).enableAutoSIPrefix(False)

    def _set_title(self) -> None:
        m = self.measure
        direction = "higher is better" if m.higher_is_better else "lower is better"
        if len(self.series) > 1:
            keys = []
            for s in self.series:
                colour, symbol = SERIES_STYLE[_role(s)]
                glyph = _SYMBOL_GLYPH[symbol]
                label = s.label
                if self.compact:
                    label = label.replace("(affected)", "(aff.)").replace(" (unaffected)", "")
                    label = label.replace(" session", "")
                keys.append(f"<span style='color:{colour}'>{glyph} {label}</span>")
            second = " &nbsp; ".join(keys)
        else:
            second = f"<span style='color:{GREY}'>{direction}</span>"
        name = m.short_name if self.compact else m.name
        self.plot.setTitle(
            f"<span style='color:{TEXT}; font-weight:600'>{name}</span><br>"
            f"<span style='font-size:8pt'>{second}</span>",
            size="10pt",
        )
        self.plot.titleLabel.setToolTip(m.name)
        relax_min_width(self.plot.titleLabel)

    def _add_curve(self, s: Series) -> None:
        colour, symbol = SERIES_STYLE[_role(s)]
        small = len(s.y) <= BIG_SERIES
        curve = pg.PlotDataItem(
            s.x(self.mode), s.y,
            pen=pg.mkPen(colour, width=1),
            symbol=symbol if small else None,
            symbolSize=7,
            symbolBrush=colour,
            symbolPen=pg.mkPen(colour),
            antialias=small,
            name=s.label,
        )
        curve.setZValue(10)
        self.plot.addItem(curve)
        self.curves.append(curve)

    def _primary(self) -> Series | None:
        return self.series[0] if self.series else None

    def _add_baseline(self) -> None:
        s = self._primary()
        if s is None or len(s.y) == 0:
            return
        x0, y0 = float(s.x(self.mode)[0]), float(s.y[0])
        colour, symbol = SERIES_STYLE[_role(s)]
        self.baseline_item = pg.ScatterPlotItem(
            [x0], [y0], size=13, symbol=symbol, brush=pg.mkBrush("w"),
            pen=pg.mkPen(colour, width=2.5),
        )
        self.baseline_item.setZValue(20)
        self.plot.addItem(self.baseline_item)
        # Placed (beside the marker, clear of the data) by place_labels.
        self.baseline_label = pg.TextItem(
            f"Baseline {self.measure.format_value(y0)}", color=TEXT, fill=LABEL_FILL,
        )
        self.baseline_label.setPos(x0, y0)
        self.baseline_label.setZValue(25)
        self.plot.addItem(self.baseline_label, ignoreBounds=True)
        self.baseline_leader = pg.PlotCurveItem(pen=pg.mkPen(GREY, width=1))
        self.baseline_leader.setZValue(24)
        self.baseline_leader.setVisible(False)
        self.plot.addItem(self.baseline_leader, ignoreBounds=True)
        if self.measure.mcid is not None:
            target = y0 + (self.measure.mcid if self.measure.higher_is_better
                           else -self.measure.mcid)
            self.mcid_item = pg.LinearRegionItem(
                values=(min(y0, target), max(y0, target)), orientation="horizontal",
                brush=pg.mkBrush(color(*MCID_FILL)), pen=pg.mkPen(None), movable=False,
            )
            self.mcid_item.setZValue(-8)
            self.plot.addItem(self.mcid_item)
            line = pg.InfiniteLine(
                target, angle=0, pen=pg.mkPen(ORANGE, width=1, style=Qt.PenStyle.DotLine),
            )
            line.setZValue(-7)
            self.plot.addItem(line)
            self.mcid_label = pg.TextItem(
                f"MCID {self.measure.format_value(self.measure.mcid, signed=False)} "
                "from baseline", color="#8A5A00", fill=LABEL_FILL,
            )
            self.mcid_label.setZValue(24)
            self.plot.addItem(self.mcid_label, ignoreBounds=True)

    def _add_bands(self) -> None:
        m = self.measure
        for band in m.bands:
            fill, alpha = BAND_FILL[band.kind]
            low = m.min_value if band.low is None else band.low
            high = m.max_value if band.high is None else band.high
            region = pg.LinearRegionItem(
                values=(low, high), orientation="horizontal", movable=False,
                brush=pg.mkBrush(color(fill, alpha)), pen=pg.mkPen(None),
            )
            region.setZValue(-10)
            self.plot.addItem(region)
            bound = band.low if band.low is not None else band.high
            line = pg.InfiniteLine(
                bound, angle=0, pen=pg.mkPen(fill, width=1, style=Qt.PenStyle.DashLine),
            )
            line.setZValue(-9)
            self.plot.addItem(line)
            label = pg.TextItem(band_text(m, band, self.compact), color=fill, fill=LABEL_FILL)
            label.setZValue(24)
            self.plot.addItem(label, ignoreBounds=True)
            self.band_items.append((band, region, line))
            self.band_labels.append(label)

    def _add_surgery(self, x: float) -> None:
        self.surgery_line = pg.InfiniteLine(
            x, angle=90, pen=pg.mkPen(BLACK, width=1, style=Qt.PenStyle.DashLine),
            label="Surgery", labelOpts={"position": 0.97, "color": BLACK, "rotateAxis": (1, 0),
                                        "anchors": [(1, 0), (1, 0)]},
        )
        self.surgery_line.setZValue(-5)
        self.plot.addItem(self.surgery_line)

    def add_goal(self, value: float, x: float, text: str) -> None:
        """A goal: a dashed target line, a star at the target date and its label."""
        pen = pg.mkPen(GOAL_GREEN, width=1.5, style=Qt.PenStyle.DashLine)
        line = pg.InfiniteLine(value, angle=0, pen=pen)
        line.setZValue(-6)
        self.plot.addItem(line)
        star = pg.ScatterPlotItem([x], [value], size=15, symbol="star",
                                  brush=pg.mkBrush(GOAL_GREEN), pen=pg.mkPen("w", width=1))
        star.setZValue(21)
        self.plot.addItem(star)  # counts for the x range, so the target date is in view
        label = pg.TextItem(text, color=GOAL_GREEN, fill=LABEL_FILL, anchor=(1, 1))
        label.setPos(x, value)
        label.setZValue(24)
        self.plot.addItem(label, ignoreBounds=True)
        self.goal_items.append((line, star, label))
        self.fit_y()

    # --- on-plot labels -------------------------------------------------------------------
    def _obstacles(self) -> np.ndarray:
        """Pixel boxes (view-box coordinates) around the visible data: rows of left, top,
        right, bottom, weight. Hiding a data point (20) is worse than crossing a line (1)."""
        vb = self.plot.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        w, h = vb.width(), vb.height()
        parts = [np.zeros((0, 5))]
        if w <= 0 or h <= 0 or x1 <= x0 or y1 <= y0:
            return parts[0]
        for s in self.series:
            x, y = s.x(self.mode), s.y
            if len(y) == 0 or len(y) > BIG_SERIES:
                continue  # a cloud that big covers the plot anyway; only small series matter
            px = (x - x0) / (x1 - x0) * w
            py = (y1 - y) / (y1 - y0) * h
            r = POINT_HALF
            parts.append(np.column_stack([px - r, py - r, px + r, py + r, np.full(len(px), 20)]))
            # each line between two points, as small boxes every ~6 px along it
            dx, dy = np.diff(px), np.diff(py)
            steps = np.maximum(np.abs(dx), np.abs(dy)) // 6
            steps = np.where(np.isfinite(steps), np.minimum(steps, 400), 0).astype(np.int64)
            inner = np.maximum(steps - 1, 0)  # samples strictly between the two points
            if inner.sum():
                seg = np.repeat(np.arange(len(dx)), inner)
                first = np.cumsum(inner) - inner  # index of each segment's first sample
                k = np.arange(len(seg)) - first[seg] + 1
                t = k / steps[seg]
                cx, cy = px[seg] + t * dx[seg], py[seg] + t * dy[seg]
                parts.append(np.column_stack([cx - 1.5, cy - 1.5, cx + 1.5, cy + 1.5,
                                              np.ones(len(t))]))
        return np.concatenate(parts)

    def _lead_to(self, marker: QPointF, rect: QRectF) -> None:
        """A thin line from the baseline marker to its label when the label sits away."""
        vb = self.plot.getViewBox()
        near = QPointF(min(max(marker.x(), rect.left()), rect.right()),
                       min(max(marker.y(), rect.top()), rect.bottom()))
        if math.hypot(near.x() - marker.x(), near.y() - marker.y()) < 2.5 * LABEL_GAP:
            self.baseline_leader.setVisible(False)
            return
        a, b = vb.mapToView(marker), vb.mapToView(near)
        self.baseline_leader.setData([a.x(), b.x()], [a.y(), b.y()])
        self.baseline_leader.setVisible(True)

    def _place_surgery_label(self, taken: np.ndarray) -> None:
        """Slide the surgery marker's label along its line to where it covers least."""
        assert self.surgery_line is not None
        label, vb = self.surgery_line.label, self.plot.getViewBox()
        inside = vb.rect().adjusted(LABEL_PAD, LABEL_PAD, -LABEL_PAD, -LABEL_PAD)
        best: tuple[float, float] | None = None
        for order, frac in enumerate((0.97, 0.03, 0.5, 0.75, 0.25, 0.85, 0.15, 0.62, 0.38)):
            label.setPosition(frac)
            box = label.mapRectToItem(vb, label.boundingRect())
            hit = ((taken[:, 0] < box.right()) & (taken[:, 2] > box.left())
                   & (taken[:, 1] < box.bottom()) & (taken[:, 3] > box.top()))
            cost = float(taken[hit, 4].sum()) + 0.1 * order
            if not inside.contains(box):
                cost += 1000.0
            if best is None or cost < best[0]:
                best = (cost, frac)
        assert best is not None
        label.setPosition(best[1])

    def _labels_moved(self, *_args: object) -> None:
        self._labels_due = True
        scene = self.plot.scene()
        if scene is not None and scene is not self._scene:
            self.detach()
            scene.sigPrepareForPaint.connect(self._place_if_due)
            self._scene = scene
        self.plot.update()

    def _place_if_due(self) -> None:
        if self._labels_due:
            self.place_labels()

    def detach(self) -> None:
        """Stop following the scene's repaints (call when the plot leaves the window)."""
        if self._scene is not None:
            self._scene.sigPrepareForPaint.disconnect(self._place_if_due)
            self._scene = None

    def place_labels(self) -> None:
        """Put the baseline, MCID and band labels inside the plot, clear of the data.

        Each label has a few candidate spots, each with a cost for being far from the
        preferred one (right beside its marker, or at an end of its line). The cheapest
        spot wins, counting what it would cover: a data point weighs far more than a short
        stretch of line or a reference line, another label more than anything. A spot not
        wholly inside the plot (with a small margin) is only taken when none is.
        """
        vb = self.plot.getViewBox()
        w, h = vb.width(), vb.height()
        if w <= 2 * LABEL_PAD or h <= 2 * LABEL_PAD:
            return
        self._labels_due = False
        area = QRectF(LABEL_PAD, LABEL_PAD, w - 2 * LABEL_PAD, h - 2 * LABEL_PAD)
        taken = self._obstacles()
        lines = [float(line.value()) for _b, _r, line in self.band_items]
        if self.mcid_item is not None:
            lines += list(self.mcid_item.getRegion())
        for value in lines:  # reference lines: a label may cross one, at a small cost
            y = vb.mapFromView(QPointF(0.0, value)).y()
            taken = np.vstack([taken, [0.0, y - 1, w, y + 1, 4]])

        if self.surgery_line is not None and self.surgery_line.label.isVisible():
            self._place_surgery_label(taken)
            box = self.surgery_line.label.mapRectToItem(
                vb, self.surgery_line.label.boundingRect())
            taken = np.vstack([taken, [box.left(), box.top(), box.right(), box.bottom(), 100]])

        def size(label: pg.TextItem) -> tuple[float, float]:
            r = label.textItem.boundingRect()
            return r.width(), r.height()

        def put(label: pg.TextItem, spots: list[tuple[float, float, float]]) -> QRectF:
            nonlocal taken
            lw, lh = size(label)
            left, top, penalty = np.asarray(spots, dtype=np.float64).T
            # A spot not wholly inside is pushed inside and only taken when nothing fits.
            outside = ((left < area.left()) | (top < area.top())
                       | (left + lw > area.right()) | (top + lh > area.bottom()))
            left = np.clip(left, area.left(), max(area.left(), area.right() - lw))
            top = np.clip(top, area.top(), max(area.top(), area.bottom() - lh))
            # What each spot covers, all spots and obstacles at once.
            hit = ((taken[None, :, 0] < (left + lw)[:, None])
                   & (taken[None, :, 2] > left[:, None])
                   & (taken[None, :, 1] < (top + lh)[:, None])
                   & (taken[None, :, 3] > top[:, None]))
            cost = hit.astype(np.float64) @ taken[:, 4] + penalty + 1000.0 * outside
            i = int(np.argmin(cost))  # the first of the cheapest: preferred spots come first
            rect = QRectF(float(left[i]), float(top[i]), lw, lh)
            taken = np.vstack([taken, [rect.left(), rect.top(), rect.right(), rect.bottom(),
                                       100]])  # labels never stack on each other
            label.setAnchor((0, 0))
            label.setPos(vb.mapToView(rect.topLeft()))
            return rect

        def along(label: pg.TextItem, value: float, above_first: bool) -> None:
            # A label wider than a narrow plot wraps inside it; pushed against the edge it
            # would cover the axis and the data and read as a label of another line.
            label.setTextWidth(-1)
            if label.textItem.boundingRect().width() > area.width():
                label.setTextWidth(area.width())
            lw, lh = size(label)
            y = vb.mapFromView(QPointF(0.0, value)).y()
            above, below = y - lh - 1, y + 1
            rows = [(above, 0.0), (below, 2.0)] if above_first else [(below, 0.0), (above, 2.0)]
            # Crowded next to the line: a little away from it, still clearly its label.
            for step in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0):
                rows += [(above - step * lh, 3 + 4 * step), (below + step * lh, 3 + 4 * step)]
            right, left = area.right() - lw, area.left()
            # Preferred at either end of the line, else anywhere along it.
            steps = max(1, int((right - left) // 24))
            cols = [(right, 0.0), (left, 0.5)] + [
                (left + (right - left) * k / steps, 1.0) for k in range(1, steps)]
            put(label, [(c, r, pc + pr) for r, pr in rows for c, pc in cols])

        for (band, _region, line), label in zip(self.band_items, self.band_labels, strict=True):
            # Inside the band first: above a lower bound, below an upper one.
            along(label, float(line.value()), above_first=band.low is not None)
        if self.mcid_label is not None and self.mcid_item is not None:
            lo, hi = self.mcid_item.getRegion()
            target = hi if self.measure.higher_is_better else lo
            along(self.mcid_label, float(target), above_first=not self.measure.higher_is_better)
        # Last, the baseline label: it may move furthest (with a leader line), so the labels
        # tied to a fixed line get their spots first.
        if self.baseline_item is not None and self.baseline_label is not None:
            bx, by = self.baseline_item.getData()
            p = vb.mapFromView(QPointF(float(bx[0]), float(by[0])))
            lw, lh = size(self.baseline_label)
            right, left = p.x() + LABEL_GAP, p.x() - LABEL_GAP - lw
            under, over = p.y() + LABEL_GAP - 4, p.y() - LABEL_GAP - lh + 4
            spots = [(right, under, 0.0), (right, over, 0.1), (left, under, 0.2),
                     (left, over, 0.3), (right, p.y() - lh / 2, 0.5), (left, p.y() - lh / 2, 0.6)]
            # Dense data next to the marker: further below or above it, still near it.
            for step in (0.5, 1.0, 1.5, 2.0, 3.0):
                for x in (right, left, p.x() - lw / 2):
                    spots += [(x, under + step * lh, 2 + 4 * step),
                              (x, over - step * lh, 2 + 4 * step)]
            # Still crowded: anywhere in the plot, the nearer the better, with a leader line.
            for gy in np.arange(area.top(), area.bottom() - lh, 8.0):
                for gx in np.arange(area.left(), area.right() - lw, 12.0):
                    far = math.hypot(gx + lw / 2 - p.x(), gy + lh / 2 - p.y())
                    spots.append((float(gx), float(gy), 16 + far / 15))
            rect = put(self.baseline_label, spots)
            self._lead_to(p, rect)

    # --- ranges and updates ---------------------------------------------------------------
    def x_extent(self) -> tuple[float, float] | None:
        """Smallest and largest x over the data, the surgery marker and goal dates."""
        parts = [s.x(self.mode) for s in self.series if len(s.y)]
        if self.surgery_line is not None:
            parts.append(np.array([self.surgery_line.value()], dtype=np.float64))
        for _line, star, _label in self.goal_items:
            parts.append(np.asarray(star.getData()[0], dtype=np.float64))
        if not parts:
            return None
        return min(float(p.min()) for p in parts), max(float(p.max()) for p in parts)

    def fit_y(self) -> None:
        """y range over the data, the MCID target and reference-band bounds near the data."""
        ys = [s.y for s in self.series if len(s.y)]
        if not ys:
            return
        lo = min(float(y.min()) for y in ys)
        hi = max(float(y.max()) for y in ys)
        extra: list[float] = []
        if self.mcid_item is not None:
            extra += list(self.mcid_item.getRegion())
        for band, _region, _line in self.band_items:
            # always show the bound: "how far from the cut-off / goal" is the point of it
            extra += [b for b in (band.low, band.high) if b is not None]
        extra += [line.value() for line, _star, _label in self.goal_items]
        lo, hi = min([lo, *extra]), max([hi, *extra])
        pad = max(hi - lo, 1.0) * 0.12
        self.plot.setYRange(lo - pad, hi + pad, padding=0)

    def update_series(self, index: int, series: Series) -> None:
        """Replace series ``index`` (data and hover look-up); for live updates and benchmarks."""
        x, y = series.x(self.mode), series.y
        big = len(y) > BIG_SERIES
        curve = self.curves[index]
        if big:
            curve.setSymbol(None)
        curve.setData(x, y, antialias=not big)
        self.series[index] = series

    # --- hover ----------------------------------------------------------------------------
    def contains(self, scene_pos: QPointF) -> bool:
        """True if ``scene_pos`` lies inside this panel's data area."""
        return self.plot.getViewBox().sceneBoundingRect().contains(scene_pos)

    def nearest(self, scene_pos: QPointF) -> HoverHit | None:
        """The data point nearest ``scene_pos`` in screen distance, over all series."""
        vb = self.plot.getViewBox()
        p = vb.mapSceneToView(scene_pos)
        px, py = vb.viewPixelSize()
        if px <= 0 or py <= 0:
            return None
        best: HoverHit | None = None
        best_d = np.inf
        for s in self.series:
            x = s.x(self.mode)
            if len(x) == 0:
                continue
            # x is sorted: only look at points within 60 px horizontally (cheap for 1M points)
            lo = int(np.searchsorted(x, p.x() - 60 * px, "left"))
            hi = int(np.searchsorted(x, p.x() + 60 * px, "right"))
            if hi <= lo:
                lo, hi = max(0, min(lo, len(x) - 1)), max(0, min(lo, len(x) - 1)) + 1
                lo = max(0, lo - 1)
            dx = (x[lo:hi] - p.x()) / px
            dy = (s.y[lo:hi] - p.y()) / py
            d = dx * dx + dy * dy
            i = int(np.argmin(d))
            if d[i] < best_d:
                best_d = float(d[i])
                best = HoverHit(s, lo + i, float(x[lo + i]), float(s.y[lo + i]))
        return best

    def show_hit(self, hit: HoverHit | None) -> None:
        """Ring the hovered point (or hide the ring)."""
        if hit is None:
            self.highlight.setVisible(False)
            return
        self.highlight.setData([hit.x], [hit.y])
        self.highlight.setVisible(True)

    def describe(self, hit: HoverHit) -> str:
        """Read-out text: measure, series, exact value, date (and weeks since surgery)."""
        s = hit.series
        when = x_to_datetime(float(s.x_date[hit.index]))
        day = format_date(when.date())
        if s.with_time:
            day += f" {when:%H:%M}"
        who = f" \u2013 {s.label}" if len(self.series) > 1 or s.affected is not None else ""
        text = f"{self.measure.short_name}{who}: {self.measure.format_value(hit.y)} on {day}"
        if s.x_weeks is not None:
            text += f" (week {float(s.x_weeks[hit.index]):.1f} after surgery)"
        return text
