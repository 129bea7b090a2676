"""A passing note in the status bar that is elided to fit, with the whole text as tooltip.

``QStatusBar.showMessage`` cuts a long message off at the window edge (a backup path is
long); this label shortens it with "…" in the middle, where a path is least informative,
and keeps the full text in its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class StatusNote(QLabel):
    """Status-bar text elided to the room it gets; ``show_note`` clears itself after a while."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusNote")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clear_note)

    @property
    def full_text(self) -> str:
        return self._full

    def show_note(self, text: str, timeout_ms: int = 0) -> None:
        """Show ``text`` (elided if need be); clear it after ``timeout_ms`` unless 0."""
        self._full = text
        self.setToolTip(text)
        self.setText(text)
        if timeout_ms > 0:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def clear_note(self) -> None:
        self._timer.stop()
        self._full = ""
        self.setToolTip("")
        self.clear()

    def is_elided(self) -> bool:
        """Whether the text is wider than the room the label has."""
        return self.fontMetrics().horizontalAdvance(self._full) > self.contentsRect().width()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle,
                                             rect.width())
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         text)
