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
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from uuid import UUID

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.progress import format_date
from clinic_app.domain.records import Patient, Side
from clinic_app.services.charting import EpisodeChart, PatientChart
from clinic_app.ui import messages
from clinic_app.ui.plot_data import (
    SESSION_MEASURES,
    SeriesKey,
    available_measures,
    build_series,
    default_selection,
    measure_for,
    surgery_x,
)
from clinic_app.ui.plot_panel import MeasurePanel, relax_min_width
from clinic_app.ui.plot_style import BLACK, GREY, MCID_FILL, TEXT, VERMILLION, configure_pyqtgraph

X_MODES = ("date", "weeks")
MAX_PLOTS = 9
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
        self._panels: dict[str, MeasurePanel] = {}
        self._build_ui()
        self._show_message(NO_EPISODE_TEXT)

    # --- UI construction -------------------------------------------------------------------
    def _build_ui(self) -> None:
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Measures</b>")
        self._list = QListWidget(objectName="progressMeasureList")
        self._list.setToolTip("Tick the measures to plot (one small plot each).")
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
        self._view = pg.GraphicsLayoutWidget()
        self._view.setObjectName("progressGraphics")
        self._view.setBackground("w")
        self._view.ci.setContentsMargins(6, 6, 6, 6)
        self._view.ci.setSpacing(10)
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._message)
        self._stack.addWidget(self._view)
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

    def set_episode(self, chart: EpisodeChart, patient: Patient | None = None) -> None:
        """Show ``chart``; keeps the measure selection and x mode where they still apply."""
        same = self._chart is not None and self._chart.episode.id == chart.episode.id
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
        """Write the plots (with the header and key) as PNG of the plot area x ``scale``."""
        if self._stack.currentWidget() is not self._view:
            raise ValueError("There is no plot to export.")
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        vp = self._view.viewport()
        width, height = round(vp.width() * scale), round(vp.height() * scale)
        image = QImage(width, height, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.white)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        try:
            self._view.render(painter, QRectF(0, 0, width, height), vp.rect())
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
        return None if self._stack.currentWidget() is self._view else self._message.text()

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
        if ep.surgery_date is not None:
            parts.append(f"surgery {format_date(ep.surgery_date)}")
        parts.append(f"episode from {format_date(ep.start_date)}")
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
        parts = [f"<span style='color:{BLACK}'>\u25ef</span> baseline (first value)"]
        if any(p.mcid_item is not None for p in panels):
            parts.append(f"<span style='color:{mcid.name()}'>\u2588</span> MCID band: change "
                         "needed to be clinically important")
        for kind, colour, text in (("goal", "#7FC8B0", "goal"),
                                   ("cutoff", VERMILLION, "cut-off (warning sign)"),
                                   ("normative", GREY, "normal range")):
            if kind in kinds:
                parts.append(f"<span style='color:{colour}'>\u2588</span> {text}")
        if any(p.surgery_line is not None for p in panels):
            parts.append(f"<span style='color:{BLACK}'>\u2506</span> surgery")
        return f"<span style='color:{GREY}'>{' &nbsp;&nbsp; '.join(parts)}</span>"

    def _rebuild(self) -> None:
        layout = self._view.ci
        layout.clear()
        self._panels = {}
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
        cols = 1 if len(shown) == 1 else 2 if len(shown) <= 4 else 3
        header = layout.addLabel(self._header_html(), row=0, col=0, colspan=cols, size="11pt")
        relax_min_width(header)
        surgery = surgery_x(self._chart)
        if surgery is not None and self._mode == "weeks":
            surgery = 0.0
        first: MeasurePanel | None = None
        for i, mid in enumerate(shown):
            panel = MeasurePanel(measure_for(mid), build_series(self._chart, mid), self._mode,
                                 surgery, compact=cols > 2)
            layout.addItem(panel.plot, row=1 + i // cols, col=i % cols)
            # Same preferred width for every plot, so a long title cannot widen its column.
            panel.plot.setPreferredWidth(300)
            panel.plot.setMinimumWidth(120)
            if first is None:
                first = panel
            else:
                panel.plot.setXLink(first.plot)
            self._panels[mid] = panel
        for col in range(cols):  # equal columns, whatever the titles' lengths
            layout.layout.setColumnStretchFactor(col, 1)
            layout.layout.setColumnPreferredWidth(col, 10)
        key = layout.addLabel(self._key_html(), row=2 + (len(shown) - 1) // cols, col=0,
                              colspan=cols, size="8pt")
        relax_min_width(key)
        self._fit_x()
        self._stack.setCurrentWidget(self._view)
        self._export_btn.setEnabled(True)
        self._readout.setText(READOUT_HINT)
        self.measures_changed.emit(list(self._selected))

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
