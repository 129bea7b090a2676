"""The patient record: header, episodes of care, session history and the progress tab."""

from __future__ import annotations

import importlib
import logging
from datetime import date
from uuid import UUID

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.changes import RecordChange
from clinic_app.domain.errors import ConflictError, EnteredInErrorError
from clinic_app.domain.permissions import Action, can
from clinic_app.domain.plan_of_care import PlanOfCare, plan_summary_text
from clinic_app.domain.records import Episode, Patient, Sex, WalkSession
from clinic_app.services.charting import EpisodeChart, PatientChart
from clinic_app.ui import messages, ops
from clinic_app.ui.accessibility import buddy
from clinic_app.ui.context import UiContext
from clinic_app.ui.episode_dialog import EpisodeDialog, episode_title, weeks_text
from clinic_app.ui.patient_dialog import SEX_LABELS, PatientDialog, age_on
from clinic_app.ui.progress_tab import ProgressTab
from clinic_app.ui.readiness_panel import ReadinessPanel, episode_phase_text
from clinic_app.ui.session_model import TESTS_COLUMN, SessionTableModel

log = logging.getLogger(__name__)


class _EnterEdits(QObject):
    """Enter/Return on the session table opens the selected session."""

    def __init__(self, view: RecordView) -> None:
        super().__init__(view)
        self._view = view

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self._view.edit_session()
            return True
        return False


class _LastColumnFill(QObject):
    """Lets a table's last column take the room left by the others, but never less than its
    header needs: on a narrow (or highly scaled) screen the table scrolls sideways instead of
    squeezing "Tests done" to an unreadable sliver, which a Stretch section would do."""

    def __init__(self, table: QTableView, column: int) -> None:
        super().__init__(table)
        self._table, self._column = table, column
        header = table.horizontalHeader()
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        header.sectionResized.connect(self._other_resized)
        table.viewport().installEventFilter(self)

    def _other_resized(self, index: int, _old: int, _new: int) -> None:
        if index != self._column:
            self.fit()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False

    def fit(self) -> None:
        """Give the column the free width, at least the width of its header text."""
        header = self._table.horizontalHeader()
        model = self._table.model()
        if model is None:
            return
        others = sum(header.sectionSize(c) for c in range(header.count())
                     if c != self._column and not header.isSectionHidden(c))
        margin = header.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
        text = str(model.headerData(self._column, Qt.Orientation.Horizontal) or "")
        need = max((header.fontMetrics().horizontalAdvance(t) for t in text.splitlines()),
                   default=0) + 2 * margin + 4
        room = self._table.viewport().width() - others
        width = max(room, need)
        if header.sectionSize(self._column) != width:
            header.resizeSection(self._column, width)


