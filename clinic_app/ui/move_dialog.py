"""File ▸ Settings ▸ Database ▸ Move this clinic… (objectName ``moveDialog``).

Copies the whole clinic into an empty database of a server (or back to a SQLite file) off
the GUI thread through :func:`clinic_app.ui.ops.run_op`, with progress per table. The copy is
one transaction on the target and is compared table by table before it is committed, so a
failure or Cancel leaves both databases as they were.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ValidationError
from clinic_app.persistence.move import MoveResult, check_table, display_url
from clinic_app.ui import local_settings, messages, ops
from clinic_app.ui.context import UiContext
from clinic_app.ui.job_dialog import CancellableJobDialog

# What the tables hold, in the words of the progress line.
TABLE_WORDS = {
    "patient": "patients", "episode": "episodes of care", "walk_session": "sessions",
    "test_result": "test results", "app_user": "users", "audit_event": "audit trail",
    "clinic": "letterhead",
}


class MoveDialog(CancellableJobDialog):
    """Type the URL of an empty database, then move the whole clinic there."""

    CANCELLING = "Cancelling… nothing will be moved."

    def __init__(self, parent: QWidget | None, ctx: UiContext) -> None:
        super().__init__(parent)
        self.setObjectName("moveDialog")
        self.setWindowTitle("Move this clinic to another database")
        self.setMinimumWidth(640)
        self._ctx = ctx
        self.result: MoveResult | None = None

        intro = QLabel(
            f"Copies every patient, session, test, user, setting and the whole audit trail "
            f"from <b>{display_url(ctx.clinic.url)}</b> into an <b>empty</b> database, with the "
            "same record numbers. Writing here is paused while it runs; when it is done this "
            "database takes no more changes and every workstation uses the new one."
        )
        intro.setWordWrap(True)
        self.target = QLineEdit(objectName="moveTarget")
        self.target.setPlaceholderText("postgresql://backstep:PASSWORD@server/backstep")
        self.target.textChanged.connect(self._target_changed)
        self.target.setAccessibleName("Address of the new database")
        hint = QLabel("The server's database must exist and be empty (see the README, "
                      "“Growing to several workstations”).")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #555;")
        self.use_new = QCheckBox("Use the new database on this workstation from the next start",
                                 objectName="moveUseNew")
        self.use_new.setChecked(True)

        self.phase = QLabel("", objectName="movePhase")
        self.phase.setWordWrap(True)
        self.progress = QProgressBar(objectName="moveProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.report = QPlainTextEdit(objectName="moveReport")
        self.report.setReadOnly(True)
        self.report.setAccessibleName("Move report")
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report.setMinimumHeight(190)
        self.report.hide()

        buttons = QDialogButtonBox()
        self.move_button = QPushButton("Move", objectName="moveButton")
        self.move_button.setDefault(True)
        self.move_button.setEnabled(False)
        self.move_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close", objectName="moveClose")
        self.close_button.clicked.connect(self.reject)
        buttons.addButton(self.move_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(QLabel("Target database URL:"))
        layout.addWidget(self.target)
        layout.addWidget(hint)
        layout.addWidget(self.use_new)
        layout.addWidget(self.phase)
        layout.addWidget(self.progress)
        layout.addWidget(self.report, 1)
        layout.addWidget(buttons)

    def _target_changed(self, text: str) -> None:
        self.move_button.setEnabled(bool(text.strip()) and not self.running
                                    and self.result is None)

    # --- moving -----------------------------------------------------------------------
    def start(self) -> None:
        """Move the clinic to the typed URL (the Move button)."""
        url = self.target.text().strip()
        if self.running or not url:
            return
        if not messages.ask(self, "Move this clinic",
                            f"Copy the whole clinic to {display_url(url)} and retire this "
                            "database? Nobody can save changes here until it is done, and "
                            "afterwards only the new database takes changes.",
                            yes="Move", no="Cancel"):
            return
        self._set_running(True)
        self._cancel.clear()
        self.report.hide()
        self.progress.setValue(0)
        self.progress.show()
        self.phase.setText("Starting…")
        clinic = self._ctx.clinic
        # Cancel makes the next progress report raise: the target's transaction rolls back.
        ops.run_job(self, lambda job: clinic.move(url, job.progress), self._show_progress,
                    self._moved, self._failed, title="Move this clinic",
                    cancel_event=self._cancel)

    def _show_progress(self, phase: str, table: str, done: int, total: int) -> None:
        if not self.running or self._cancel.is_set():
            return
        what = TABLE_WORDS.get(table, table)
        verb = "Copying" if phase == "copying" else "Comparing"
        self.phase.setText(f"{verb} {what}: {done:,} of {total:,} rows")
        self.progress.setValue(1000 * done // total if total else 1000)

    def _moved(self, result: MoveResult) -> None:
        self._set_running(False)
        self.result = result
        self.move_button.setEnabled(False)
        self.progress.setValue(1000)
        self.target.setEnabled(False)
        text = (f"Moved {result.rows:,} rows to {result.target} in {result.seconds:.1f} s; "
                "every table compared equal. This database now refuses changes.")
        if self.use_new.isChecked():
            try:
                local_settings.save_db_url(self.target.text().strip())
                text += " Restart Backstep to work in the new database."
            except ValidationError as exc:
                text += f" The new database could not be remembered ({exc}): enter it in " \
                        "Settings ▸ Database."
        else:
            text += " Point this workstation at the new database in Settings ▸ Database."
        self.use_new.setEnabled(False)
        self.phase.setText(text)
        self.report.setPlainText(check_table(result.tables))
        self.report.show()
        # Room for every table's line (one per table plus the heading).
        lines = len(result.tables) + 2
        self.report.setMinimumHeight(self.report.fontMetrics().lineSpacing() * lines + 16)
        self.resize(max(self.width(), 680), max(self.height(), self.sizeHint().height()))

    def _failed(self, exc: BaseException) -> bool:
        self._set_running(False)
        self.progress.hide()
        if isinstance(exc, ops.Cancelled):
            self.phase.setText("Move cancelled: nothing was moved; this database is unchanged.")
            return True
        self.phase.setText("Nothing was moved; this database is unchanged.")
        return False  # ops shows the reason (e.g. the target is not empty) as it is

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.target.setEnabled(not running)
        self.use_new.setEnabled(not running)
        self.move_button.setEnabled(not running and bool(self.target.text().strip()))
        self.close_button.setEnabled(True)
        self.close_button.setText("Cancel move" if running else "Close")
