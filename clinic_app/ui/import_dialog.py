"""File ▸ Import from CSV… (objectName ``importDialog``): check, then store, with progress.

The import runs off the GUI thread through :func:`clinic_app.ui.ops.run_op`. Every row is
checked before anything is written, and everything is stored in one transaction, so a
problem anywhere, or Cancel at any moment, leaves the database exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.imports import ImportPhase, ImportRejected, ImportSummary
from clinic_app.ui import ops
from clinic_app.ui.context import UiContext
from clinic_app.ui.job_dialog import CancellableJobDialog

PHASES = list(ImportPhase)
MAX_PROBLEMS_SHOWN = 500  # the full list can be millions of lines; the first ones say enough


def summary_text(s: ImportSummary) -> str:
    """'Imported 3 patients, 3 episodes of care, 40 sessions and 12 test results.'"""
    def n(count: int, one: str, many: str) -> str:
        return f"{count:,} {one if count == 1 else many}"

    return (f"Imported {n(s.patients, 'patient', 'patients')}, "
            f"{n(s.episodes, 'episode of care', 'episodes of care')}, "
            f"{n(s.sessions, 'session', 'sessions')} and "
            f"{n(s.tests, 'test result', 'test results')}."
            + (f" Plan of care: {n(s.goals, 'goal', 'goals')}, "
               f"{n(s.prescriptions, 'prescription', 'prescriptions')}, "
               f"{n(s.checklists, 'session checklist', 'session checklists')}."
               if s.goals + s.prescriptions + s.checklists else "")
            + (f" Skipped {n(s.skipped, 'row', 'rows')} already stored unchanged."
               if s.skipped else ""))


class ImportDialog(CancellableJobDialog):
    """Choose a Backstep CSV export (folder) or one of its files, then import it."""

    CANCELLING = "Cancelling… nothing will be imported."

    def __init__(self, parent: QWidget | None, ctx: UiContext) -> None:
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.setWindowTitle("Import from CSV")
        self.setMinimumWidth(620)
        self._ctx = ctx
        self.summary: ImportSummary | None = None

        intro = QLabel(
            "Choose a folder exported by Backstep (patients.csv, episodes.csv, sessions.csv, "
            "tests.csv, and the plan of care: goals.csv, prescriptions.csv, "
            "session_safety.csv) or one of those files. Every row is checked first: if any row "
            "has a problem, nothing is imported and the problems are listed here."
        )
        intro.setWordWrap(True)
        self.path = QLineEdit(objectName="importPath")
        self.path.setPlaceholderText("Folder or .csv file")
        self.path.setAccessibleName("Folder or CSV file to import")
        self.path.textChanged.connect(self._path_changed)
        folder_button = QPushButton("Folder…", objectName="importChooseFolder")
        folder_button.clicked.connect(self._choose_folder)
        file_button = QPushButton("File…", objectName="importChooseFile")
        file_button.clicked.connect(self._choose_file)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(folder_button)
        where.addWidget(file_button)
        self._choosers = (folder_button, file_button)
        for button in self._choosers:
            # Enter after typing a path means Import, not "open a file chooser".
            button.setAutoDefault(False)

        self.phase = QLabel("", objectName="importPhase")
        self.phase.setWordWrap(True)
        self.progress = QProgressBar(objectName="importProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.problems = QPlainTextEdit(objectName="importProblems")
        self.problems.setReadOnly(True)
        self.problems.setAccessibleName("Problems found in the files")
        self.problems.setMinimumHeight(180)
        self.problems.hide()

        buttons = QDialogButtonBox()
        self.import_button = QPushButton("Import", objectName="importButton")
        self.import_button.setDefault(True)
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close", objectName="importClose")
        self.close_button.clicked.connect(self.reject)
        buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(where)
        layout.addWidget(self.phase)
        layout.addWidget(self.progress)
        layout.addWidget(self.problems, 1)
        layout.addWidget(buttons)

    # --- choosing ----------------------------------------------------------------------
    def _start_folder(self) -> str:
        here = self.path.text().strip()
        if here:
            return here
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder to import", self._start_folder())
        if chosen:
            self.path.setText(chosen)

    def _choose_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "File to import", self._start_folder(),
                                                "CSV files (*.csv)")
        if chosen:
            self.path.setText(chosen)

    def _path_changed(self, text: str) -> None:
        self.import_button.setEnabled(bool(text.strip()) and not self.running)

    # --- importing ---------------------------------------------------------------------
    def start(self) -> None:
        """Import what the path names (the Import button)."""
        source = Path(self.path.text().strip()).expanduser()
        if not source.exists():
            self.phase.setText(f"{source} does not exist: choose a folder or a .csv file.")
            return
        self._set_running(True)
        self._cancel.clear()
        self.summary = None
        self.problems.clear()
        self.problems.hide()
        self.progress.setValue(0)
        self.progress.show()
        self.phase.setText("Starting…")
        clinic = self._ctx.clinic
        # Cancel makes the next progress report raise: the import's transaction rolls back.
        ops.run_job(self, lambda job: clinic.import_csv(source, job.progress),
                    self._show_progress, self._imported, self._failed,
                    title="Import from CSV", cancel_event=self._cancel)

    def _show_progress(self, phase: ImportPhase, done: int, total: int) -> None:
        if not self.running or self._cancel.is_set():
            return
        step = PHASES.index(phase) + 1
        percent = 100 * done // total if total else 100
        text = f"Step {step} of {len(PHASES)}: {phase.label} — {percent} %"
        if phase == ImportPhase.STORING:
            text += f" ({done:,} of {total:,} rows)"
        self.phase.setText(text)
        self.progress.setValue(1000 * done // total if total else 1000)

    def _imported(self, summary: ImportSummary) -> None:
        self._set_running(False)
        self.summary = summary
        self.progress.setValue(1000)
        late = " (It had finished before Cancel took effect.)" if self._cancel.is_set() else ""
        self.phase.setText(summary_text(summary) + late)
        self.import_button.setEnabled(False)  # not the same files twice: choose others
        self._ctx.signals.data_reset.emit()  # the patient list shows the new patients

    def _failed(self, exc: BaseException) -> bool:
        self._set_running(False)
        self.progress.hide()
        if isinstance(exc, ops.Cancelled):
            self.phase.setText("Import cancelled: nothing was imported.")
            return True
        if isinstance(exc, ImportRejected):
            rows = len({(p.file, p.row) for p in exc.problems})
            self.phase.setText(
                f"Nothing was imported: {len(exc.problems):,} problem(s) in {rows:,} row(s). "
                "Correct them in the file(s) and import again."
            )
            shown = [str(p) for p in exc.problems[:MAX_PROBLEMS_SHOWN]]
            if len(exc.problems) > MAX_PROBLEMS_SHOWN:
                shown.append(f"… and {len(exc.problems) - MAX_PROBLEMS_SHOWN:,} more.")
            self.problems.setPlainText("\n".join(shown))
            self.problems.show()
            self.resize(self.width(), max(self.height(), self.sizeHint().height()))
            return True
        self.phase.setText("")
        return False  # ops shows other errors (e.g. no permission) as they are

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.path.setEnabled(not running)
        for button in self._choosers:
            button.setEnabled(not running)
        self.import_button.setEnabled(not running and bool(self.path.text().strip()))
        self.close_button.setEnabled(True)
        self.close_button.setText("Cancel import" if running else "Close")
