"""The dialog shown when another workstation changed a record while it was being edited."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

RELOAD_THEIRS = "reload"
REVIEW_MINE = "review"


class ConflictDialog(QDialog):
    """Side-by-side view of the stored record and the user's edit; never overwrites.

    ``choice`` is ``"reload"`` (take the stored record), ``"review"`` (keep my values in the
    form, based on the stored version, so I can check them and save again) or ``None``.
    """

    def __init__(self, parent: QWidget | None, what: str, rows: list[tuple[str, str, str]],
                 note: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("conflictDialog")
        self.setWindowTitle(f"{what} was changed on another workstation")
        self.choice: str | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"<b>{what} was changed on another workstation while you were editing it.</b><br>"
            "Nothing has been overwritten."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.note = QLabel(note, objectName="conflictNote")
        self.note.setWordWrap(True)
        self.note.setVisible(bool(note))
        table = QTableWidget(len(rows), 3, self)
        table.setObjectName("conflictTable")
        table.setAccessibleName("Fields changed on both workstations")
        table.setHorizontalHeaderLabels(["Field", "Stored by the other workstation", "Yours"])
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        bold = QFont()
        bold.setBold(True)
        for r, (label, theirs, mine) in enumerate(rows):
            cells = [QTableWidgetItem(label), QTableWidgetItem(theirs), QTableWidgetItem(mine)]
            differs = theirs != mine
            for c, item in enumerate(cells):
                item.setToolTip(item.text())
                if differs:
                    item.setBackground(QBrush(QColor("#fff3cd")))
                    item.setFont(bold)
                table.setItem(r, c, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.note)
        if rows:
            layout.addWidget(QLabel("<b>Changed on both sides:</b>"))
        layout.addWidget(table)
        table.setVisible(bool(rows))
        buttons = QDialogButtonBox()
        reload_btn = QPushButton("Reload theirs")
        reload_btn.setObjectName("reloadTheirsButton")
        reload_btn.setToolTip("Discard your edit and show the stored record (asks first)")
        # Only a click (or Space on it) discards typing: Enter must never land here.
        reload_btn.setAutoDefault(False)
        review_btn = QPushButton("Review and re-apply mine")
        review_btn.setObjectName("reviewMineButton")
        review_btn.setToolTip("Keep your values in the form; check them and save again")
        buttons.addButton(reload_btn, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(review_btn, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        reload_btn.clicked.connect(lambda: self._choose(RELOAD_THEIRS))
        review_btn.clicked.connect(lambda: self._choose(REVIEW_MINE))
        buttons.rejected.connect(self.reject)
        cancel = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAutoDefault(False)
        layout.addWidget(buttons)
        self.review_button = review_btn
        self.reload_button = reload_btn
        review_btn.setAutoDefault(True)
        review_btn.setDefault(True)
        if rows:
            self.resize(720, min(560, 200 + 30 * len(rows)))
        else:
            self.resize(720, self.sizeHint().height())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        # The button box hands the default to its first accept button when shown; the safe
        # choice takes it back, with the focus, so Enter keeps the user's typing.
        super().showEvent(event)
        self.review_button.setDefault(True)
        self.review_button.setFocus()

    def _choose(self, choice: str) -> None:
        self.choice = choice
        self.accept()
