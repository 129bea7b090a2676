"""Patient progress dashboard: one small plot per selected measure, with clinical references.

Lazy import (start-up time): this module imports pyqtgraph (~0.3 s, plus numpy) at the top, so
nothing imported at application start may import it. Hosts import it on first use, e.g.
``importlib.import_module("clinic_app.ui.progress_plot")`` when the Progress tab is first
shown (see ``clinic_app/ui/progress_tab.py``). ``clinic_app.ui.plot_data`` is Qt-free;
``plot_style`` and ``plot_panel`` import pyqtgraph and are only imported from here.

Each plot shows the data (points + line; affected and unaffected side as separate series for
sided measures), the baseline (first value, ringed and labelled), the MCID band (baseline to
baseline +/- MCID in the direction of improvement: the change needed to be clinically
important), goal / cut-off / normative bands from the measure catalogue, and the surgery date.
The x axis is the date or the weeks since surgery (only offered when the episode has a surgery
date; weeks since episode start are never substituted). Hovering shows the exact value of the
nearest point under the plots. Results and sessions entered in error are never plotted.

The plots sit in a scroll area and reflow: as many columns as fit at a readable width, with
short titles when narrow; below that the grid scrolls rather than clipping anything. Axes never
rescale their ticks with an SI factor, and on-plot labels are kept inside each plot, clear of
the data (see :meth:`MeasurePanel.place_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from uuid import UUID

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QRegion
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.cohorts import MIN_COHORT_PATIENTS, CohortCurve, WeekBasis
from clinic_app.domain.measures import MEASURES, Measure, clinic_measure
from clinic_app.domain.plan_of_care import GoalDraft
from clinic_app.domain.progress import day_month, format_date
from clinic_app.domain.records import Patient, Side
from clinic_app.services.charting import EpisodeChart, PatientChart
from clinic_app.ui import messages, ops
from clinic_app.ui.plot_data import (
    SESSION_MEASURES,
    SeriesKey,
    available_measures,
    build_series,
    date_to_x,
    default_selection,
    measure_for,
    surgery_x,
)
from clinic_app.ui.plot_panel import MeasurePanel
from clinic_app.ui.plot_style import BLACK, GREY, MCID_FILL, TEXT, VERMILLION, configure_pyqtgraph
from clinic_app.ui.recovery_overlay import draw_overlay, overlay_note

X_MODES = ("date", "weeks")
MAX_PLOTS = 9
MIN_PLOT_WIDTH = 280
"""Narrowest a plot may get (px) before the grid drops to fewer columns and scrolls."""
MIN_PLOT_HEIGHT = 230
"""Lowest a plot may get (px): below this the grid scrolls rather than squashing the plots."""
MAX_COLUMNS = 3
COMPACT_BELOW = 420
"""Plots narrower than this (px) get short titles, legends and band labels."""
NO_SURGERY_TIP = (
    "This episode has no surgery date, so weeks since surgery cannot be shown. "
    "Add the surgery date to the episode to use this view."
)
NO_DATA_TEXT = (
    "No test results or retro-walking sessions have been recorded in this episode yet.\n"
    "Record a session (with its tests) to see the patient's progress here."
)
NO_EPISODE_TEXT = "No episode selected."
NO_SELECTION_TEXT = "Tick one or more measures on the left to plot them."
READOUT_HINT = "Point at a data point to read its exact value and date."
SESSIONS_ONLY_TEXT = (
    "No standardized test results in this episode yet \u2013 showing retro-walking "
    "session parameters."
)


class ProgressPlot(QWidget):
    """Progress dashboard for one episode of care (objectName ``progressPlot``).

    Public API: :meth:`set_episode`, :meth:`set_chart`, :meth:`clear`, :meth:`set_x_mode`,
    :meth:`select_measures`, :meth:`export_png`; read-only accessors :meth:`plotted_series`,
    :meth:`panel`, :meth:`x_mode`, :meth:`selected_measures`, :meth:`available_measures`,
    :meth:`readout_text`, :meth:`message_text`.
    """

    measures_changed = Signal(list)  # list[str] of selected measure ids
    exported = Signal(object)  # Path of a written PNG (hosts may audit the export)

    def __init__(self, parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.setObjectName("progressPlot")
        self._chart: EpisodeChart | None = None
        self._patient: Patient | None = None
        self._mode = "date"
        self._available: list[str] = []
        self._selected: list[str] = []
        self.bwt_fall_flag = True  # the clinic's 3MBWT population choice (Settings › Clinical)
        self._panels: dict[str, MeasurePanel] = {}
        # Expected recovery: the host sets the source (a use case run off the GUI thread).
        self.overlay_source: Callable[[UUID, str], CohortCurve] | None = None
        self._overlays: dict[tuple[UUID, str], CohortCurve] = {}
        self._overlay_items: dict[str, list[object]] = {}
        self._goals: tuple[GoalDraft, ...] = ()  # measured goals of the episode shown
        self._build_ui()
        self._show_message(NO_EPISODE_TEXT)

    # --- UI construction -------------------------------------------------------------------
    def _build_ui(self) -> None:
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Measures</b>")
        self._list = QListWidget(objectName="progressMeasureList")
        self._list.setToolTip("Tick the measures to plot (one small plot each).")
        self._list.setAccessibleName("Measures to plot")
        self._list.itemChanged.connect(self._on_item_changed)
        side.addWidget(title)
        side.addWidget(self._list, 1)
        side.addWidget(QLabel("<b>X axis</b>"))
        self._date_btn = QRadioButton("Date", objectName="progressXDate")
        self._weeks_btn = QRadioButton("Weeks since surgery", objectName="progressXWeeks")
        self._date_btn.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self._date_btn)
        group.addButton(self._weeks_btn)
        self._date_btn.toggled.connect(self._on_mode_toggled)
        side.addWidget(self._date_btn)
        side.addWidget(self._weeks_btn)
        self._overlay_check = QCheckBox("Expected recovery", objectName="progressOverlayCheck")
        self._overlay_check.setAccessibleName("Show the expected recovery curve")
        self._overlay_check.setToolTip(
            "Overlay the median and interquartile range of this clinic's other patients with "
            f"the same diagnosis (shown from {MIN_COHORT_PATIENTS} patients).")
        self._overlay_check.setVisible(False)
        self._overlay_check.toggled.connect(self._on_overlay_toggled)
        self._overlay_note = QLabel(objectName="progressOverlayNote")
        self._overlay_note.setWordWrap(True)
        self._overlay_note.setStyleSheet(f"color:{GREY}; font-size:8pt;")
        self._overlay_note.hide()
        side.addWidget(self._overlay_check)
        side.addWidget(self._overlay_note)
        side.addSpacing(8)
        self._export_btn = QPushButton("Export PNG\u2026", objectName="progressExportButton")
        self._export_btn.setToolTip("Save the plots as a PNG image (e.g. for a referral letter).")
        self._export_btn.clicked.connect(self._on_export_clicked)
        side.addWidget(self._export_btn)
        sidebar = QWidget()
        sidebar.setLayout(side)
        sidebar.setFixedWidth(185)

        self._banner = QLabel(objectName="progressPlotBanner")
        self._banner.setWordWrap(True)
        self._banner.setStyleSheet(
            "background:#FFF4D6; color:#5A4500; padding:4px 8px; border-radius:3px;"
        )
        self._banner.hide()
        self._message = QLabel(objectName="progressPlotMessage")
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.setStyleSheet(f"color:{GREY}; font-size:12pt; padding:24px;")
        # The plots live in a scroll area: at small windows they keep a readable size and the
        # grid scrolls (and reflows into fewer columns) instead of clipping titles and legends.
        self._header = QLabel(objectName="progressPlotHeader")
        self._header.setWordWrap(True)
        self._header.setStyleSheet("font-size:11pt; padding:4px 6px 0 6px;")
        self._view = pg.GraphicsLayoutWidget()
        self._view.setObjectName("progressGraphics")
        self._view.setAccessibleName("Progress plots")
        self._view.setBackground("w")
        self._view.ci.setContentsMargins(6, 6, 6, 6)
        self._view.ci.setSpacing(10)
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._key = QLabel(objectName="progressPlotKey")
        self._key.setWordWrap(True)
        self._key.setStyleSheet("font-size:8pt; padding:0 6px 4px 6px;")
        self._content = QWidget(objectName="progressPlotContent")
        palette = self._content.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor("white"))
        self._content.setPalette(palette)
        self._content.setAutoFillBackground(True)  # white behind header and key, as printed
        content = QVBoxLayout(self._content)
        content.setContentsMargins(0, 0, 0, 0)
        content.setSpacing(0)
        content.addWidget(self._header)
        content.addWidget(self._view, 1)
        content.addWidget(self._key)
        self._scroll = QScrollArea(objectName="progressScroll")
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setWidget(self._content)
        self._scroll.installEventFilter(self)
        self._cols = 0
        self._compact = False
        self._reflow = QTimer(self)
        self._reflow.setSingleShot(True)
        self._reflow.setInterval(0)
        self._reflow.timeout.connect(self._reflow_if_needed)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._message)
        self._stack.addWidget(self._scroll)
        self._readout = QLabel(READOUT_HINT, objectName="progressPlotReadout")
        self._readout.setStyleSheet(f"color:{TEXT}; padding:2px 4px;")
        self._readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self._banner)
        right.addWidget(self._stack, 1)
        right.addWidget(self._readout)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(sidebar)
        layout.addLayout(right, 1)

    # --- public API ------------------------------------------------------------------------
    def set_chart(self, chart: PatientChart, episode_id: UUID | None = None) -> None:
        """Show episode ``episode_id`` of ``chart`` (default: the most recent episode)."""
        episodes = chart.episodes
        match = [e for e in episodes if episode_id is None or e.episode.id == episode_id]
        if not match:
            self.clear()
            return
        latest = max(match, key=lambda e: e.episode.draft.start_date)
        self.set_episode(latest, chart.patient)

    def set_goals(self, episode_id: UUID, goals: Sequence[GoalDraft]) -> None:
        """Draw the measured goals of ``episode_id`` on their measure's plot (target line
        and date); ignored when another episode is shown meanwhile."""
        if self._chart is None or self._chart.episode.id != episode_id:
            return
        kept = tuple(g for g in goals if g.measured)
        if kept != self._goals:
            self._goals = kept
            self._draw_goals()

    def _draw_goals(self) -> None:
        chart = self._chart
        if chart is None:
            return
        surgery = chart.episode.draft.surgery_date
        for g in self._goals:
            panel = self._panels.get(g.measure_id or "")
            if panel is None or g.target_value is None or g.target_date is None:
                continue
            if self._mode == "weeks":
                if surgery is None:
                    continue
                x = (g.target_date - surgery).days / 7.0
            else:
                x = date_to_x(g.target_date)
            m = panel.measure
            panel.add_goal(g.target_value, x, f"Goal {m.format_value(g.target_value)} by "
                                              f"{day_month(g.target_date)}")
        self._fit_x()

    def set_episode(self, chart: EpisodeChart, patient: Patient | None = None) -> None:
        """Show ``chart``; keeps the measure selection and x mode where they still apply."""
        same = self._chart is not None and self._chart.episode.id == chart.episode.id
        if not same:
            self._goals = ()
        self._chart, self._patient = chart, patient
        self._available = available_measures(chart)
        kept = [m for m in self._selected if m in self._available] if same else []
        self._selected = kept or default_selection(self._available)
        has_surgery = chart.episode.draft.surgery_date is not None
        self._weeks_btn.setEnabled(has_surgery)
        self._weeks_btn.setToolTip("" if has_surgery else NO_SURGERY_TIP)
        if not has_surgery and self._mode == "weeks":
            self._mode = "date"
        self._sync_mode_buttons()
        self._fill_list()
        self._rebuild()

    def clear(self) -> None:
        """Show nothing (no patient/episode selected)."""
        self._chart = self._patient = None
        self._available, self._selected = [], []
        self._weeks_btn.setEnabled(True)
        self._weeks_btn.setToolTip("")
        self._fill_list()
        self._rebuild()

    def _measure(self, measure_id: str) -> Measure:
        """The measure as this clinic shows it (its 3MBWT choice, Settings › Clinical)."""
        m = measure_for(measure_id)
        if measure_id in MEASURES and not self.bwt_fall_flag:
            return clinic_measure(measure_id, self.bwt_fall_flag)
        return m

    def set_bwt_fall_flag(self, flag: bool) -> None:
        """Apply the clinic's 3MBWT choice and redraw."""
        if flag != self.bwt_fall_flag:
            self.bwt_fall_flag = flag
            if self._chart is not None:
                self._rebuild()

    def set_x_mode(self, mode: str) -> None:
        """``"date"`` or ``"weeks"`` (since surgery; ValueError if the episode has none)."""
        if mode not in X_MODES:
            raise ValueError(f"x mode must be one of {X_MODES}, not {mode!r}")
        if mode == "weeks" and self._chart is not None and surgery_x(self._chart) is None:
            raise ValueError(NO_SURGERY_TIP)
        if mode == self._mode:
            return
        self._mode = mode
        self._sync_mode_buttons()
        self._rebuild()

    def select_measures(self, ids: Sequence[str]) -> None:
        """Plot exactly ``ids`` (in catalogue order); ids not in this episode are ignored."""
        wanted = set(ids)
        self._selected = [m for m in self._available if m in wanted]
        self._fill_list()
        self._rebuild()

    def export_png(self, path: str | Path, scale: float = 1.0) -> Path:
        """Write the plots (with the header and key) as PNG of the whole grid x ``scale``."""
        if self._stack.currentWidget() is not self._scroll:
            raise ValueError("There is no plot to export.")
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        size = self._content.size()
        width, height = round(size.width() * scale), round(size.height() * scale)
        image = QImage(width, height, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.white)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.scale(width / max(1, size.width()), height / max(1, size.height()))
        try:
            # The whole grid, also the part scrolled out of sight.
            self._content.render(painter, QPoint(0, 0), QRegion(),
                                 QWidget.RenderFlag.DrawChildren
                                 | QWidget.RenderFlag.DrawWindowBackground)
        finally:
            painter.end()
        if not image.save(str(path), "PNG"):
            raise OSError(f"Could not write {path}")
        self.exported.emit(path)
        return path

    # --- read-only accessors ---------------------------------------------------------------
    def plotted_series(self, measure_id: str) -> dict[SeriesKey, tuple[np.ndarray, np.ndarray]]:
        """What the plot of ``measure_id`` holds: series key -> (x, y), in the current x mode.

        Keys: ``None`` (single series), a :class:`Side` (sided measures) or ``"before"`` /
        ``"after"`` (session pain). Empty when the measure is not plotted.
        """
        panel = self._panels.get(measure_id)
        if panel is None:
            return {}
        return {
            s.key: (np.asarray(c.xData, dtype=np.float64), np.asarray(c.yData, dtype=np.float64))
            for s, c in zip(panel.series, panel.curves, strict=True)
        }

    def panel(self, measure_id: str) -> MeasurePanel | None:
        """The plot of ``measure_id`` if shown (bands, baseline and curves are attributes)."""
        return self._panels.get(measure_id)

    def x_mode(self) -> str:
        return self._mode

    def selected_measures(self) -> list[str]:
        return list(self._selected)

    def available_measures(self) -> list[str]:
        return list(self._available)

    def readout_text(self) -> str:
        return self._readout.text()

    def message_text(self) -> str | None:
        """The message shown instead of plots, or ``None`` while plots are shown."""
        return None if self._stack.currentWidget() is self._scroll else self._message.text()

    # --- internals -------------------------------------------------------------------------
    def _sync_mode_buttons(self) -> None:
        for btn, checked in ((self._date_btn, self._mode == "date"),
                             (self._weeks_btn, self._mode == "weeks")):
            btn.blockSignals(True)
            btn.setChecked(checked)
            btn.blockSignals(False)

    def _fill_list(self) -> None:
        self._list.blockSignals(True)
        self._list.clear()
        tests = [m for m in self._available if m not in SESSION_MEASURES]
        sessions = [m for m in self._available if m in SESSION_MEASURES]
        for heading, ids in (("Standardized tests", tests), ("Retro-walking sessions", sessions)):
            if not ids:
                continue
            head = QListWidgetItem(heading)
            head.setFlags(Qt.ItemFlag.NoItemFlags)
            font = head.font()
            font.setBold(True)
            head.setFont(font)
            head.setForeground(QColor(TEXT))
            self._list.addItem(head)
            for mid in ids:
                m = measure_for(mid)
                item = QListWidgetItem(m.short_name if m.short_name != m.name else m.name)
                item.setToolTip(m.name)
                item.setData(Qt.ItemDataRole.UserRole, mid)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if mid in self._selected
                                   else Qt.CheckState.Unchecked)
                self._list.addItem(item)
        self._list.blockSignals(False)

    def _on_item_changed(self, _item: QListWidgetItem) -> None:
        chosen = set()
        for i in range(self._list.count()):
            it = self._list.item(i)
            if it.checkState() == Qt.CheckState.Checked:
                chosen.add(it.data(Qt.ItemDataRole.UserRole))
        self._selected = [m for m in self._available if m in chosen]
        self._rebuild()

    def _on_mode_toggled(self, date_checked: bool) -> None:
        self.set_x_mode("date" if date_checked else "weeks")

    def _on_export_clicked(self) -> None:
        default = "progress.png"
        if self._patient is not None:
            default = f"progress_{self._patient.draft.mrn}_{date.today():%Y-%m-%d}.png"
        name, _ = QFileDialog.getSaveFileName(self, "Export progress plots", default,
                                              "PNG image (*.png)")
        if not name:
            return
        try:
            self.export_png(name, scale=2.0)
        except (OSError, ValueError) as exc:
            messages.warn(self, "Export failed", str(exc))

    def _show_message(self, text: str) -> None:
        self._message.setText(text)
        self._stack.setCurrentWidget(self._message)
        self._export_btn.setEnabled(False)
        self._readout.setText("")

    def _header_html(self) -> str:
        assert self._chart is not None
        ep = self._chart.episode.draft
        knee = "both knees" if ep.affected_side == Side.BILATERAL else f"{ep.affected_side} knee"
        parts = [f"{ep.diagnosis.label}, {knee}"]
        def day(d: date) -> str:  # a wrapped header never splits a date over two lines
            return format_date(d).replace(" ", "&nbsp;")

        if ep.surgery_date is not None:
            parts.append(f"surgery {day(ep.surgery_date)}")
        parts.append(f"episode from {day(ep.start_date)}")
        who = ""
        if self._patient is not None:
            p = self._patient
            who = f"<b>{p.display_name}</b> ({p.draft.mrn}) &nbsp;\u2013&nbsp; "
        sep = " \u00b7 "
        return f"<span style='color:{TEXT}'>{who}{sep.join(parts)}</span>"

    def _key_html(self) -> str:
        """One-line key of the reference marks actually shown."""
        panels = list(self._panels.values())
        kinds = {band.kind for p in panels for band, _r, _l in p.band_items}
        mcid = pg.mkColor(MCID_FILL[0])
        mcid.setAlpha(MCID_FILL[1] * 2)
        entries = [(BLACK, "\u25ef", "baseline (first value)")]
        if any(p.mcid_item is not None for p in panels):
            entries.append((mcid.name(), "\u2588",
                            "MCID band: change needed to be clinically important"))
        for kind, colour, text in (("goal", "#7FC8B0", "goal"),
                                   ("cutoff", VERMILLION, "cut-off (warning sign)"),
                                   ("normative", GREY, "normal range")):
            if kind in kinds:
                entries.append((colour, "\u2588", text))
        if any(p.surgery_line is not None for p in panels):
            entries.append((BLACK, "\u2506", "surgery"))
        # The key wraps between its entries, never inside one (no-break spaces and hyphens).
        parts = [f"<span style='color:{colour}'>{glyph}</span>&nbsp;"
                 + text.replace(" ", "&nbsp;").replace("-", "\u2011")
                 for colour, glyph, text in entries]
        return f"<span style='color:{GREY}'>{' &nbsp; '.join(parts)}</span>"

    def _available_width(self) -> int:
        """Width the grid may use without a horizontal scroll bar (room kept for a vertical)."""
        bar = self._scroll.verticalScrollBar().sizeHint().width()
        # The stack's width, not the scroll area's: a page not yet shown has no real size.
        return max(1, self._stack.width() - 2 * self._scroll.frameWidth() - bar)

    def _grid_shape(self, count: int) -> tuple[int, int]:
        """(columns, rows) for ``count`` plots: as many columns as fit, rows kept even."""
        room = self._available_width() - 12  # the layout's outer margins
        # At most 3 across: on a wide screen 4 plots make a 2 x 2 grid, not a row of slivers.
        fit = min(MAX_COLUMNS, max(1, (room + 10) // (MIN_PLOT_WIDTH + 10)))
        rows = math.ceil(count / min(fit, count))
        cols = math.ceil(count / rows)  # 4 plots in room for 3: 2 x 2, not 3 + 1
        return cols, rows

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if obj is self._scroll and event.type() == QEvent.Type.Resize and self._panels:
            self._reflow.start()  # after the resize, never from inside the layout pass
        return super().eventFilter(obj, event)

    def _reflow_if_needed(self) -> None:
        shown = self._selected[:MAX_PLOTS]
        if not self._panels or not shown:
            return
        cols, _rows = self._grid_shape(len(shown))
        compact = self._available_width() / cols < COMPACT_BELOW
        if cols != self._cols or compact != self._compact:
            self._rebuild(announce=False)

    def _rebuild(self, announce: bool = True) -> None:
        layout = self._view.ci
        layout.clear()
        for old in self._panels.values():
            old.detach()
        self._panels = {}
        self._cols = 0
        self._banner.hide()
        if self._chart is None:
            self._show_message(NO_EPISODE_TEXT)
            return
        if not self._available:
            self._show_message(NO_DATA_TEXT)
            return
        if not any(m not in SESSION_MEASURES for m in self._available):
            self._banner.setText(SESSIONS_ONLY_TEXT)
            self._banner.show()
        shown = self._selected[:MAX_PLOTS]
        if len(self._selected) > MAX_PLOTS:
            self._banner.setText(f"Showing the first {MAX_PLOTS} of {len(self._selected)} "
                                 "ticked measures; untick some to see the others.")
            self._banner.show()
        if not shown:
            self._show_message(NO_SELECTION_TEXT)
            return
        cols, rows = self._grid_shape(len(shown))
        self._cols = cols
        self._compact = self._available_width() / cols < COMPACT_BELOW
        self._header.setText(self._header_html())
        surgery = surgery_x(self._chart)
        if surgery is not None and self._mode == "weeks":
            surgery = 0.0
        first: MeasurePanel | None = None
        for i, mid in enumerate(shown):
            panel = MeasurePanel(self._measure(mid), build_series(self._chart, mid), self._mode,
                                 surgery, compact=self._compact)
            layout.addItem(panel.plot, row=i // cols, col=i % cols)
            # Same preferred width for every plot, so a long title cannot widen its column.
            panel.plot.setPreferredWidth(MIN_PLOT_WIDTH)
            panel.plot.setMinimumWidth(MIN_PLOT_WIDTH)
            panel.plot.setMinimumHeight(MIN_PLOT_HEIGHT)
            if first is None:
                first = panel
            else:
                panel.plot.setXLink(first.plot)
            self._panels[mid] = panel
        for col in range(cols):  # equal columns, whatever the titles' lengths
            layout.layout.setColumnStretchFactor(col, 1)
            layout.layout.setColumnPreferredWidth(col, 10)
        for row in range(rows):
            layout.layout.setRowStretchFactor(row, 1)
        # The view asks for room for every plot; the scroll area scrolls when it has less.
        self._view.setMinimumSize(cols * (MIN_PLOT_WIDTH + 10) + 12,
                                  rows * (MIN_PLOT_HEIGHT + 10) + 12)
        self._key.setText(self._key_html())
        self._draw_goals()
        self._fit_x()
        self._overlay_items = {}
        self._request_overlays()
        self._stack.setCurrentWidget(self._scroll)
        self._export_btn.setEnabled(True)
        self._readout.setText(READOUT_HINT)
        if announce:
            self.measures_changed.emit(list(self._selected))

    # --- expected recovery -------------------------------------------------------------------
    def set_overlay_source(self, source: Callable[[UUID, str], CohortCurve] | None) -> None:
        """Offer the expected-recovery overlay, fetched through ``source`` (None: no offer,
        e.g. for the front desk)."""
        self.overlay_source = source
        self._overlays.clear()
        self._overlay_check.setVisible(source is not None)
        if source is None:
            self._overlay_check.setChecked(False)

    def overlay_curve(self, measure_id: str) -> CohortCurve | None:
        """The cohort curve shown (or withheld) for ``measure_id`` of the open episode."""
        if self._chart is None:
            return None
        return self._overlays.get((self._chart.episode.id, measure_id))

    def _on_overlay_toggled(self, on: bool) -> None:
        if not on:
            for items in self._overlay_items.values():
                for item in items:
                    self._remove_item(item)
            self._overlay_items = {}
            self._overlay_note.hide()
            return
        self._request_overlays()

    def _remove_item(self, item: object) -> None:
        for panel in self._panels.values():
            if item in panel.plot.items:
                panel.plot.removeItem(item)

    def _request_overlays(self) -> None:
        if (self.overlay_source is None or not self._overlay_check.isChecked()
                or self._chart is None):
            return
        episode_id = self._chart.episode.id
        source = self.overlay_source
        for mid in list(self._panels):
            if mid not in MEASURES or mid in self._overlay_items:
                continue
            key = (episode_id, mid)
            if key in self._overlays:
                self._draw_overlay(mid, self._overlays[key])
                continue

            def got(curve: CohortCurve, key: tuple[UUID, str] = key) -> None:
                self._overlays[key] = curve
                if self._chart is not None and self._chart.episode.id == key[0]:
                    self._draw_overlay(key[1], curve)

            ops.run_op(self, lambda m=mid: source(episode_id, m), got,
                       title="Expected recovery")

    def _draw_overlay(self, measure_id: str, curve: CohortCurve) -> None:
        panel = self._panels.get(measure_id)
        if panel is None or not self._overlay_check.isChecked() or self._chart is None:
            return
        d = self._chart.episode.draft
        anchor = d.surgery_date if curve.filter.basis is WeekBasis.SURGERY else d.start_date
        if self._mode == "weeks" and curve.filter.basis is not WeekBasis.SURGERY:
            return  # the weeks axis counts from surgery; this cohort from episode start
        for item in self._overlay_items.pop(measure_id, []):
            self._remove_item(item)
        items = draw_overlay(panel.plot, curve, self._mode, date_to_x(anchor))
        self._overlay_items[measure_id] = items
        if items:
            self._show_band_in_view(panel, items[0], items[1])
        notes = [overlay_note(c) for m in self._panels
                 if (c := self._overlays.get((self._chart.episode.id, m))) is not None]
        self._overlay_note.setText(" ".join(dict.fromkeys(n for n in notes if n)))
        self._overlay_note.setVisible(bool(notes))

    @staticmethod
    def _show_band_in_view(panel: MeasurePanel, lower: pg.PlotDataItem,
                           upper: pg.PlotDataItem) -> None:
        """Widen the y range so the band is visible where the patient has data (the band
        would otherwise be cut by a range fitted to the patient's values alone)."""
        (x0, x1), (y0, y1) = panel.plot.viewRange()
        inside = (lower.xData >= x0) & (lower.xData <= x1)
        if not inside.any():
            return
        lo, hi = float(lower.yData[inside].min()), float(upper.yData[inside].max())
        if lo >= y0 and hi <= y1:
            return
        pad = (max(hi, y1) - min(lo, y0)) * 0.05
        panel.plot.setYRange(min(y0, lo - pad), max(y1, hi + pad), padding=0)

    def _fit_x(self) -> None:
        extents = [e for p in self._panels.values() if (e := p.x_extent()) is not None]
        if not extents:
            return
        lo, hi = min(e[0] for e in extents), max(e[1] for e in extents)
        span = hi - lo or (7 * 86400.0 if self._mode == "date" else 1.0)
        pad = span * 0.04
        for panel in self._panels.values():
            panel.plot.setXRange(lo - pad, hi + pad, padding=0)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        text = READOUT_HINT
        for panel in self._panels.values():
            hit = panel.nearest(scene_pos) if panel.contains(scene_pos) else None
            panel.show_hit(hit)
            if hit is not None:
                text = panel.describe(hit)
        if self._panels:
            self._readout.setText(text)
