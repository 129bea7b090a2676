"""New / edit episode of care dialog (objectName ``episodeDialog``)."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ConflictError
from clinic_app.domain.progress import weeks_since
from clinic_app.domain.records import (
    DIAGNOSIS_LABELS,
    Diagnosis,
    Episode,
    EpisodeDraft,
    Patient,
    Side,
)
from clinic_app.ui import ops
from clinic_app.ui.context import UiContext
from clinic_app.ui.forms import FormDialog, merge_drafts
from clinic_app.ui.patient_dialog import DATE_FORMAT, from_qdate, to_qdate

SIDE_LABELS = {Side.LEFT: "Left", Side.RIGHT: "Right", Side.BILATERAL: "Both knees"}


def weeks_text(surgery: date | None, on: date) -> str:
    """"12.3 weeks since surgery" / "no surgery" for headers and the dialog."""
    if surgery is None:
        return "no surgery"
    weeks = weeks_since(surgery, on)
    if weeks < 0:
        return f"surgery in {-weeks:.1f} weeks"
    return f"{weeks:.1f} weeks since surgery"


def episode_title(ep: Episode) -> str:
    """One line naming an episode in the episode picker."""
    d = ep.draft
    side = SIDE_LABELS.get(Side(d.affected_side), str(d.affected_side)).lower()
    text = f"{DIAGNOSIS_LABELS[Diagnosis(d.diagnosis)]} ({side}) — from {d.start_date.isoformat()}"
    if d.end_date:
        text += f" to {d.end_date.isoformat()}"
    return text


def _optional_date(box: QCheckBox, edit: QDateEdit) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(box)
    row.addWidget(edit, 1)
    edit.setEnabled(False)
    box.toggled.connect(edit.setEnabled)
    return row


class EpisodeDialog(FormDialog):
    """Open or edit an episode of care for ``patient``; emits ``episode_saved``."""

    def __init__(
        self, parent: QWidget | None, ctx: UiContext, patient: Patient,
        episode: Episode | None = None,
    ) -> None:  # fmt: skip
        title = "Edit episode of care" if episode else "New episode of care"
        super().__init__(parent, "episodeDialog", f"{title} — {patient.display_name}")
        self._ctx = ctx
        self._patient = patient
        self._episode = episode
        self._version = episode.stamp.version if episode else 0
        self.saved_episode: Episode | None = None

        self.diagnosis = QComboBox(objectName="diagnosisCombo")
        for dx, label in DIAGNOSIS_LABELS.items():
            self.diagnosis.addItem(label, dx.value)
        self.side = QComboBox(objectName="sideCombo")
        for side, label in SIDE_LABELS.items():
            self.side.addItem(label, side.value)
        self.start = self._date_edit("startDateEdit")
        self.start.setDate(QDate.currentDate())
        self.has_surgery = QCheckBox("Surgery on", objectName="surgeryCheck")
        self.surgery = self._date_edit("surgeryDateEdit")
        self.surgery.setDate(QDate.currentDate())
        self.weeks = QLabel(objectName="weeksLabel")
        self.doctor = QLineEdit(objectName="referringDoctorEdit")
        self.has_end = QCheckBox("Ended on", objectName="endCheck")
        self.end = self._date_edit("endDateEdit")
        self.end.setDate(QDate.currentDate())
        self.notes = QPlainTextEdit(objectName="episodeNotesEdit")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(70)

        form = QFormLayout()
        form.addRow("Diagnosis:", self.diagnosis)
        form.addRow("Affected side:", self.side)
        form.addRow("Start date:", self.start)
        form.addRow("Surgery date:", _optional_date(self.has_surgery, self.surgery))
        form.addRow("", self.weeks)
        form.addRow("Referring doctor:", self.doctor)
        form.addRow("End date:", _optional_date(self.has_end, self.end))
        form.addRow("Notes:", self.notes)
        for label, w in (("Diagnosis", self.diagnosis), ("Affected side", self.side),
                         ("Start date", self.start), ("Surgery date", self.surgery),
                         ("Referring doctor", self.doctor), ("End date", self.end),
                         ("Notes", self.notes)):  # fmt: skip
            self.register(label, w)
        self.track(self.has_surgery)
        self.track(self.has_end)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        order = [self.diagnosis, self.side, self.start, self.has_surgery, self.surgery,
                 self.doctor, self.has_end, self.end, self.notes, self.save_button]  # fmt: skip
        for a, b in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(a, b)
        self.surgery.dateChanged.connect(self._update_weeks)
        self.has_surgery.toggled.connect(self._update_weeks)
        if episode is not None:
            self._load(episode.draft)
        self._update_weeks()
        self.mark_clean()
        self.resize(480, self.sizeHint().height())
        self.diagnosis.setFocus()

    @staticmethod
    def _date_edit(name: str) -> QDateEdit:
        edit = QDateEdit(objectName=name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat(DATE_FORMAT)
        return edit

    def _update_weeks(self) -> None:
        surgery = from_qdate(self.surgery.date()) if self.has_surgery.isChecked() else None
        self.weeks.setText(weeks_text(surgery, date.today()))

    def _load(self, d: EpisodeDraft) -> None:
        self.diagnosis.setCurrentIndex(max(0, self.diagnosis.findData(str(d.diagnosis))))
        self.side.setCurrentIndex(max(0, self.side.findData(str(d.affected_side))))
        self.start.setDate(to_qdate(d.start_date))
        self.has_surgery.setChecked(d.surgery_date is not None)
        if d.surgery_date is not None:
            self.surgery.setDate(to_qdate(d.surgery_date))
        self.doctor.setText(d.referring_doctor)
        self.has_end.setChecked(d.end_date is not None)
        if d.end_date is not None:
            self.end.setDate(to_qdate(d.end_date))
        self.notes.setPlainText(d.notes)

    def draft(self) -> EpisodeDraft:
        return EpisodeDraft(
            diagnosis=Diagnosis(self.diagnosis.currentData()),
            affected_side=Side(self.side.currentData()),
            start_date=from_qdate(self.start.date()),
            surgery_date=from_qdate(self.surgery.date()) if self.has_surgery.isChecked() else None,
            referring_doctor=self.doctor.text().strip(),
            end_date=from_qdate(self.end.date()) if self.has_end.isChecked() else None,
            notes=self.notes.toPlainText(),
        )

    def save(self) -> None:
        if self.saving:
            return
        self.clear_errors()
        draft = self.draft()
        svc, episode, version, pid = (self._ctx.charting, self._episode, self._version,
                                      self._patient.id)  # fmt: skip
        if episode is None:
            def task() -> Episode:
                return svc.open_episode(pid, draft)
        else:
            def task() -> Episode:
                return svc.update_episode(episode.id, version, draft)
        self.set_saving(True)
        ops.run_op(self, task, self._saved, self.handle_save_error, title=self.windowTitle())

    def _saved(self, episode: Episode) -> None:
        self.set_saving(False)
        self.saved_episode = episode
        self._ctx.signals.episode_saved.emit(episode)
        self.accept()

    def on_conflict(self, exc: ConflictError) -> None:
        mine = self.draft()
        cur = exc.current
        rows = episode_rows(cur.draft, mine) if isinstance(cur, Episode) else []

        def reload(c: Episode) -> None:
            self._episode, self._version = c, c.stamp.version
            self._load(c.draft)

        def review(c: Episode) -> None:
            base = self._episode.draft if self._episode else c.draft
            self._episode, self._version = c, c.stamp.version
            self._load(merge_drafts(base, mine, c.draft))

        self.resolve_conflict(exc, rows, reload, review)


def episode_rows(theirs: EpisodeDraft, mine: EpisodeDraft) -> list[tuple[str, str, str]]:
    def show(d: EpisodeDraft) -> list[str]:
        opt = (lambda x: x.isoformat() if x else "—")  # noqa: E731
        return [DIAGNOSIS_LABELS[Diagnosis(d.diagnosis)], SIDE_LABELS[Side(d.affected_side)],
                d.start_date.isoformat(), opt(d.surgery_date), d.referring_doctor,
                opt(d.end_date), d.notes]  # fmt: skip

    labels = ["Diagnosis", "Affected side", "Start date", "Surgery date", "Referring doctor",
              "End date", "Notes"]  # fmt: skip
    return list(zip(labels, show(theirs), show(mine), strict=True))
