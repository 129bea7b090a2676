"""A dialog that runs one long job (an import, a move) off the GUI thread and can cancel it."""

from __future__ import annotations

import threading

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QWidget


class CancellableJobDialog(QDialog):
    """Closing the dialog while its job runs cancels the job instead, and the dialog stays
    open to say so: the job's transaction is rolled back, never left half done.

    Subclasses create ``close_button`` and ``phase`` and set :attr:`CANCELLING`; they start
    their job with :func:`clinic_app.ui.ops.run_job` and ``cancel_event=self._cancel``.
    """

    CANCELLING = "Cancelling…"
    close_button: QPushButton
    phase: QLabel

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self.running = False

    def cancel(self) -> None:
        """Ask the running job to stop; nothing of it is kept."""
        if self.running:
            self._cancel.set()
            self.close_button.setEnabled(False)
            self.phase.setText(self.CANCELLING)

    def reject(self) -> None:
        """Close, or cancel first while the job runs (the dialog stays to say so)."""
        if self.running:
            self.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.running:
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)
