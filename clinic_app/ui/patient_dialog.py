"""New / edit patient dialog (objectName ``patientDialog``)."""

from __future__ import annotations

from datetime import date

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.records import Patient, PatientDraft, Sex
from clinic_app.domain.validation import patient_problems
from clinic_app.ui import ops
from clinic_app.ui.context import UiContext
from clinic_app.ui.date_input import DateInput, years_ago
from clinic_app.ui.forms import FormDialog, ThreeWay, compare_drafts, merge_drafts

SEX_LABELS = {Sex.FEMALE: "Female", Sex.MALE: "Male", Sex.OTHER: "Other",
              Sex.UNKNOWN: "Not recorded"}  # fmt: skip
# The calendar of an empty birth date opens about this many years back: a typical adult
# patient, one or two clicks away, instead of the first page Qt can show.
BIRTH_PAGE_YEARS = 40


def age_on(dob: date, today: date) -> int:
    """Completed years of age on ``today``."""
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


# The order of the form, in which its problems are listed (the first gets the focus).
FIELD_ORDER = ["MRN", "Family name", "Given name", "Date of birth", "Sex", "Phone", "Email",
               "Notes"]

class PatientDialog(FormDialog):
    """Register a patient or edit one; emits ``patient_saved`` after a successful save."""

    def __init__(self, parent: QWidget | None, ctx: UiContext, patient: Patient | None = None):
        super().__init__(parent, "patientDialog", "Edit patient" if patient else "New patient")
        self._ctx = ctx
        self._patient = patient
        self._version = patient.stamp.version if patient else 0
        self.saved_patient: Patient | None = None

        self.mrn = QLineEdit(objectName="mrnEdit", placeholderText="e.g. K-102938")
        self.family = QLineEdit(objectName="familyNameEdit")
        self.given = QLineEdit(objectName="givenNameEdit")
        self.dob = DateInput("Date of birth", "dobEdit", page=years_ago(BIRTH_PAGE_YEARS),
                             past_only=True, required=True)  # fmt: skip
        self.age = QLabel(objectName="ageLabel")
        self.sex = QComboBox(objectName="sexCombo")
        for value, label in SEX_LABELS.items():
            self.sex.addItem(label, value.value)
        self.sex.setCurrentIndex(self.sex.findData(Sex.UNKNOWN.value))
        self.phone = QLineEdit(objectName="phoneEdit")
        self.email = QLineEdit(objectName="emailEdit", placeholderText="name@example.org")
        self.notes = QPlainTextEdit(objectName="notesEdit")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(80)

        form = QFormLayout()
        dob_row = QHBoxLayout()
        dob_row.addWidget(self.dob)
        dob_row.addWidget(self.age, 1)
        rows: list[tuple[str, QWidget | QHBoxLayout, QWidget]] = [
            ("MRN", self.mrn, self.mrn), ("Family name", self.family, self.family),
            ("Given name", self.given, self.given), ("Date of birth", dob_row, self.dob),
            ("Sex", self.sex, self.sex), ("Phone", self.phone, self.phone),
            ("Email", self.email, self.email), ("Notes", self.notes, self.notes),
        ]  # fmt: skip
        for label, item, widget in rows:
            form.addRow(f"{label}:", item)
            self.register(label, widget)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.dob.value_changed.connect(self._update_age)
        self.mrn.textEdited.connect(self._upper_mrn)
        for a, b in zip(rows, rows[1:], strict=False):
            QWidget.setTabOrder(a[2], b[2])
        QWidget.setTabOrder(self.notes, self.save_button)
        if patient is not None:
            self._load(patient.draft)
        self._update_age()
        self.mark_clean()
        self.follow_changes(ctx.signals.records_changed, "patient")
        self.resize(460, self.sizeHint().height())
        self.mrn.setFocus()

    def _upper_mrn(self, text: str) -> None:
        if text != text.upper():
            pos = self.mrn.cursorPosition()
            self.mrn.setText(text.upper())
            self.mrn.setCursorPosition(pos)

    def _update_age(self) -> None:
        if self.dob.is_blank():
            self.age.setText("required")
            return
        dob = self.dob.peek()
        today = date.today()
        if isinstance(dob, date) and dob <= today:
            self.age.setText(f"age {age_on(dob, today)}")
        elif self.dob.unreadable:  # left with text that is not a date: say so beside it
            self.age.setText("not a date")
        else:  # half typed, or not a date (yet): no age rather than a wrong one
            self.age.setText("")

    def _load(self, d: PatientDraft) -> None:
        self.mrn.setText(d.mrn)
        self.family.setText(d.family_name)
        self.given.setText(d.given_name)
        self.dob.set_value(d.date_of_birth)
        self.sex.setCurrentIndex(max(0, self.sex.findData(str(d.sex))))
        self.phone.setText(d.phone)
        self.email.setText(d.email)
        self.notes.setPlainText(d.notes)

    def draft(self) -> PatientDraft:
        """The patient as typed; raises ValidationError for a missing or unreadable birth date."""
        dob = self.dob.value()
        assert dob is not None  # required: a blank field raised above
        return PatientDraft(
            mrn=self.mrn.text(), family_name=self.family.text(), given_name=self.given.text(),
            date_of_birth=dob, sex=Sex(self.sex.currentData()),
            phone=self.phone.text(), email=self.email.text(), notes=self.notes.toPlainText(),
        )  # fmt: skip

    def problems(self) -> list[ValidationError]:
        """Every problem of the form as typed, in the order of its fields (none: ``[]``)."""
        found: list[ValidationError] = []
        try:
            dob = self.dob.value()
        except ValidationError as exc:  # unreadable or missing: the other fields still count
            found.append(exc)
            dob = None
        typed = PatientDraft(
            mrn=self.mrn.text(), family_name=self.family.text(), given_name=self.given.text(),
            date_of_birth=dob, sex=Sex(self.sex.currentData()),  # type: ignore[arg-type]
            phone=self.phone.text(), email=self.email.text(), notes=self.notes.toPlainText(),
        )  # fmt: skip
        named = {p.field for p in found}
        found += [p for p in patient_problems(typed) if p.field not in named]
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
        svc = self._ctx.charting
        patient, version = self._patient, self._version
        if patient is None:
            def task() -> Patient:
                return svc.register_patient(draft)
        else:
            def task() -> Patient:
                return svc.update_patient(patient.id, version, draft)
        self.set_saving(True)
        ops.run_op(self, task, self._saved, self.handle_save_error, title=self.windowTitle())

    def _saved(self, patient: Patient) -> None:
        self.set_saving(False)
        self.saved_patient = patient
        self._ctx.signals.patient_saved.emit(patient)
        self.accept()

    def record_id(self) -> object:
        return self._patient.id if self._patient else None

    def on_conflict(self, exc: ConflictError) -> None:
        mine = self.draft()
        cur = exc.current
        base = self._patient.draft if self._patient else None
        compared = compare_drafts(base or cur.draft, cur.draft, mine, PATIENT_LABELS,
                                  show_patient_value) if isinstance(cur, Patient) \
            else ThreeWay([], [], [])  # fmt: skip

        def reload(c: Patient) -> None:
            self._patient, self._version = c, c.stamp.version
            self._load(c.draft)

        def review(c: Patient) -> None:
            self._patient, self._version = c, c.stamp.version
            self._load(merge_drafts(base or c.draft, mine, c.draft))

        self.resolve_conflict(exc, compared, reload, review)


PATIENT_LABELS = {"mrn": "MRN", "family_name": "Family name", "given_name": "Given name",
                  "date_of_birth": "Date of birth", "sex": "Sex", "phone": "Phone",
                  "email": "Email", "notes": "Notes"}  # fmt: skip


def show_patient_value(attr: str, value: object) -> str:
    """One patient field as the conflict dialog shows it."""
    if value is None or value == "":
        return "—"
    if attr == "sex":
        return SEX_LABELS.get(Sex(value), str(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