class RecordView(QWidget):
    """Right-hand side of the main window; shows one patient's chart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recordView")
        self.ctx: UiContext | None = None
        self.chart: PatientChart | None = None
        self._episode_id: UUID | None = None
        self._loading_id: UUID | None = None
        self._report_dialog_cls: type | None = None
        self._report_checked = False

        self._stack = QStackedWidget(self)
        self.empty = QLabel("Select a patient on the left, or register a new one.",
                            objectName="recordEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #666; font-size: 12pt;")
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self._build_record())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

    # --- construction ---------------------------------------------------------------
    def _build_record(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.name_label = QLabel(objectName="patientName")
        self.name_label.setStyleSheet("font-size: 15pt; font-weight: 600;")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_label = QLabel(objectName="patientDetails")
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.edit_patient_button = QPushButton("Edit patient…", objectName="editPatientButton")
        self.export_button = QPushButton("Export report…", objectName="exportReportButton")
        # Ctrl+P (where users look for "print") and Ctrl+Shift+E are the main window's
        # menu shortcuts, so they also show in the Record menu.
        self.edit_patient_button.setToolTip("Edit the patient's details (Ctrl+Shift+E)")
        self.edit_patient_button.clicked.connect(self.edit_patient)
        self.export_button.clicked.connect(self.export_report)
        head = QHBoxLayout()
        names = QVBoxLayout()
        names.addWidget(self.name_label)
        names.addWidget(self.details_label)
        head.addLayout(names, 1)
        head.addWidget(self.edit_patient_button, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(head)

        self.episode_combo = QComboBox(objectName="episodeCombo")
        self.episode_combo.setMinimumWidth(360)
        self.episode_combo.currentIndexChanged.connect(self._episode_changed)
        self.new_episode_button = QPushButton("New episode…", objectName="newEpisodeButton")
        self.edit_episode_button = QPushButton("Edit episode…", objectName="editEpisodeButton")
        self.plan_button = QPushButton("Plan of care…", objectName="planOfCareButton")
        self.plan_button.setToolTip("Goals, retro-walking prescription, suggested dose and "
                                    "adherence")
        self.new_episode_button.clicked.connect(self.new_episode)
        self.edit_episode_button.clicked.connect(self.edit_episode)
        self.plan_button.clicked.connect(self.open_plan)
        ep_row = QHBoxLayout()
        ep_row.addWidget(buddy(QLabel("Episode of care:"), self.episode_combo))
        ep_row.addWidget(self.episode_combo, 1)
        ep_row.addWidget(self.new_episode_button)
        ep_row.addWidget(self.edit_episode_button)
        ep_row.addWidget(self.plan_button)
        layout.addLayout(ep_row)
        self.episode_info = QLabel(objectName="episodeInfo")
        self.episode_info.setStyleSheet("color: #444;")
        # Surgery, weeks, referrer and both phases make a long line: wrapped, it must not
        # widen the record pane and squeeze the patient names in the list to "Lind…".
        self.episode_info.setWordWrap(True)
        layout.addWidget(self.episode_info)
        self.plan_summary = QLabel(objectName="planSummaryLabel")
        self.plan_summary.setStyleSheet("color: #444;")
        self.plan_summary.setWordWrap(True)
        self.plan_summary.hide()
        layout.addWidget(self.plan_summary)

        self.tabs = QTabWidget(objectName="recordTabs")
        self.tabs.addTab(self._build_sessions_tab(), "Sessions")
        self.progress = ProgressTab()
        self.progress.exported.connect(self._plot_exported)
        self.tabs.addTab(self.progress, "Progress")
        self.tabs.setTabToolTip(0, "The sessions of this episode (Ctrl+1)")
        self.tabs.setTabToolTip(1, "Progress plots of the tests and sessions (Ctrl+2)")
        self.readiness = ReadinessPanel()
        self.tabs.addTab(self.readiness, "Return to sport")
        layout.addWidget(self.tabs, 1)
        return page

    def _build_sessions_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        bar = QHBoxLayout()
        self.new_session_button = QPushButton("New session…", objectName="newSessionButton")
        self.new_session_button.setToolTip("Record a retro-walking session (Ctrl+Shift+N)")
        self.edit_session_button = QPushButton("Edit session…", objectName="editSessionButton")
        self.edit_session_button.setToolTip("Edit the selected session (Enter or double-click)")
        self.mark_error_button = QPushButton("Mark entered in error…",
                                             objectName="markErrorButton")
        self.mark_error_button.setToolTip(
            "Keep the session on record but flag it as wrong, with a reason (nothing is deleted)"
        )
        self.show_errors = QCheckBox("Show entries in error", objectName="showErrorsCheck")
        self.new_session_button.clicked.connect(self.new_session)
        self.edit_session_button.clicked.connect(self.edit_session)
        self.mark_error_button.clicked.connect(lambda: self.mark_session_in_error())
        for w in (self.new_session_button, self.edit_session_button, self.mark_error_button):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.show_errors)
        layout.addLayout(bar)

        self.sessions = SessionTableModel(self)
        self.session_table = QTableView(objectName="sessionTable")
        self.session_table.setAccessibleName("Sessions of this episode")
        self.session_table.setModel(self.sessions)
        self.session_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.session_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.session_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.session_table.setAlternatingRowColors(True)
        self.session_table.verticalHeader().hide()
        self.session_table.setWordWrap(False)
        header = self.session_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self._tests_fill = _LastColumnFill(self.session_table, TESTS_COLUMN)
        self.session_table.doubleClicked.connect(lambda _ix: self.edit_session())
        self.session_table.installEventFilter(_EnterEdits(self))
        self.session_table.selectionModel().selectionChanged.connect(self._update_actions)
        self.show_errors.toggled.connect(self._toggle_errors)
        layout.addWidget(self.session_table, 1)
        self.sessions_empty = QLabel(objectName="sessionsEmpty")
        self.sessions_empty.setStyleSheet("color: #666;")
        layout.addWidget(self.sessions_empty)
        return tab

    # --- wiring -----------------------------------------------------------------------
    def attach(self, ctx: UiContext, load_settings: bool = True) -> None:
        """Work with ``ctx``; the clinic's settings are read now, or at
        :meth:`load_settings` (the main window's start reads the list first)."""
        self.ctx = ctx
        ctx.signals.patient_saved.connect(self._on_patient_saved)
        ctx.signals.episode_saved.connect(self._on_episode_saved)
        ctx.signals.session_recorded.connect(self._on_session_recorded)
        ctx.signals.data_reset.connect(self.reload)
        ctx.signals.records_changed.connect(self._on_records_changed)
        self.readiness.attach(ctx, lambda s: self.progress.set_bwt_fall_flag(s.bwt_fall_flag),
                              load_now=load_settings)
        # The expected-recovery overlay is offered to those who may see cohorts.
        cohorts = can(ctx.principal, Action.COHORTS)
        self.progress.set_overlay_source(ctx.clinic.expected_recovery if cohorts else None)

    def load_settings(self) -> None:
        """Read the clinic's settings (the return-to-sport criteria set, the fall flag)."""
        self.readiness.load_settings()

    def _on_patient_saved(self, patient: Patient) -> None:
        if self.current_patient_id() == patient.id:
            self.reload()

    def _on_episode_saved(self, episode: Episode) -> None:
        if self.current_patient_id() == episode.patient_id:
            self._episode_id = episode.id
            self.reload()

    def _on_session_recorded(self, session: WalkSession) -> None:
        chart = self.chart
        if chart and any(ep.episode.id == session.episode_id for ep in chart.episodes):
            self.reload(select_session=session.id)

    def _on_records_changed(self, changes: list[RecordChange]) -> None:
        """Another workstation changed this patient's chart: show it as now stored, keeping
        the session selected. Open editors are not touched; they show their own notice."""
        pid = self.current_patient_id()
        if any(c.concerns_patient(pid) for c in changes):
            selected = self.selected_session()
            self.reload(select_session=selected.id if selected else None)

    # --- loading ----------------------------------------------------------------------
    def current_patient_id(self) -> UUID | None:
        return self.chart.patient.id if self.chart else self._loading_id

    def show_patient(self, patient_id: UUID | None) -> None:
        """Load and show ``patient_id``'s chart (``None``: empty state)."""
        if patient_id is None:
            self.chart = None
            self._loading_id = None
            self._stack.setCurrentWidget(self.empty)
            return
        if self.chart is None or self.chart.patient.id != patient_id:
            self._episode_id = None
        self._load(patient_id)

    def reload(self, select_session: UUID | None = None) -> None:
        pid = self.current_patient_id()
        if pid is not None:
            self._load(pid, select_session)

    def _load(self, patient_id: UUID, select_session: UUID | None = None) -> None:
        assert self.ctx is not None
        self._loading_id = patient_id
        svc = self.ctx.charting

        def shown(chart: PatientChart) -> None:
            if self._loading_id == patient_id:
                self._show_chart(chart, select_session)

        ops.run_op(self, lambda: svc.chart(patient_id, include_in_error=True), shown,
                   title="Patient record")

    def _show_chart(self, chart: PatientChart, select_session: UUID | None) -> None:
        self.chart = chart
        p = chart.patient
        d = p.draft
        self.name_label.setText(p.display_name)
        sex = SEX_LABELS.get(Sex(d.sex), str(d.sex))
        age = age_on(d.date_of_birth, date.today())
        parts = [f"MRN {d.mrn}", f"born {d.date_of_birth.isoformat()} (age {age})", sex]
        if d.phone:
            parts.append(d.phone)
        self.details_label.setText("  ·  ".join(parts))
        self._fill_episodes()
        self._stack.setCurrentIndex(1)
        if select_session is not None:
            row = self.sessions.row_of(select_session)
            if row is not None:
                self.session_table.selectRow(row)
        self._ensure_report_checked()

    def episodes(self) -> list[EpisodeChart]:
        """The patient's episodes of care (not entered in error), newest first."""
        if self.chart is None:
            return []
        return [ep for ep in self.chart.episodes if not ep.episode.stamp.entered_in_error]

    def _fill_episodes(self) -> None:
        eps = self.episodes()
        self.episode_combo.blockSignals(True)
        self.episode_combo.clear()
        for ep in eps:
            self.episode_combo.addItem(episode_title(ep.episode), str(ep.episode.id))
        if not eps:
            self.episode_combo.addItem("No episode of care yet — create one with “New episode…”")
        idx = 0
        if self._episode_id is not None:
            idx = max(0, self.episode_combo.findData(str(self._episode_id)))
        self.episode_combo.setCurrentIndex(idx)
        self.episode_combo.setEnabled(bool(eps))
        self.episode_combo.blockSignals(False)
        self._episode_changed()

    def current_episode(self) -> EpisodeChart | None:
        data = self.episode_combo.currentData()
        if data is None:
            return None
        return next((ep for ep in self.episodes() if str(ep.episode.id) == data), None)

    def _episode_changed(self) -> None:
        ep = self.current_episode()
        self._episode_id = ep.episode.id if ep else None
        if ep is None:
            self.episode_info.setText("")
            self.sessions.set_sessions([], [])
        else:
            d = ep.episode.draft
            info = [weeks_text(d.surgery_date, date.today())]
            if d.surgery_date:
                kind = f" ({d.surgery_type.label})" if d.surgery_type else ""
                info.insert(0, f"Surgery {d.surgery_date.isoformat()}{kind}")
            if d.referring_doctor:
                info.append(f"referred by {d.referring_doctor}")
            info += episode_phase_text(ep)
            self.episode_info.setText("  ·  ".join(info))
            self.sessions.set_sessions(ep.sessions, ep.tests)
            self.session_table.scrollToBottom()
        self.progress.set_chart(self.chart, self._episode_id)
        self.readiness.set_episode(ep)
        self._load_plan_summary()
        self._update_actions()

    def _load_plan_summary(self) -> None:
        """Adherence and goal status of the shown episode, read in the background."""
        ep, ctx = self.current_episode(), self.ctx
        if ep is None or ctx is None:
            self.plan_summary.hide()
            return
        episode_id = ep.episode.id

        def shown(plan: PlanOfCare) -> None:
            if self._episode_id != episode_id:
                return  # another episode was chosen meanwhile
            text = plan_summary_text(plan)
            self.sessions.set_home(s for s, row in plan.safety.items() if row.draft.home)
            self.progress.set_goals(episode_id, [v.goal.draft for v in plan.goals])
            self.plan_summary.setText(text)
            self.plan_summary.setVisible(bool(text))

        ops.run_op(self, lambda: ctx.clinic.plan.plan(episode_id), shown,
                   lambda _exc: True, title="Plan of care")

    def open_plan(self) -> None:
        ep, ctx = self.current_episode(), self.ctx
        if ep is None or ctx is None:
            return
        episode = ep.episode
        self.plan_button.setEnabled(False)

        def open_dialog(plan: PlanOfCare) -> None:
            from clinic_app.ui.plan_dialog import PlanOfCareDialog

            self._update_actions()
            mrn = self.chart.patient.draft.mrn if self.chart else ""
            self._open(PlanOfCareDialog(self.window(), ctx, episode, plan, mrn))

        def failed(_exc: BaseException) -> bool:
            self._update_actions()
            return False

        ops.run_op(self, lambda: ctx.clinic.plan.plan(episode.id), open_dialog, failed,
                   title="Plan of care")

    def _toggle_errors(self, show: bool) -> None:
        self.sessions.set_show_errors(show)
        self._update_actions()

    def _update_actions(self) -> None:
        ep = self.current_episode()
        selected = self.selected_session()
        # The services refuse what a role may not do; the buttons say so up front.
        clinical = self.ctx is not None and can(self.ctx.principal, Action.WRITE_CLINICAL)
        editable = clinical and selected is not None and not selected.stamp.entered_in_error
        self.new_episode_button.setEnabled(clinical and self.chart is not None)
        self.edit_episode_button.setEnabled(clinical and ep is not None)
        self.plan_button.setEnabled(ep is not None)
        self.new_session_button.setEnabled(clinical and ep is not None)
        self.new_session_button.setToolTip(
            "Your role may look at records but not change them" if not clinical else
            "Record a retro-walking session (Ctrl+Shift+N)" if ep else
            "Open an episode of care first"
        )
        self.edit_session_button.setEnabled(editable)
        self.mark_error_button.setEnabled(editable)
        writes_patients = self.ctx is not None and can(self.ctx.principal, Action.WRITE_PATIENT)
        self.edit_patient_button.setEnabled(writes_patients and self.chart is not None)
        count = self.sessions.rowCount()
        if ep is None:
            self.sessions_empty.setText("")
        elif count == 0:
            self.sessions_empty.setText("No sessions recorded in this episode yet.")
        else:
            hidden = sum(1 for s in ep.sessions if s.stamp.entered_in_error)
            extra = "" if self.show_errors.isChecked() or not hidden else \
                f" ({hidden} entered in error hidden)"
            self.sessions_empty.setText(f"{count} sessions{extra}")

    def selected_session(self) -> WalkSession | None:
        rows = self.session_table.selectionModel().selectedRows()
        return self.sessions.session_at(rows[0].row()) if rows else None

    # --- actions ----------------------------------------------------------------------
    def _open(self, dialog: QWidget) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # type: ignore[attr-defined]

    def edit_patient(self) -> None:
        if self.ctx and self.chart:
            self._open(PatientDialog(self.window(), self.ctx, self.chart.patient))

    def new_episode(self) -> None:
        if self.ctx and self.chart:
            self._open(EpisodeDialog(self.window(), self.ctx, self.chart.patient))

    def edit_episode(self) -> None:
        ep = self.current_episode()
        if self.ctx and self.chart and ep:
            self._open(EpisodeDialog(self.window(), self.ctx, self.chart.patient, ep.episode))

    def mark_episode_in_error(self, reason: str = "", note: str = "") -> None:
        """Ask why the shown episode of care is in error (e.g. opened on the wrong patient)
        and mark it: it stays on record with the reason, leaves the episode list, and
        nothing more can be added to it."""
        ep = self.current_episode()
        if self.ctx is None or ep is None:
            return
        episode = ep.episode
        typed = messages.ask_reason(
            self, "Mark episode entered in error",
            (f"{note}\n\n" if note else "")
            + f"The episode “{episode_title(episode)}” stays on record with your reason, with "
            "its sessions and tests; it leaves the list of episodes and nothing more can be "
            "added to it. Why is it in error?",
            reason,
        )
        if typed is None:
            return
        ctx = self.ctx
        ops.run_op(self, lambda: ctx.charting.mark_episode_in_error(
                       episode.id, episode.stamp.version, typed),
                   ctx.signals.episode_saved.emit,
                   lambda exc: self._episode_mark_failed(exc, typed),
                   title="Mark entered in error")

    def _episode_mark_failed(self, exc: BaseException, reason: str) -> bool:
        """Someone else changed or marked the episode first: say so, keep the reason."""
        if isinstance(exc, EnteredInErrorError):
            messages.warn(self, "Already entered in error", str(exc))
            self.reload()
            return True
        if not isinstance(exc, ConflictError):
            return False
        self.reload()
        messages.warn(self, "Changed on another workstation",
                      "The episode was changed on another workstation while you were marking "
                      "it, so it was not marked. The record now shows the stored version; "
                      f"mark it again if needed. Your reason was:\n\n{reason}")
        return True

    def new_session(self) -> None:
        ep = self.current_episode()
        if self.ctx is None or ep is None:
            return
        ctx, episode = self.ctx, ep.episode
        self.new_session_button.setEnabled(False)

        def open_editor(found: tuple[WalkSession | None, PlanOfCare]) -> None:
            from clinic_app.ui.session_editor import SessionEditor  # (kept off the start-up)

            self._update_actions()
            self._open(SessionEditor(self.window(), ctx, episode, previous=found[0],
                                     plan=found[1]))

        def failed(exc: BaseException) -> bool:
            self._update_actions()
            return False

        def load() -> tuple[WalkSession | None, PlanOfCare]:
            return ctx.charting.latest_session(episode.id), ctx.clinic.plan.plan(episode.id)

        ops.run_op(self, load, open_editor, failed, title="New session")

    def edit_session(self) -> None:
        ep, s = self.current_episode(), self.selected_session()
        if self.ctx is None or ep is None or s is None:
            return
        if s.stamp.entered_in_error:
            messages.inform(self, "Entered in error",
                            "This session is marked as entered in error and cannot be edited. "
                            "Record a new session instead.")
            return
        from clinic_app.ui.session_editor import SessionEditor

        self._open(SessionEditor(self.window(), self.ctx, ep.episode, session=s,
                                 session_tests=self.sessions.tests_for(s.id)))

    def mark_session_in_error(self, session: WalkSession | None = None, reason: str = "",
                              note: str = "") -> None:
        """Ask why the (selected) session is in error and mark it; ``reason`` starts the
        field, ``note`` explains why the question is asked again."""
        s = session or self.selected_session()
        if self.ctx is None or s is None or s.stamp.entered_in_error:
            return
        when = s.draft.performed_at.astimezone().strftime("%Y-%m-%d %H:%M")
        typed = messages.ask_reason(
            self, "Mark entered in error",
            (f"{note}\n\n" if note else "")
            + f"The session of {when} stays on record, struck through, with your reason. "
            "Why is it in error?",
            reason,
        )
        if typed is None:
            return
        ctx = self.ctx
        ops.run_op(self, lambda: ctx.charting.mark_session_in_error(s.id, s.stamp.version, typed),
                   ctx.signals.session_recorded.emit,
                   lambda exc: self._mark_failed(exc, typed),
                   title="Mark entered in error")

    def _mark_failed(self, exc: BaseException, reason: str) -> bool:
        """Someone else got there first: say who and when, and keep the typed reason."""
        if isinstance(exc, EnteredInErrorError):
            messages.warn(self, "Already entered in error", str(exc))
            self.reload()
            return True
        if not isinstance(exc, ConflictError):
            return False
        self.reload()
        cur = exc.current
        if isinstance(cur, WalkSession):
            stamp = cur.stamp
            at = stamp.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            self.mark_session_in_error(cur, reason, (
                f"This session was changed by {stamp.updated_by} on {at} while you were "
                "marking it; the list now shows the stored version. Your reason is kept: "
                "confirm to mark the stored version entered in error."))
        else:
            messages.warn(self, "Changed on another workstation",
                          "The session was changed on another workstation while you were "
                          "marking it, so it was not marked. The list now shows the stored "
                          f"version; mark it again if needed. Your reason was:\n\n{reason}")
        return True

    def _plot_exported(self, path: object) -> None:
        if self.ctx is None or self.chart is None:
            return
        ctx, patient_id = self.ctx, self.chart.patient.id
        ops.run_op(self, lambda: ctx.charting.record_export(patient_id, f"progress plot {path}"),
                   title="Export plot")

    # --- report -----------------------------------------------------------------------
    def _ensure_report_checked(self) -> None:
        """Import the report dialog once; disable the button with a reason if it fails."""
        if self._report_checked:
            return
        self._report_checked = True
        try:
            module = importlib.import_module("clinic_app.ui.report_dialog")
            self._report_dialog_cls = module.ReportDialog
        except ModuleNotFoundError as exc:
            if exc.name != "clinic_app.ui.report_dialog":
                log.warning("Report export unavailable", exc_info=True)
            self._report_dialog_cls = None
        except Exception:
            log.warning("Report export unavailable", exc_info=True)
            self._report_dialog_cls = None
        self._update_report_button()

    def _update_report_button(self) -> None:
        available = self._report_dialog_cls is not None
        self.export_button.setEnabled(available)
        self.export_button.setToolTip(
            "Export a PDF progress report for this patient (Ctrl+P)" if available else
            "PDF report export is not available in this installation"
        )

    def export_report(self) -> None:
        cls = self._report_dialog_cls
        if cls is None or self.ctx is None or self.chart is None:
            return
        dialog = cls(self.window(), self.ctx.clinic, self.chart.patient.id)
        self._open(dialog)
