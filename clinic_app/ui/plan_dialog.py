"""Plan of care of an episode (objectName ``planOfCareDialog``): the retro-walking
prescription, the goals with their status, the suggested next dose and adherence."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.changes import RecordChange
from clinic_app.domain.errors import ConflictError, EnteredInErrorError, ValidationError
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.permissions import Action, can
from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Dose,
    Goal,
    GoalDraft,
    PlanOfCare,
    Prescription,
    PrescriptionDraft,
    describe_goal,
)
from clinic_app.domain.progress import format_date
from clinic_app.domain.records import Assistance, Episode, Surface, WalkMode
from clinic_app.ui import desktop, messages, ops
from clinic_app.ui.accessibility import link_form_labels
from clinic_app.ui.context import UiContext
from clinic_app.ui.date_input import DateInput
from clinic_app.ui.forms import (
    FormDialog,
    ThreeWay,
    compare_drafts,
    fmt_number,
    merge_drafts,
    parse_int,
    parse_number,
)
from clinic_app.ui.plan_conflicts import (
    GOAL_LABELS,
    RX_LABELS,
    RxFields,
    rx_fields,
    show_goal_value,
    show_rx_value,
)

if TYPE_CHECKING:
    from clinic_app.services.reporting import ReportOutcome

FUNCTIONAL = ""  # the measure combo's entry for a goal in words
TITLES = {"handout": "Home programme handout", "discharge": "Discharge summary"}


def save_document(parent: QWidget | None, ctx: UiContext, mrn: str, episode_id: UUID,
                  kind: Literal["handout", "discharge"]) -> None:
    """Ask where to save the handout or discharge summary of the episode, write it in the
    background (an audited export) and say where it is."""
    from clinic_app.services.plan_documents import document_filename

    title = TITLES[kind]
    name = document_filename(mrn, kind, date.today())
    chosen, _ = QFileDialog.getSaveFileName(parent, f"Save {title.lower()}",
                                            str(desktop.documents_dir() / name),
                                            "PDF files (*.pdf)")
    if not chosen:
        return
    out = Path(chosen)
    if out.suffix.lower() != ".pdf":
        out = out.with_name(out.name + ".pdf")
    clinic = ctx.clinic
    write = clinic.handout if kind == "handout" else clinic.discharge_summary

    def done(outcome: ReportOutcome) -> None:
        messages.inform(parent, title, f"{title} written ({outcome.pages} page(s)):\n"
                                       f"{outcome.path}")

    ops.run_op(parent, lambda: write(mrn, out, episode_id=episode_id), done, title=title)


GOAL_IN_ERROR_COLOUR = "#757575"


class PlanOfCareDialog(FormDialog):
    """Edit the prescription (Save) and the goals of one episode.

    Goals: *Add goal* stores the goal typed below the list. A goal selected in the list is
    edited with *Edit goal* (or Enter: its values move into the fields, *Save goal* stores
    a new version), marked *Entered in error* with a reason (or Delete: it then stays in
    the list struck through, and can no longer be changed), and a goal in words is ticked
    *achieved* with the date it was achieved. A save against a version changed meanwhile on
    another workstation opens the three-way review, for the prescription and for a goal.
    """

    def __init__(self, parent: QWidget | None, ctx: UiContext, episode: Episode,
                 plan: PlanOfCare, mrn: str = "") -> None:
        super().__init__(parent, "planOfCareDialog", "Plan of care")
        self._ctx = ctx
        self._episode = episode
        self._plan = plan
        self._version = plan.prescription.stamp.version if plan.prescription else 0
        # The prescription as this form opened it: the base of a three-way review.
        self._rx_base: PrescriptionDraft | None = (plan.prescription.draft
                                                   if plan.prescription else None)
        self._mrn = mrn
        self._editing: Goal | None = None  # the goal whose values are in the goal fields
        self._rows: list[Goal] = []  # the goal of each table row
        self._may_write = can(ctx.principal, Action.WRITE_CLINICAL)

        # prescription
        self.duration = self._line("Duration", "rxDurationEdit")
        self.speed = self._line("Speed", "rxSpeedEdit")
        self.incline = self._line("Incline", "rxInclineEdit")
        self.per_week = self._line("Sessions per week", "rxPerWeekEdit")
        self.mode = QComboBox(objectName="rxModeCombo")
        for m in WalkMode:
            self.mode.addItem(m.value.capitalize(), m.value)
        self.surface = QComboBox(objectName="rxSurfaceCombo")
        for s in Surface:
            self.surface.addItem(s.value.replace("_", " ").capitalize(), s.value)
        self.assistance = QComboBox(objectName="rxAssistanceCombo")
        for a in Assistance:
            self.assistance.addItem(a.value.capitalize(), a.value)
        self.spotter = QCheckBox("Spotter beside the patient", objectName="rxSpotterCheck")
        self.dual_task = self._line("Dual task", "rxDualTaskEdit")
        self.dual_task.setPlaceholderText("optional, e.g. count backwards from 100 in 3s")
        for w in (self.mode, self.surface, self.assistance, self.spotter):
            self.track(w)
        rx = QFormLayout()
        rx.addRow("Duration (min):", self.duration)
        rx.addRow("Speed (km/h):", self.speed)
        rx.addRow("Incline (%):", self.incline)
        rx.addRow("Mode:", self.mode)
        rx.addRow("Surface:", self.surface)
        rx.addRow("Assistance:", self.assistance)
        rx.addRow("Spotter:", self.spotter)
        rx.addRow("Dual task:", self.dual_task)
        rx.addRow("Sessions per week:", self.per_week)
        link_form_labels(rx)
        rx_box = QGroupBox("Retro-walking prescription", objectName="prescriptionBox")
        rx_box.setLayout(rx)

        # status
        self.status = QLabel(objectName="planStatusLabel")
        self.status.setWordWrap(True)

        # goals
        self.goals_table = QTableWidget(0, 3, objectName="goalsTable")
        self.goals_table.setHorizontalHeaderLabels(["Goal", "Status", "Reason"])
        self.goals_table.setAccessibleName("Goals")
        self.goals_table.verticalHeader().hide()
        # Rows follow their wrapped text as the stretched columns change width (a height
        # fixed when the table was filled would cut a reason off at "…").
        self.goals_table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.goals_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.goals_table.setWordWrap(True)
        head = self.goals_table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.goals_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.goals_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.goals_table.setToolTip("Enter edits the selected goal; Delete marks it entered "
                                    "in error")
        self.goals_table.itemSelectionChanged.connect(self._update_goal_buttons)
        self.goals_table.itemDoubleClicked.connect(lambda _item: self.edit_goal())
        self.goals_table.installEventFilter(self)
        self.edit_goal_button = QPushButton("&Edit goal", objectName="editGoalButton")
        self.edit_goal_button.setToolTip("Put the selected goal's values into the fields "
                                         "below to change them (Enter in the list)")
        self.edit_goal_button.clicked.connect(self.edit_goal)
        self.goal_error_button = QPushButton("Entered in e&rror…",
                                             objectName="goalInErrorButton")
        self.goal_error_button.setToolTip("Mark the selected goal entered in error, with a "
                                          "reason; it stays listed, struck through (Delete "
                                          "in the list)")
        self.goal_error_button.clicked.connect(self.mark_goal_in_error)
        self.achieved_button = QPushButton("Mark achie&ved…", objectName="goalAchievedButton")
        self.achieved_button.setToolTip("Tick the selected goal in words as achieved, with "
                                        "the date")
        self.achieved_button.clicked.connect(self.toggle_achieved)
        goal_actions = QHBoxLayout()
        for b in (self.edit_goal_button, self.goal_error_button, self.achieved_button):
            b.setAutoDefault(False)
            goal_actions.addWidget(b)
        goal_actions.addStretch(1)
        self.goal_measure = QComboBox(objectName="goalMeasureCombo")
        self.goal_measure.addItem("Functional goal (in words)", FUNCTIONAL)
        for m in MEASURES.values():
            self.goal_measure.addItem(f"{m.name}" + (f" ({m.unit})" if m.unit else ""), m.id)
        self.goal_target = QLineEdit(objectName="goalTargetEdit")
        self.goal_date = DateInput("Target date", "goalDateEdit")
        self.goal_text = QLineEdit(objectName="goalTextEdit")
        self.goal_text.setPlaceholderText("e.g. climb the stairs at home without the rail")
        self.register("Target", self.goal_target, tracked=False)
        self.register("Target date", self.goal_date, tracked=False)
        self.register("Goal", self.goal_text, tracked=False)
        self.add_goal_button = QPushButton("&Add goal", objectName="addGoalButton")
        self.add_goal_button.setAutoDefault(False)
        self.add_goal_button.clicked.connect(self.add_goal)
        self.cancel_edit_button = QPushButton("Stop editin&g", objectName="cancelGoalEditButton")
        self.cancel_edit_button.setAutoDefault(False)
        self.cancel_edit_button.setToolTip("Leave the goal as stored and empty the fields")
        self.cancel_edit_button.clicked.connect(self.stop_editing)
        self.cancel_edit_button.hide()
        self.goal_form_title = QLabel("<b>New goal:</b>", objectName="goalFormTitle")
        self.goal_form_title.setTextFormat(Qt.TextFormat.RichText)
        self.goal_form_title.setWordWrap(True)
        # Enter in a goal field stores the goal; the dialog's default button would save
        # the prescription and close, leaving the typed goal behind.
        for w in (self.goal_target, self.goal_date, self.goal_text):
            w.installEventFilter(self)
        gf = QFormLayout()
        gf.addRow("Measure:", self.goal_measure)
        gf.addRow("Target value:", self.goal_target)
        gf.addRow("Target date:", self.goal_date)
        gf.addRow("Goal in words:", self.goal_text)
        link_form_labels(gf)
        add_row = QHBoxLayout()
        add_row.addStretch(1)
        add_row.addWidget(self.cancel_edit_button)
        add_row.addWidget(self.add_goal_button)
        goals = QVBoxLayout()
        goals.addWidget(self.goals_table, 1)
        goals.addLayout(goal_actions)
        goals.addWidget(self.goal_form_title)
        goals.addLayout(gf)
        goals.addLayout(add_row)
        goals_box = QGroupBox("Goals", objectName="goalsBox")
        goals_box.setLayout(goals)

        self.handout_button = QPushButton("Home programme PDF…", objectName="handoutButton")
        self.handout_button.setAutoDefault(False)
        self.handout_button.setToolTip("The patient's handout of the saved prescription: dose, "
                                       "safety, when to stop, a log to fill in")
        self.handout_button.setEnabled(plan.prescription is not None and bool(mrn))
        self.handout_button.clicked.connect(self.save_handout)
        left = QVBoxLayout()
        left.addWidget(rx_box)
        left.addWidget(self.handout_button)
        left.addWidget(self.status)
        left.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(left, 2)
        body.addWidget(goals_box, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.save_button.setToolTip("Save the prescription (Enter or Ctrl+Enter)")
        order = [self.duration, self.speed, self.incline, self.mode, self.surface,
                 self.assistance, self.spotter, self.dual_task, self.per_week,
                 self.handout_button, self.goals_table, self.edit_goal_button,
                 self.goal_error_button, self.achieved_button, self.goal_measure,
                 self.goal_target, self.goal_date, self.goal_text, self.cancel_edit_button,
                 self.add_goal_button, self.save_button]
        for a, b in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(a, b)
        self._load(plan)
        self.mark_clean()
        self.follow_changes(ctx.signals.records_changed, "prescription")
        ctx.signals.records_changed.connect(self._goals_changed)
        self.resize(1100, 640)
        self._update_goal_buttons()
        self.duration.setFocus()

    def _line(self, label: str, name: str) -> QLineEdit:
        edit = QLineEdit(objectName=name)
        self.register(label, edit)
        return edit

    def _set(self, combo: QComboBox, value: str) -> None:
        idx = combo.findData(value)
        if idx >= 0:
            combo.setCurrentIndex(idx)

    def _load(self, plan: PlanOfCare) -> None:
        self._plan = plan
        if plan.prescription is not None:
            self._fill_prescription(rx_fields(plan.prescription.draft))
        else:
            self.spotter.setChecked(True)
            self._set(self.assistance, Assistance.SUPERVISED.value)
            self.incline.setText("0")
            self.per_week.setText("3")
        self._show_status(plan)
        self._show_goals(plan)

    def _fill_prescription(self, f: RxFields) -> None:
        self.duration.setText(fmt_number(f.duration_min, 1))
        self.speed.setText(fmt_number(f.speed_kmh, 2))
        self.incline.setText(fmt_number(f.incline_pct, 1))
        self._set(self.mode, f.mode)
        self._set(self.surface, f.surface)
        self._set(self.assistance, f.assistance)
        self.spotter.setChecked(f.spotter)
        self.dual_task.setText(f.dual_task)
        self.per_week.setText(str(f.sessions_per_week))

    def _show_status(self, plan: PlanOfCare) -> None:
        lines = []
        if plan.suggestion is not None:
            lines.append(f"Next session: {plan.suggestion.dose.describe()}. "
                         f"{plan.suggestion.reason}")
        if plan.adherence is not None:
            lines.append(f"Adherence: {plan.adherence.describe()}.")
        lines.append(f"Sessions: {plan.sessions} in the clinic, {plan.home_sessions} at home; "
                     f"{plan.spotter_sessions} with a spotter; {plan.adverse_events} adverse "
                     "event(s).")
        self.status.setText("\n".join(lines))

    def _show_goals(self, plan: PlanOfCare) -> None:
        """The goals with their status, then those entered in error (struck through, grey,
        with the reason), keeping the selected goal selected."""
        t = self.goals_table
        selected = self.selected_goal()
        t.setRowCount(0)
        self._rows = []
        rows = [(v.goal, (describe_goal(v.goal.draft), v.assessment.status.label,
                          v.assessment.reason)) for v in plan.goals]
        rows += [(g, (describe_goal(g.draft), "Entered in error",
                      g.stamp.error_reason or "")) for g in plan.goals_in_error]
        for goal, texts in rows:
            row = t.rowCount()
            t.insertRow(row)
            self._rows.append(goal)
            for col, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if goal.stamp.entered_in_error:
                    font = item.font()
                    font.setStrikeOut(col == 0)
                    item.setFont(font)
                    item.setForeground(QBrush(QColor(GOAL_IN_ERROR_COLOUR)))
                    item.setToolTip(f"Entered in error by {goal.stamp.updated_by}: "
                                    f"{goal.stamp.error_reason or ''}")
                t.setItem(row, col, item)
            if selected is not None and goal.id == selected.id:
                t.selectRow(row)
        t.resizeRowsToContents()
        self._update_goal_buttons()

    def _goals_changed(self, changes: list[RecordChange]) -> None:
        """A goal of this patient changed on another workstation: the list is read again
        (the goal fields keep what is typed; saving an edit goes through the review)."""
        if any(c.kind == "goal" and c.concerns_patient(self._episode.patient_id)
               for c in changes):
            self.reload_plan()

    def selected_goal(self) -> Goal | None:
        """The goal of the selected row, if any."""
        rows = {i.row() for i in self.goals_table.selectedIndexes()}
        if len(rows) != 1:
            return None
        row = rows.pop()
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def _update_goal_buttons(self) -> None:
        g = self.selected_goal()
        live = g is not None and not g.stamp.entered_in_error and self._may_write
        self.edit_goal_button.setEnabled(live)
        self.goal_error_button.setEnabled(live)
        words = live and g is not None and not g.draft.measured
        self.achieved_button.setEnabled(words)
        achieved = words and g is not None and g.draft.achieved
        self.achieved_button.setText("Not achie&ved…" if achieved else "Mark achie&ved…")
        self.add_goal_button.setEnabled(self._may_write)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        # Enter in the goals list edits the goal and Delete marks it in error; without this
        # Enter would press the dialog's default button and save the prescription.
        if watched in (self.goal_target, self.goal_date, self.goal_text) \
                and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
                    event.modifiers() & Qt.KeyboardModifier.ControlModifier):
                self.add_goal()
                return True
        if watched is self.goals_table and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers() & (
                    Qt.KeyboardModifier.ControlModifier):
                if self.edit_goal_button.isEnabled():
                    self.edit_goal()
                return True
            if key == Qt.Key.Key_Delete:
                if self.goal_error_button.isEnabled():
                    self.mark_goal_in_error()
                return True
        return super().eventFilter(watched, event)

    # --- reading -------------------------------------------------------------------------
    def prescription_draft(self) -> PrescriptionDraft:
        """The prescription as typed; ValidationError names the field and its range."""
        duration = parse_number(self.duration.text(), "Duration", "1 to 120 min")
        if duration is None:
            raise ValidationError("Duration", "missing", "1 to 120 min")
        kmh = parse_number(self.speed.text(), "Speed", "0.1 to 10.8 km/h")
        incline = parse_number(self.incline.text(), "Incline", "0 to 15 %")
        per_week = parse_int(self.per_week.text(), "Sessions per week", "1 to 14, whole numbers")
        if per_week is None:
            raise ValidationError("Sessions per week", "missing", "1 to 14, whole numbers")
        dose = Dose(duration, None if kmh is None else kmh / KMH_PER_MS, incline or 0.0,
                    WalkMode(self.mode.currentData()), Surface(self.surface.currentData()),
                    Assistance(self.assistance.currentData()), self.spotter.isChecked(),
                    self.dual_task.text().strip())
        return PrescriptionDraft(dose, int(per_week),
                                 self._plan.prescription.draft.notes
                                 if self._plan.prescription else "")

    def goal_draft(self) -> GoalDraft:
        """The goal as typed (an edited goal keeps its side and achievement)."""
        measure = self.goal_measure.currentData() or None
        text = self.goal_text.text().strip()
        kept = self._editing.draft if self._editing is not None else GoalDraft()
        if measure is None:
            return GoalDraft(text=text, achieved=kept.achieved, achieved_on=kept.achieved_on)
        m = MEASURES[measure]
        target = parse_number(self.goal_target.text(), "Target", m.allowed)
        when: date | None = self.goal_date.value()
        return GoalDraft(measure, target, when, text,
                         kept.side if kept.measure_id == measure else None)

    def _fill_goal(self, d: GoalDraft) -> None:
        self._set(self.goal_measure, d.measure_id or FUNCTIONAL)
        self.goal_target.setText(fmt_number(d.target_value, 2))
        self.goal_date.set_value(d.target_date)
        self.goal_text.setText(d.text)

    # --- saving --------------------------------------------------------------------------
    def goal_pending(self) -> bool:
        """A goal is being edited or typed and not stored yet."""
        return self._editing is not None or any(
            w.text().strip() for w in (self.goal_target, self.goal_date, self.goal_text))

    def save(self) -> None:
        if self.saving:
            return
        self.clear_errors()
        if self.goal_pending():
            # Save stores the prescription and closes: never with a typed goal left behind.
            self.show_notice("The goal below is not stored yet: press "
                             f"{self.add_goal_button.text().replace('&', '')} first"
                             + (" or Stop editing" if self._editing is not None else
                                ", or empty its fields") + ", then Save.")
            self.add_goal_button.setFocus()
            return
        try:
            draft = self.prescription_draft()
        except ValidationError as exc:
            self.show_error(exc)
            return
        plan, episode_id, version = self._ctx.clinic.plan, self._episode.id, self._version

        def task() -> Prescription:
            return plan.save_prescription(episode_id, draft, version)

        self.set_saving(True)
        ops.run_op(self, task, self._saved, self.handle_save_error, title=self.windowTitle())

    def _saved(self, saved: Prescription) -> None:
        self.set_saving(False)
        self._version = saved.stamp.version
        self._ctx.signals.episode_saved.emit(self._episode)
        self.accept()

    def add_goal(self) -> None:
        """Store the goal typed below the list: a new one, or a new version of the goal
        being edited."""
        self.clear_errors()
        try:
            draft = self.goal_draft()
        except ValidationError as exc:
            self.show_error(exc)
            return
        plan, episode_id, editing = self._ctx.clinic.plan, self._episode.id, self._editing

        def task() -> tuple[Goal, PlanOfCare]:
            if editing is None:
                goal = plan.add_goal(episode_id, draft)
            else:
                goal = plan.update_goal(editing.id, editing.stamp.version, draft)
            return goal, plan.plan(episode_id)

        def done(result: tuple[Goal, PlanOfCare]) -> None:
            self.add_goal_button.setEnabled(True)
            self._refresh(result[1])
            self.stop_editing()
            self._select_goal(result[0])
            self.goal_measure.setFocus()

        def failed(exc: BaseException) -> bool:
            self.add_goal_button.setEnabled(True)
            if isinstance(exc, ValidationError):
                self.show_error(exc)
                return True
            if isinstance(exc, ConflictError) and editing is not None:
                self._goal_conflict(exc, editing, draft)
                return True
            if isinstance(exc, EnteredInErrorError):
                messages.warn(self, "Entered in error", str(exc))
                self.stop_editing()
                self.reload_plan()
                return True
            return False

        self.add_goal_button.setEnabled(False)
        ops.run_op(self, task, done, failed,
                   title="Add goal" if editing is None else "Save goal")

    def _refresh(self, plan: PlanOfCare) -> None:
        """Show the goals and status of ``plan`` (the prescription fields stay as typed)."""
        self._plan = replace_prescription(plan, self._plan.prescription)
        self._show_goals(plan)
        self._show_status(plan)

    def reload_plan(self) -> None:
        """Read the plan again (after a change here or elsewhere) and show its goals."""
        plan, episode_id = self._ctx.clinic.plan, self._episode.id
        ops.run_op(self, lambda: plan.plan(episode_id), self._refresh, title="Plan of care")

    def _select_goal(self, goal: Goal) -> None:
        for row, g in enumerate(self._rows):
            if g.id == goal.id:
                self.goals_table.selectRow(row)
                return

    def edit_goal(self) -> None:
        """Put the selected goal's values into the goal fields; *Save goal* stores them."""
        g = self.selected_goal()
        if g is None or g.stamp.entered_in_error or not self._may_write:
            return
        self.clear_errors()
        self._editing = g
        self._fill_goal(g.draft)
        self.goal_form_title.setText(f"<b>Editing goal:</b> {html.escape(describe_goal(g.draft))}")
        self.add_goal_button.setText("Save &goal")
        self.add_goal_button.setToolTip("Store the changed goal as a new version")
        self.cancel_edit_button.setText("Stop editin&g")
        self.cancel_edit_button.show()
        self.goal_measure.setFocus()

    def stop_editing(self) -> None:
        """Leave goal editing: the fields are emptied for a new goal."""
        self._editing = None
        self.goal_form_title.setText("<b>New goal:</b>")
        self.add_goal_button.setText("&Add goal")
        self.add_goal_button.setToolTip("")
        self.cancel_edit_button.hide()
        self._set(self.goal_measure, FUNCTIONAL)
        for w in (self.goal_target, self.goal_date, self.goal_text):
            w.clear()

    def _goal_conflict(self, exc: ConflictError, editing: Goal, mine: GoalDraft) -> None:
        """The goal was saved elsewhere meanwhile: the three-way review, for the goal only
        (the prescription fields and their unsaved state are left alone)."""
        cur = exc.current
        compared = (compare_drafts(editing.draft, cur.draft, mine, GOAL_LABELS,
                                   show_goal_value) if isinstance(cur, Goal)
                    else ThreeWay([], [], []))
        reviewed: list[bool] = []

        def reload(c: Goal) -> None:
            self._editing = c
            self._fill_goal(c.draft)

        def review(c: Goal) -> None:
            self._editing = c
            self._fill_goal(merge_drafts(editing.draft, mine, c.draft))
            reviewed.append(True)

        clean = self._clean_state
        self.resolve_conflict(exc, compared, reload, review)
        self._clean_state = clean  # the goal's fields are not part of the prescription's
        if reviewed:
            self.show_notice("This goal was changed on another workstation. Your changes were "
                             "re-applied on top of the stored version: check the goal and "
                             "press Save goal again.")
        self.reload_plan()

    def mark_goal_in_error(self, reason: str = "", note: str = "") -> None:
        """Ask why the selected goal is in error and mark it; it stays listed, struck."""
        g = self.selected_goal()
        if g is None or g.stamp.entered_in_error or not self._may_write:
            return
        typed = messages.ask_reason(
            self, "Mark goal entered in error",
            (f"{note}\n\n" if note else "")
            + f"The goal “{describe_goal(g.draft)}” stays on record, struck through, with "
            "your reason; it leaves the goals assessed in the report. Why is it in error?",
            reason)
        if typed is None:
            return
        plan, episode_id = self._ctx.clinic.plan, self._episode.id

        def task() -> PlanOfCare:
            plan.mark_goal_in_error(g.id, g.stamp.version, typed)
            return plan.plan(episode_id)

        def done(result: PlanOfCare) -> None:
            if self._editing is not None and self._editing.id == g.id:
                self.stop_editing()
            self._refresh(result)

        def failed(exc: BaseException) -> bool:
            if isinstance(exc, EnteredInErrorError):
                messages.warn(self, "Already entered in error", str(exc))
                self.reload_plan()
                return True
            if isinstance(exc, ConflictError):
                self.reload_plan()
                messages.warn(self, "Changed on another workstation",
                              f"{exc}\nThe list now shows the stored goal; mark it again if "
                              f"it is still in error. Your reason was:\n\n{typed}")
                return True
            return False

        ops.run_op(self, task, done, failed, title="Mark goal entered in error")

    def toggle_achieved(self) -> None:
        """Tick the selected goal in words achieved (asking the date), or untick it."""
        g = self.selected_goal()
        if g is None or g.stamp.entered_in_error or g.draft.measured or not self._may_write:
            return
        if g.draft.achieved:
            when = format_date(g.draft.achieved_on) if g.draft.achieved_on else "earlier"
            if not messages.ask(self, "Goal not achieved",
                                f"“{g.draft.text}” was marked achieved on {when}. Mark it as "
                                "not achieved?", yes="Mark not achieved", no="Keep achieved"):
                return
            self._store_achieved(g, None)
            return
        dlg = GoalAchievedDialog(self, self._ctx, g)
        dlg.achieved.connect(self._refresh)
        dlg.open()

    def _store_achieved(self, g: Goal, on: date | None) -> None:
        plan, episode_id = self._ctx.clinic.plan, self._episode.id

        def task() -> PlanOfCare:
            plan.set_goal_achieved(g.id, g.stamp.version, on)
            return plan.plan(episode_id)

        def failed(exc: BaseException) -> bool:
            if isinstance(exc, ConflictError | EnteredInErrorError):
                self.reload_plan()
                messages.warn(self, "Changed on another workstation", str(exc))
                return True
            return False

        ops.run_op(self, task, self._refresh, failed, title="Goal achieved")

    def on_conflict(self, exc: ConflictError) -> None:
        """The prescription was saved meanwhile on another workstation: review both."""
        try:
            mine = rx_fields(self.prescription_draft())
        except ValidationError as err:
            self.show_error(err)
            return
        cur = exc.current
        base = rx_fields(self._rx_base) if self._rx_base is not None else None
        compared = (compare_drafts(base or rx_fields(cur.draft), rx_fields(cur.draft), mine,
                                   RX_LABELS, show_rx_value)
                    if isinstance(cur, Prescription) else ThreeWay([], [], []))

        def reload(c: Prescription) -> None:
            self._take_stored(c)
            self._fill_prescription(rx_fields(c.draft))

        def review(c: Prescription) -> None:
            self._take_stored(c)
            self._fill_prescription(merge_drafts(base or rx_fields(c.draft), mine,
                                                 rx_fields(c.draft)))

        self.resolve_conflict(exc, compared, reload, review)

    def _take_stored(self, c: Prescription) -> None:
        """Save against the stored prescription from now on (after a review)."""
        self._version, self._rx_base = c.stamp.version, c.draft
        self._plan = replace_prescription(self._plan, c)

    def save_handout(self) -> None:
        """The handout prints the saved prescription (unsaved edits are not on it)."""
        if self.is_dirty():
            messages.inform(self, "Home programme handout",
                            "Save the prescription first: the handout prints the saved one.")
            return
        save_document(self, self._ctx, self._mrn, self._episode.id, "handout")

    def record_id(self) -> object:
        return self._plan.prescription.id if self._plan.prescription else None


