"""Dialog that saves a patient's PDF progress report and opens it in the system viewer.

Loading the patient and building the PDF both run off the GUI thread through
:func:`clinic_app.ui.ops.run_op`; the export is audited by the reporting service.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from uuid import UUID

from PySide6.QtCore import QDate, QStandardPaths, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
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

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Patient
from clinic_app.persistence.uow import Database
from clinic_app.reports import build_progress_report
from clinic_app.services.charting import ChartingService
from clinic_app.services.reporting import ReportOutcome, generate_report, report_filename
from clinic_app.ui import ops


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class ReportDialog(QDialog):
    """Choose the period and therapist, pick a file, generate, then open the PDF."""

    def __init__(self, parent: QWidget | None, db: Database, actor: Principal,
                 patient_id: UUID) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("reportDialog")
        self.setMinimumWidth(480)  # room for the therapist placeholder and the dates
        self.setWindowTitle("Progress report")
        self._db, self._actor, self._patient_id = db, actor, patient_id
        self._patient: Patient | None = None
        self.outcome: ReportOutcome | None = None
        self.preview_outcome: ReportOutcome | None = None

        self.heading = QLabel("Loading patient…")
        self.heading.setObjectName("reportPatient")
        self.all_records = QCheckBox("All records (no period limit)")
        self.all_records.setObjectName("reportAllRecords")
        today = date.today()
        self.date_from = QDateEdit(_qdate(date(today.year, today.month, 1)))
        self.date_from.setObjectName("reportFrom")
        self.date_to = QDateEdit(_qdate(today))
        self.date_to.setObjectName("reportTo")
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("d MMM yyyy")
        self.date_from.setDate(self.date_from.date().addMonths(-2))
        self.all_records.toggled.connect(self._toggle_period)
        self.therapist = QLineEdit()
        self.therapist.setObjectName("reportTherapist")
        self.therapist.setPlaceholderText("Name printed on the report (default: your user name)")
        self.status = QLabel("")
        self.status.setObjectName("reportStatus")
        self.status.setWordWrap(True)

        period = QHBoxLayout()
        period.addWidget(QLabel("From"))
        period.addWidget(self.date_from)
        period.addWidget(QLabel("to"))
        period.addWidget(self.date_to)
        period.addStretch(1)
        form = QFormLayout()
        form.addRow("", self.all_records)
        form.addRow("Period", period)
        form.addRow("Therapist", self.therapist)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = QPushButton("Save as…")
        self.save_button.setObjectName("reportSaveButton")
        self.save_button.setEnabled(False)
        self.save_button.setDefault(True)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setObjectName("reportPreviewButton")
        self.preview_button.setToolTip("Open the report in your PDF viewer (print from there) "
                                       "without choosing where to save it")
        self.preview_button.setEnabled(False)
        buttons.addButton(self.preview_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self._save_as)
        self.preview_button.clicked.connect(self.preview)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

        ops.run_op(self, lambda: ChartingService(db, actor).get_patient(patient_id),
                   self._loaded, title="Progress report")  # fmt: skip

    def _loaded(self, patient: Patient) -> None:
        self._patient = patient
        self.heading.setText(f"<b>{patient.display_name}</b> &nbsp; MRN {patient.draft.mrn}")
        self.save_button.setEnabled(True)
        self.preview_button.setEnabled(True)

    def _toggle_period(self, all_records: bool) -> None:
        self.date_from.setEnabled(not all_records)
        self.date_to.setEnabled(not all_records)

    def period(self) -> tuple[date | None, date | None]:
        if self.all_records.isChecked():
            return None, None
        return _pydate(self.date_from.date()), _pydate(self.date_to.date())

    def _save_as(self) -> None:
        assert self._patient is not None
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        suggested = str(Path(folder or ".") / report_filename(self._patient, date.today()))
        chosen, _ = QFileDialog.getSaveFileName(self, "Save progress report", suggested,
                                                "PDF files (*.pdf)")  # fmt: skip
        if not chosen:
            return
        out = Path(chosen)
        if out.suffix.lower() != ".pdf":
            out = out.with_name(out.name + ".pdf")
        self._generate(out, self._done)

    def preview(self) -> None:
        """Generate into a private temporary folder and open it; the dialog stays open.

        A preview is still a copy of the record on disk, so it is audited like any export.
        """
        assert self._patient is not None
        folder = Path(tempfile.mkdtemp(prefix="backstep-preview-"))
        self._generate(folder / report_filename(self._patient, date.today()), self._previewed)

    def _previewed(self, outcome: ReportOutcome) -> None:
        self.preview_outcome = outcome
        self._set_busy(False)
        self.status.setText(f"Preview: {outcome.pages} page(s). Save as… keeps a copy.")
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(outcome.path)))

    def _set_busy(self, busy: bool) -> None:
        self.save_button.setEnabled(not busy)
        self.preview_button.setEnabled(not busy)

    def _generate(self, out: Path, done: Callable[[ReportOutcome], None]) -> None:
        assert self._patient is not None
        start, end = self.period()
        therapist = self.therapist.text().strip() or None
        mrn, db, actor = self._patient.draft.mrn, self._db, self._actor
        self._set_busy(True)
        self.status.setText("Generating the report…")

        def task() -> ReportOutcome:
            return generate_report(db, actor, mrn, out, start, end, therapist,
                                   render=build_progress_report)  # fmt: skip

        def failed(exc: BaseException) -> bool:
            self._set_busy(False)
            self.status.setText("")
            return False  # let ops show the message

        ops.run_op(self, task, done, failed, title="Progress report")

    def _done(self, outcome: ReportOutcome) -> None:
        self.outcome = outcome
        self.status.setText(f"Saved {outcome.pages} page(s) to {outcome.path}")
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(outcome.path)))
        self.accept()
