"""New / edit episode of care dialog (objectName ``episodeDialog``)."""

from __future__ import annotations

from datetime import date

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.permissions import Action, can
from clinic_app.domain.progress import weeks_since
from clinic_app.domain.records import (
    DIAGNOSIS_LABELS,
    SURGERY_TYPE_LABELS,
    Diagnosis,
    Episode,
    EpisodeDraft,
    Patient,
    Side,
    SurgeryType,
    User,
)
from clinic_app.domain.validation import episode_problems
from clinic_app.ui import messages, ops
from clinic_app.ui.context import UiContext
from clinic_app.ui.date_input import DateInput
from clinic_app.ui.forms import FormDialog, ThreeWay, compare_drafts, merge_drafts

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


# The order of the form, in which its problems are listed (the first gets the focus).
FIELD_ORDER = ["Diagnosis", "Affected side", "Start date", "Surgery date", "Surgery type",
               "Referring doctor", "Treating therapist", "End date", "Notes"]

class EpisodeDialog(FormDialog):
    """Open or edit an episode of care for ``patient``; emits ``episode_saved``."""

    def __init__(
        self, parent: QWidget | None, ctx: UiContext, patient: Patient,
        episode: Episode | None = None,
    ) -> None:
        title = "Edit episode of care" if episode else "New episode of care"
        super().__init__(parent, "episodeDialog", f"{title} — {patient.display_name}")
        self._ctx = ctx
        self._patient = patient
        self._episode = episode
        self._version = episode.stamp.version if episode else 0

        self.diagnosis = QComboBox(objectName="diagnosisCombo")
        for dx, label in DIAGNOSIS_LABELS.items():
            self.diagnosis.addItem(label, dx.value)
        self.side = QComboBox(objectName="sideCombo")
        for side, label in SIDE_LABELS.items():
            self.side.addItem(label, side.value)
        self.start = DateInput("Start date", "startDateEdit", required=True)
        self.start.set_value(date.today())
        # Blank means "no surgery" / "still in care": no checkbox to tick before typing.
        self.surgery = DateInput("Surgery date", "surgeryDateEdit")
        self.surgery.setPlaceholderText(f"None ({self.surgery.hint()})")
        self.weeks = QLabel(objectName="weeksLabel")
        # Not editable: typing the first letters picks an operation, arrows step through.
        self.surgery_type = QComboBox(objectName="surgeryTypeCombo")
        self.surgery_type.addItem("Not recorded", None)
        for kind, label in SURGERY_TYPE_LABELS.items():
            self.surgery_type.addItem(label, kind.value)
        self.surgery_type.setAccessibleName("Surgery type")
        self.doctor = QLineEdit(objectName="referringDoctorEdit")
        # The signed-in user until the clinic's therapists are read (off the GUI thread).
        self.therapist = QComboBox(objectName="therapistCombo")
        self.therapist.setAccessibleName("Treating therapist")
        kept = episode.draft.treating_therapist if episode else ctx.principal.username
        self._add_therapist(kept, ctx.principal.full_name
                            if kept == ctx.principal.username else "")
        self.end = DateInput("End date", "endDateEdit")
        self.end.setPlaceholderText(f"Ongoing ({self.end.hint()})")
        self.notes = QPlainTextEdit(objectName="episodeNotesEdit")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(70)

        form = QFormLayout()
        form.addRow("Diagnosis:", self.diagnosis)
        form.addRow("Affected side:", self.side)
        form.addRow("Start date:", self.start)
        form.addRow("Surgery date:", self.surgery)
        form.addRow("", self.weeks)
        form.addRow("Surgery type:", self.surgery_type)
        form.addRow("Referring doctor:", self.doctor)
        form.addRow("Treating therapist:", self.therapist)
        form.addRow("End date:", self.end)
        form.addRow("Notes:", self.notes)
        for label, w in (("Diagnosis", self.diagnosis), ("Affected side", self.side),
                         ("Start date", self.start), ("Surgery date", self.surgery),
                         ("Surgery type", self.surgery_type),
                         ("Referring doctor", self.doctor),
                         ("Treating therapist", self.therapist), ("End date", self.end),
                         ("Notes", self.notes)):
            self.register(label, w)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        order = [self.diagnosis, self.side, self.start, self.surgery, self.surgery_type,
                 self.doctor, self.therapist, self.end, self.notes, self.save_button]
        for a, b in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(a, b)
        self.surgery.value_changed.connect(self._update_weeks)
        if episode is not None:
            self._load(episode.draft)
        self._update_weeks()
        self.mark_clean()
        self.follow_changes(ctx.signals.records_changed, "episode")
        self.resize(480, self.sizeHint().height())
        self.diagnosis.setFocus()
        charting = ctx.charting
        ops.run_op(self, charting.clinicians, self._show_clinicians, title=self.windowTitle())

    def _add_therapist(self, username: str, full_name: str = "") -> None:
        if self.therapist.findData(username) >= 0:
            return
        label = f"{full_name} ({username})" if full_name else username
        self.therapist.addItem(label, username)

    def _show_clinicians(self, users: list[User]) -> None:
        """The clinic's therapists and administrators; the episode's own therapist stays
        listed (and chosen) even without an active account."""
        chosen = self.therapist.currentData()
        keep_clean = not self.is_dirty()
        self.therapist.blockSignals(True)
        self.therapist.clear()
        for u in users:
            self._add_therapist(u.username, u.full_name)
        if chosen is not None and self.therapist.findData(chosen) < 0:
            self.therapist.addItem(f"{chosen} (no active account)", chosen)
        self.therapist.setCurrentIndex(max(0, self.therapist.findData(chosen)))
        self.therapist.blockSignals(False)
        if keep_clean:
            self.mark_clean()

    def _update_weeks(self) -> None:
        if not self.surgery.is_blank() and self.surgery.peek() is None:
            self.weeks.setText("")  # half typed: say nothing rather than "no surgery"
            return
        surgery = self.surgery.peek()
        self.weeks.setText(weeks_text(surgery if isinstance(surgery, date) else None,
                                      date.today()))

    def _load(self, d: EpisodeDraft) -> None:
        self.diagnosis.setCurrentIndex(max(0, self.diagnosis.findData(str(d.diagnosis))))
        self.side.setCurrentIndex(max(0, self.side.findData(str(d.affected_side))))
        self.start.set_value(d.start_date)
        self.surgery.set_value(d.surgery_date)
        self.surgery_type.setCurrentIndex(max(0, self.surgery_type.findData(
            str(d.surgery_type) if d.surgery_type else None)))
        self.doctor.setText(d.referring_doctor)
        if d.treating_therapist:
            self._add_therapist(d.treating_therapist)
            self.therapist.setCurrentIndex(self.therapist.findData(d.treating_therapist))
        self.end.set_value(d.end_date)
        self.notes.setPlainText(d.notes)

    def draft(self) -> EpisodeDraft:
        """The episode as typed; raises ValidationError for a missing or unreadable date."""
        start = self.start.value()
        assert start is not None  # required: a blank field raised above
        return EpisodeDraft(
            diagnosis=Diagnosis(self.diagnosis.currentData()),
            affected_side=Side(self.side.currentData()),
            start_date=start,
            surgery_date=self.surgery.value(),
            referring_doctor=self.doctor.text().strip(),
            end_date=self.end.value(),
            notes=self.notes.toPlainText(),
            surgery_type=self._surgery_type(),
            treating_therapist=self.therapist.currentData() or "",
        )

    def _surgery_type(self) -> SurgeryType | None:
        code = self.surgery_type.currentData()
        return SurgeryType(code) if code else None

    def problems(self) -> list[ValidationError]:
        """Every problem of the form as typed, in the order of its fields (none: ``[]``)."""
        found: list[ValidationError] = []

        def read(field: DateInput) -> date | None:
            try:
                return field.value()
            except ValidationError as exc:  # unreadable: the other fields still count
                found.append(exc)
                return None

        typed = EpisodeDraft(
            diagnosis=Diagnosis(self.diagnosis.currentData()),
            affected_side=Side(self.side.currentData()),
            start_date=read(self.start),  # type: ignore[arg-type]
            surgery_date=read(self.surgery),
            referring_doctor=self.doctor.text().strip(),
            end_date=read(self.end),
            notes=self.notes.toPlainText(),
            surgery_type=self._surgery_type(),
            treating_therapist=self.therapist.currentData() or "",
        )
        named = {p.field for p in found}
        found += [p for p in episode_problems(typed, self._patient.draft.date_of_birth)
                  if p.field not in named]
        return sorted(found, key=lambda p: FIELD_ORDER.index(p.field)
                      if p.field in FIELD_ORDER else len(FIELD_ORDER))

    def save(self) -> None:
        if self.saving:
            return
        self.clear_errors()
        problems = self.problems()
        if problems:
            self.show_errors(problems)
            return
        draft = self.draft()
        svc, episode, version, pid = (self._ctx.charting, self._episode, self._version,
                                      self._patient.id)
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
        # An open episode given an end date is being closed (a new one typed in with its end
        # date is a past episode being entered, not a discharge).
        closed_now = (episode.draft.end_date is not None and self._episode is not None
                      and self._episode.draft.end_date is None)
        self._ctx.signals.episode_saved.emit(episode)
        self.accept()
        if closed_now:
            offer_discharge_summary(self.parentWidget(), self._ctx, self._patient, episode)

    def record_id(self) -> object:
        return self._episode.id if self._episode else None

    def on_conflict(self, exc: ConflictError) -> None:
        mine = self.draft()
        cur = exc.current
        base = self._episode.draft if self._episode else None
        compared = compare_drafts(base or cur.draft, cur.draft, mine, EPISODE_LABELS,
                                  show_episode_value) if isinstance(cur, Episode) \
            else ThreeWay([], [], [])

        def reload(c: Episode) -> None:
            self._episode, self._version = c, c.stamp.version
            self._load(c.draft)

        def review(c: Episode) -> None:
            self._episode, self._version = c, c.stamp.version
            self._load(merge_drafts(base or c.draft, mine, c.draft))

        self.resolve_conflict(exc, compared, reload, review)


