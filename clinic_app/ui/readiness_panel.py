"""Return-to-sport readiness of an ACL episode: every criterion of the chosen set with its
latest value, threshold, status and date, the overall verdict and the rehabilitation phase."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.progress import format_date
from clinic_app.domain.readiness import (
    CRITERIA_SETS,
    DEFAULT_CRITERIA_SET,
    ClinicalSettings,
    EpisodeReadiness,
    Status,
    Verdict,
    episode_readiness,
    is_acl_episode,
    next_phase_text,
    phase_line,
)
from clinic_app.domain.records import Side
from clinic_app.services.charting import EpisodeChart
from clinic_app.ui import ops
from clinic_app.ui.context import UiContext

STATUS_STYLE = {  # text colour and a word, so the state never depends on colour alone
    Status.PASS: ("#1b5e20", "✔ pass"),
    Status.NOT_YET: ("#b71c1c", "✘ not yet"),
    Status.NOT_MEASURED: ("#555555", "– not measured"),
    Status.REVIEW: ("#8a6d00", "? review"),
}
VERDICT_STYLE = {
    Verdict.READY: "#1b5e20",
    Verdict.NOT_YET: "#b71c1c",
    Verdict.INCOMPLETE: "#8a6d00",
}
COLUMNS = ("Criterion", "Latest", "Threshold", "Status", "Measured", "Detail")


class ReadinessPanel(QWidget):
    """Shown for ACL-reconstruction episodes; other episodes get a short explanation."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("readinessPanel")
        self._episode: EpisodeChart | None = None
        self._as_of = date.today()
        self.last: EpisodeReadiness | None = None
        self._load: Callable[[], None] | None = None  # reads the clinic's choices (attach)

        self.criteria_combo = QComboBox(objectName="criteriaSetCombo")
        for cs in CRITERIA_SETS.values():
            self.criteria_combo.addItem(cs.name, cs.id)
        self.criteria_combo.setToolTip("The clinic's default is chosen in Settings › Clinical")
        self.criteria_combo.currentIndexChanged.connect(lambda _i: self._update())
        self.verdict = QLabel(objectName="readinessVerdict")
        self.verdict.setStyleSheet("font-size: 12pt; font-weight: 600;")
        self.phase = QLabel(objectName="phaseLabel")
        self.phase.setWordWrap(True)
        self.phase.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS), objectName="readinessTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Return-to-sport criteria")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        for c in range(len(COLUMNS)):  # the long texts wrap in the two stretching columns
            stretch = COLUMNS[c] in ("Threshold", "Detail")
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch if stretch
                                        else QHeaderView.ResizeMode.ResizeToContents)
        self.note = QLabel(objectName="readinessNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")

        top = QHBoxLayout()
        label = QLabel("&Criteria set:")
        label.setBuddy(self.criteria_combo)
        top.addWidget(label)
        top.addWidget(self.criteria_combo)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.verdict)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.phase)
        layout.addWidget(self.note)

    def attach(self, ctx: UiContext,
               on_settings: Callable[[ClinicalSettings], None] | None = None,
               load_now: bool = True) -> None:
        """Start with the clinic's default criteria set (read off the GUI thread, now or at
        :meth:`load_settings`); ``on_settings`` gets the clinic's choices too, each time
        they are read."""
        def loaded(s: ClinicalSettings) -> None:
            self.choose_set(s.criteria_set)
            if on_settings is not None:
                on_settings(s)

        def load() -> None:
            ops.run_op(self, lambda: ctx.clinic.clinical_settings(), loaded,
                       title="Readiness")

        self._load = load
        if load_now:
            load()
        ctx.signals.settings_changed.connect(load)  # a new clinic default applies at once

    def load_settings(self) -> None:
        """Read the clinic's choices (after :meth:`attach` with ``load_now=False``)."""
        if self._load is not None:
            self._load()

    def choose_set(self, set_id: str) -> None:
        idx = self.criteria_combo.findData(set_id)
        self.criteria_combo.setCurrentIndex(max(idx, 0))

    def set_episode(self, episode: EpisodeChart | None, as_of: date | None = None) -> None:
        self._episode = episode
        self._as_of = as_of or date.today()
        self._update()

    def _update(self) -> None:
        ep = self._episode
        if ep is None or not is_acl_episode(ep.episode.draft.diagnosis):
            self.last = None
            self.table.setRowCount(0)
            self.verdict.setText("Readiness criteria apply to ACL-reconstruction episodes.")
            self.verdict.setStyleSheet("font-size: 11pt; color: #555;")
            self.phase.clear()
            self.note.clear()
            return
        d = ep.episode.draft
        set_id = self.criteria_combo.currentData() or DEFAULT_CRITERIA_SET
        view = episode_readiness(ep.tests, affected=Side(d.affected_side),
                                 surgery_date=d.surgery_date, as_of=self._as_of,
                                 criteria_set=set_id)
        self.last = view
        r = view.readiness
        self.verdict.setText(f"{r.verdict_text} — as of {format_date(r.as_of)}")
        self.verdict.setStyleSheet(
            f"font-size: 12pt; font-weight: 600; color: {VERDICT_STYLE[r.verdict]};")
        self.table.setRowCount(len(r.results))
        for row, res in enumerate(r.results):
            colour, word = STATUS_STYLE[res.status]
            cells = (res.criterion.label, res.value_text, res.threshold_text, word,
                     format_date(res.measured_on) if res.measured_on else "—", res.detail)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 3:
                    item.setForeground(QColor(colour))
                self.table.setItem(row, col, item)
        extra = "".join(f"<br>{escape(line)}" for line in view.pairs)
        if view.phase is None:
            self.phase.setText(f"Phase: no surgery date on this episode.{extra}")
        else:
            self.phase.setText(f"<b>{phase_line(view.phase)}</b><br>"
                               f"{view.phase.by_criteria.label}: {view.phase.by_criteria.goals}"
                               f"<br>{next_phase_text(view.phase)}{extra}")
        self.note.setText(f"Source: {r.criteria_set.source} Decided on the exact values; "
                          "decision support only — the treating clinician decides.")


def episode_phase_text(ep: EpisodeChart, as_of: date | None = None) -> list[str]:
    """The phase for an ACL episode's header (empty for other episodes or without surgery)."""
    d = ep.episode.draft
    if not is_acl_episode(d.diagnosis) or d.surgery_date is None:
        return []
    view = episode_readiness(ep.tests, affected=Side(d.affected_side),
                             surgery_date=d.surgery_date, as_of=as_of or date.today())
    return [] if view.phase is None else [phase_line(view.phase)]
