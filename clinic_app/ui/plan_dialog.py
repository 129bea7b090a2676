"""Plan of care of an episode (objectName ``planOfCareDialog``): the retro-walking
prescription, the goals with their status, the suggested next dose and adherence."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from uuid import UUID

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

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import MEASURES
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
from clinic_app.domain.records import Assistance, Episode, Surface, WalkMode
from clinic_app.ui import desktop, messages, ops
from clinic_app.ui.accessibility import link_form_labels
from clinic_app.ui.context import UiContext
from clinic_app.ui.date_input import DateInput
from clinic_app.ui.forms import FormDialog, fmt_number, parse_int, parse_number

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


class PlanOfCareDialog(FormDialog):
    """Edit the prescription (Save) and add goals (Add goal) of one episode."""

    def __init__(self, parent: QWidget | None, ctx: UiContext, episode: Episode,
                 plan: PlanOfCare, mrn: str = "") -> None:
        super().__init__(parent, "planOfCareDialog", "Plan of care")
        self._ctx = ctx
        self._episode = episode
        self._plan = plan
        self._version = plan.prescription.stamp.version if plan.prescription else 0
        self._mrn = mrn

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
        self.add_goal_button = QPushButton("Add goal", objectName="addGoalButton")
        self.add_goal_button.setAutoDefault(False)
        self.add_goal_button.clicked.connect(self.add_goal)
        gf = QFormLayout()
        gf.addRow("Measure:", self.goal_measure)
        gf.addRow("Target value:", self.goal_target)
        gf.addRow("Target date:", self.goal_date)
        gf.addRow("Goal in words:", self.goal_text)
        link_form_labels(gf)
        add_row = QHBoxLayout()
        add_row.addStretch(1)
        add_row.addWidget(self.add_goal_button)
        goals = QVBoxLayout()
        goals.addWidget(self.goals_table, 1)
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
                 self.handout_button, self.goals_table, self.goal_measure, self.goal_target,
                 self.goal_date, self.goal_text, self.add_goal_button, self.save_button]
        for a, b in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(a, b)
        self._load(plan)
        self.mark_clean()
        self.follow_changes(ctx.signals.records_changed, "prescription")
        self.resize(1100, 620)
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
            p = plan.prescription.draft
            d = p.dose
            self.duration.setText(fmt_number(d.duration_min, 1))
            self.speed.setText(fmt_number(None if d.speed_m_s is None
                                          else d.speed_m_s * KMH_PER_MS, 2))
            self.incline.setText(fmt_number(d.incline_pct, 1))
            self._set(self.mode, d.mode.value)
            self._set(self.surface, d.surface.value)
            self._set(self.assistance, d.assistance.value)
            self.spotter.setChecked(d.spotter)
            self.dual_task.setText(d.dual_task)
            self.per_week.setText(str(p.sessions_per_week))
        else:
            self.spotter.setChecked(True)
            self._set(self.assistance, Assistance.SUPERVISED.value)
            self.incline.setText("0")
            self.per_week.setText("3")
        self._show_status(plan)
        self._show_goals(plan)

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
        t = self.goals_table
        t.setRowCount(0)
        for v in plan.goals:
            row = t.rowCount()
            t.insertRow(row)
            for col, text in enumerate((describe_goal(v.goal.draft), v.assessment.status.label,
                                        v.assessment.reason)):
                t.setItem(row, col, QTableWidgetItem(text))
        t.resizeRowsToContents()

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
        measure = self.goal_measure.currentData() or None
        text = self.goal_text.text().strip()
        if measure is None:
            return GoalDraft(text=text)
        m = MEASURES[measure]
        target = parse_number(self.goal_target.text(), "Target", m.allowed)
        when: date | None = self.goal_date.value()
        return GoalDraft(measure, target, when, text)

    # --- saving --------------------------------------------------------------------------
    def save(self) -> None:
        if self.saving:
            return
        self.clear_errors()
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
        self.clear_errors()
        try:
            draft = self.goal_draft()
        except ValidationError as exc:
            self.show_error(exc)
            return
        plan, episode_id = self._ctx.clinic.plan, self._episode.id

        def task() -> tuple[Goal, PlanOfCare]:
            goal = plan.add_goal(episode_id, draft)
            return goal, plan.plan(episode_id)

        def done(result: tuple[Goal, PlanOfCare]) -> None:
            self.add_goal_button.setEnabled(True)
            self._show_goals(result[1])
            self._show_status(result[1])
            for w in (self.goal_target, self.goal_date, self.goal_text):
                w.clear()
            self.goal_measure.setFocus()

        def failed(exc: BaseException) -> bool:
            self.add_goal_button.setEnabled(True)
            if isinstance(exc, ValidationError):
                self.show_error(exc)
                return True
            return False

        self.add_goal_button.setEnabled(False)
        ops.run_op(self, task, done, failed, title="Add goal")

    def save_handout(self) -> None:
        """The handout prints the saved prescription (unsaved edits are not on it)."""
        if self.is_dirty():
            messages.inform(self, "Home programme handout",
                            "Save the prescription first: the handout prints the saved one.")
            return
        save_document(self, self._ctx, self._mrn, self._episode.id, "handout")

    def record_id(self) -> object:
        return self._plan.prescription.id if self._plan.prescription else None