EPISODE_LABELS = {"diagnosis": "Diagnosis", "affected_side": "Affected side",
                  "start_date": "Start date", "surgery_date": "Surgery date",
                  "referring_doctor": "Referring doctor", "end_date": "End date",
                  "notes": "Notes", "surgery_type": "Surgery type",
                  "treating_therapist": "Treating therapist"}


def show_episode_value(attr: str, value: object) -> str:
    """One episode field as the conflict dialog shows it."""
    if value is None or value == "":
        return "—"
    if attr == "diagnosis":
        return DIAGNOSIS_LABELS[Diagnosis(value)]
    if attr == "affected_side":
        return SIDE_LABELS[Side(value)]
    if attr == "surgery_type":
        return SurgeryType(value).label
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def offer_discharge_summary(parent: QWidget | None, ctx: UiContext, patient: Patient,
                            episode: Episode) -> None:
    """An episode was just closed: offer the discharge summary for the referring doctor,
    saved where the therapist chooses (an audited export)."""
    if not can(ctx.principal, Action.EXPORT):
        return
    if not messages.ask(parent, "Discharge summary",
                        "The episode of care is closed. Write the discharge summary for the "
                        "referring doctor now?", yes="Write discharge summary…", no="Not now"):
        return
    from clinic_app.ui.plan_dialog import save_document

    save_document(parent, ctx, patient.draft.mrn, episode.id, "discharge")
