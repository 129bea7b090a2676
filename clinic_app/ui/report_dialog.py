"""Dialog that saves or previews a patient's PDF progress report.

Loading the patient and building the PDF both run off the GUI thread through
:func:`clinic_app.ui.ops.run_op`; the export is audited by the reporting service. After
either action the user is told what happened and where the file is, including when no PDF
viewer could be started.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from uuid import UUID

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.records import Patient
from clinic_app.services.facade import Clinic
from clinic_app.services.reporting import ReportOutcome, report_filename
from clinic_app.ui import desktop, messages, ops
from clinic_app.ui.accessibility import buddy
from clinic_app.ui.date_input import DateInput


def _months_before(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


class ReportDialog(QDialog):
    """Choose the period and therapist, pick a file, generate, then open the PDF."""

    def __init__(self, parent: QWidget | None, clinic: Clinic, patient_id: UUID) -> None:
        super().__init__(parent)
        self.setObjectName("reportDialog")
        self.setMinimumWidth(480)  # room for the therapist placeholder and the dates
        self.setWindowTitle("Progress report")
        self._clinic, self._patient_id = clinic, patient_id
        self._patient: Patient | None = None
        self.outcome: ReportOutcome | None = None
        self.preview_outcome: ReportOutcome | None = None

        self.heading = QLabel("Loading patient…")
        self.heading.setObjectName("reportPatient")
        self.all_records = QCheckBox("All records (no period limit)")
        self.all_records.setObjectName("reportAllRecords")
        today = date.today()
        self.date_from = DateInput("Period from", "reportFrom", required=True)
        self.date_from.set_value(_months_before(today, 2))
        self.date_to = DateInput("Period to", "reportTo", required=True)
        self.date_to.set_value(today)
        self.all_records.toggled.connect(self._toggle_period)
        self.therapist = QLineEdit()
        self.therapist.setObjectName("reportTherapist")
        self.therapist.setPlaceholderText("Name printed on the report (default: your user name)")
        self.status = QLabel("")
        self.status.setObjectName("reportStatus")
        self.status.setWordWrap(True)

        period = QHBoxLayout()
        period.addWidget(buddy(QLabel("From"), self.date_from))
        period.addWidget(self.date_from)
        period.addWidget(buddy(QLabel("to"), self.date_to))
        period.addWidget(self.date_to)
        period.addStretch(1)
        form = QFormLayout()
        form.addRow("", self.all_records)
        form.addRow("Period", period)
        form.addRow("Therapist", self.therapist)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        # Enter anywhere in the dialog saves: Cancel and Preview never become the default.
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)
        self.save_button = QPushButton("Save as…")
        self.save_button.setObjectName("reportSaveButton")
        self.save_button.setEnabled(False)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setAutoDefault(False)
        self.preview_button.setObjectName("reportPreviewButton")
        self.preview_button.setToolTip("Open the report in your PDF viewer (print from there) "
                                       "without choosing where to save it")
        self.preview_button.setEnabled(False)
        buttons.addButton(self.preview_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.save_button.setDefault(True)
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self._save_as)
        self.preview_button.clicked.connect(self.preview)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        # A fixed minimum replaces the layout's own: keep the dates' width too, or a dialog
        # opened at 2/3 of a small (or 200 % scaled) screen cuts the "to" date off.
        self.setMinimumWidth(max(480, layout.totalMinimumSize().width()))

        ops.run_op(self, lambda: clinic.charting.get_patient(patient_id),
                   self._loaded, title="Progress report")

    def _loaded(self, patient: Patient) -> None:
        self._patient = patient
        self.heading.setText(f"<b>{patient.display_name}</b> &nbsp; MRN {patient.draft.mrn}")
        self.save_button.setEnabled(True)
        self.preview_button.setEnabled(True)
        # Once enabled and shown: the button box had made Cancel the default by then, so
        # Enter after typing a date closed the dialog instead of saving.
        self.save_button.setDefault(True)

    def _toggle_period(self, all_records: bool) -> None:
        self.date_from.setEnabled(not all_records)
        self.date_to.setEnabled(not all_records)

    def period(self) -> tuple[date | None, date | None]:
        """The chosen period; ValidationError naming the field for a date that is not one."""
        if self.all_records.isChecked():
            return None, None
        return self.date_from.value(), self.date_to.value()

    def _period_ok(self) -> bool:
        """Tell the user (naming the field) when a typed date is not one; ``False`` then."""
        try:
            self.period()
        except ValidationError as exc:
            field = self.date_from if exc.field == self.date_from.label else self.date_to
            messages.warn(self, "Progress report", str(exc))
            field.setFocus()
            field.selectAll()
            return False
        return True

    def _save_as(self) -> None:
        assert self._patient is not None
        if not self._period_ok():
            return
        suggested = str(desktop.documents_dir() / report_filename(self._patient, date.today()))
        chosen, _ = QFileDialog.getSaveFileName(self, "Save progress report", suggested,
                                                "PDF files (*.pdf)")
        if not chosen:
            return
        out = Path(chosen)
        if out.suffix.lower() != ".pdf":
            out = out.with_name(out.name + ".pdf")
        self._generate(out, self._done)

    def preview(self) -> None:
        """Generate into the private preview folder and open it; the dialog stays open.

        A preview is still a copy of the record on disk, so it is audited like any export;
        the file is deleted when Backstep closes (:func:`desktop.clear_previews`).
        """
        assert self._patient is not None
        if not self._period_ok():
            return
        try:
            folder = desktop.preview_dir()
        except OSError as exc:
            messages.warn(self, "Preview", "The private folder for previews could not be "
                          f"created ({exc.strerror}). Use Save as… instead.")
            return
        self._generate(folder / report_filename(self._patient, date.today()), self._previewed)

    def _previewed(self, outcome: ReportOutcome) -> None:
        self.preview_outcome = outcome
        self._set_busy(False)
        pages = _pages(outcome.pages)
        if desktop.open_path(outcome.path):
            self.status.setText(f"Preview of {pages} opened in your PDF viewer. It is deleted "
                                "when Backstep closes; Save as… keeps a copy.")
            return
        self.status.setText(f"No PDF viewer could be started. The preview ({pages}) is at "
                            f"{outcome.path}")
        choice = messages.file_written(
            self, "Preview not shown",
            f"No PDF viewer could be started, so the preview ({pages}) was not shown.\n\n"
            f"The file is here:\n{outcome.path}\n\nIt is deleted when Backstep closes. Use "
            "Save as… to keep a copy, or install a PDF viewer.", open_file=False,
        )
        self._follow(choice, outcome.path)

    def _follow(self, choice: str, path: Path) -> None:
        """Open the file or its folder as the user chose; say so when that fails too."""
        if choice == messages.OPEN_FILE and not desktop.open_path(path):
            messages.warn(self, "Progress report", "No PDF viewer could be started. The "
                          f"report is saved here:\n{path}")
        elif choice == messages.OPEN_FOLDER and not desktop.open_path(path.parent):
            messages.warn(self, "Progress report", "The folder could not be opened. The "
                          f"report is here:\n{path}")

    def _set_busy(self, busy: bool) -> None:
        self.save_button.setEnabled(not busy)
        self.preview_button.setEnabled(not busy)

    def _generate(self, out: Path, done: Callable[[ReportOutcome], None]) -> None:
        assert self._patient is not None
        start, end = self.period()  # checked by _period_ok before asking for a file
        therapist = self.therapist.text().strip() or None
        mrn, clinic = self._patient.draft.mrn, self._clinic
        self._set_busy(True)
        self.status.setText("Generating the report…")

        def task() -> ReportOutcome:
            return clinic.report(mrn, out, start, end, therapist)

        def failed(exc: BaseException) -> bool:
            self._set_busy(False)
            self.status.setText("")
            return False  # let ops show the message

        ops.run_op(self, task, done, failed, title="Progress report")

    def _done(self, outcome: ReportOutcome) -> None:
        self.outcome = outcome
        self._set_busy(False)
        text = f"Saved the progress report ({_pages(outcome.pages)}) to:\n{outcome.path}"
        self.status.setText(text.replace("\n", " "))
        choice = messages.file_written(self, "Report saved", text)
        self._follow(choice, outcome.path)
        self.accept()


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"