def replace_prescription(plan: PlanOfCare, rx: Prescription | None) -> PlanOfCare:
    """``plan`` holding ``rx`` as its prescription (what this form saves against)."""
    return replace(plan, prescription=rx)


class GoalAchievedDialog(FormDialog):
    """The date a goal in words was achieved (typed, today by default); Save stores it."""

    achieved = Signal(object)  # the plan after the change

    def __init__(self, parent: PlanOfCareDialog, ctx: UiContext, goal: Goal) -> None:
        super().__init__(parent, "goalAchievedDialog", "Goal achieved")
        self._ctx = ctx
        self._goal = goal
        self._episode_id = goal.episode_id
        intro = QLabel(f"“{goal.draft.text}”\nwas achieved on:")
        intro.setWordWrap(True)
        self.date = DateInput("Date achieved", "achievedDateEdit", required=True)
        self.date.set_value(date.today())
        self.register("Date achieved", self.date)
        self.register("Achieved", self.date, tracked=False)
        form = QFormLayout()
        form.addRow("&Date achieved:", self.date)
        link_form_labels(form)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.save_button.setToolTip("Mark the goal achieved on this date (Enter)")
        self.mark_clean()
        self.resize(420, self.sizeHint().height())
        self.date.setFocus()
        self.date.selectAll()

    def save(self) -> None:
        if self.saving:
            return
        self.clear_errors()
        try:
            on = self.date.value()
        except ValidationError as exc:
            self.show_error(exc)
            return
        if on is None:
            self.show_error(ValidationError("Date achieved", "missing", "a calendar date"))
            return
        plan, goal, episode_id = self._ctx.clinic.plan, self._goal, self._episode_id

        def task() -> PlanOfCare:
            plan.set_goal_achieved(goal.id, goal.stamp.version, on)
            return plan.plan(episode_id)

        def done(result: PlanOfCare) -> None:
            self.set_saving(False)
            self.achieved.emit(result)
            self.accept()

        self.set_saving(True)
        ops.run_op(self, task, done, self.handle_save_error, title=self.windowTitle())

    def on_conflict(self, exc: ConflictError) -> None:
        messages.warn(self, "Changed on another workstation",
                      f"{exc}\nClose this form; the plan shows the stored goal.")
