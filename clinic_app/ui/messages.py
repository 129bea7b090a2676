"""The one seam for every message box, question and file chooser the app shows.

Views call these functions and never ``QMessageBox`` directly, so tests patch this module
in one place (``monkeypatch.setattr(messages, "ask", ...)``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from clinic_app.ui.conflict_dialog import RELOAD_THEIRS, REVIEW_MINE, ConflictDialog

__all__ = ["OPEN_FILE", "OPEN_FOLDER", "RELOAD_THEIRS", "REVIEW_MINE", "ask", "ask_discard",
           "ask_reason", "choose_image", "file_written", "inform", "resolve_conflict", "warn"]

ConflictRow = tuple[str, str, str]
"""(field label, value stored by the other workstation, your value)."""


def ask(parent: QWidget | None, title: str, text: str, yes: str = "Yes", no: str = "No") -> bool:
    """A yes/no question; ``True`` if the user chose ``yes``."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    yes_btn = box.addButton(yes, QMessageBox.ButtonRole.YesRole)
    no_btn = box.addButton(no, QMessageBox.ButtonRole.NoRole)
    box.setDefaultButton(no_btn)
    box.setEscapeButton(no_btn)
    box.exec()
    return box.clickedButton() is yes_btn


def inform(parent: QWidget | None, title: str, text: str) -> None:
    """An information message."""
    QMessageBox.information(parent, title, text)


OPEN_FILE = "open_file"
OPEN_FOLDER = "open_folder"


def file_written(parent: QWidget | None, title: str, text: str, open_file: bool = True) -> str:
    """Tell the user where a file was written; offer to open it and its folder.

    ``open_file=False`` is for a file that could not be shown (no viewer): a warning with
    only "Open folder". Returns :data:`OPEN_FILE`, :data:`OPEN_FOLDER` or ``""`` (closed
    with OK). The text can be selected, so the path can be copied.
    """
    icon = QMessageBox.Icon.Information if open_file else QMessageBox.Icon.Warning
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("fileWrittenMessage")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    file_btn = box.addButton("Open report", QMessageBox.ButtonRole.ActionRole) if open_file \
        else None
    folder_btn = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
    box.setDefaultButton(QMessageBox.StandardButton.Ok)
    box.exec()
    clicked = box.clickedButton()
    if file_btn is not None and clicked is file_btn:
        return OPEN_FILE
    return OPEN_FOLDER if clicked is folder_btn else ""


def warn(parent: QWidget | None, title: str, text: str, details: str | None = None) -> None:
    """A warning the user must acknowledge; ``details`` go behind a "Show Details" button."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def ask_discard(parent: QWidget | None) -> bool:
    """"Discard changes?" when a form with unsaved changes is cancelled or closed."""
    return ask(parent, "Discard changes?",
               "You have changes that are not saved. Discard them?",
               yes="Discard changes", no="Keep editing")


def ask_reason(parent: QWidget | None, title: str, prompt: str, text: str = "") -> str | None:
    """A required free-text reason (e.g. why an entry is in error); ``None`` if cancelled.

    ``text`` starts the field (a reason typed before, kept when asking again); Ctrl+Enter
    confirms, as Enter starts a new line.
    """
    dlg = QDialog(parent)
    dlg.setObjectName("reasonDialog")
    dlg.setWindowTitle(title)
    layout = QVBoxLayout(dlg)
    label = QLabel(prompt)
    label.setWordWrap(True)
    layout.addWidget(label)
    edit = QPlainTextEdit()
    edit.setObjectName("reasonEdit")
    label.setBuddy(edit)  # a screen reader announces the question with the field
    edit.setTabChangesFocus(True)
    edit.setPlaceholderText("Required, at least 3 characters")
    layout.addWidget(edit)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText("Mark entered in error")
    ok.setEnabled(False)
    edit.textChanged.connect(lambda: ok.setEnabled(len(edit.toPlainText().strip()) >= 3))
    edit.setPlainText(text)
    edit.moveCursor(QTextCursor.MoveOperation.End)  # typing goes on after the kept reason
    ok.setToolTip("Mark entered in error (Ctrl+Enter)")

    def confirm() -> None:
        if ok.isEnabled():
            dlg.accept()

    for seq in ("Ctrl+Return", "Ctrl+Enter"):
        QShortcut(QKeySequence(seq), dlg, activated=confirm)
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    layout.addWidget(buttons)
    dlg.resize(420, 200)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    return edit.toPlainText().strip()


def ask_password(parent: QWidget | None, title: str) -> str | None:
    """A new password typed twice; ``None`` if cancelled. Length is checked by the service."""
    from PySide6.QtWidgets import QFormLayout, QLineEdit

    dlg = QDialog(parent)
    dlg.setObjectName("passwordDialog")
    dlg.setWindowTitle(title)
    form = QFormLayout(dlg)
    first, second = QLineEdit(), QLineEdit()
    for edit in (first, second):
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    form.addRow("New password:", first)
    form.addRow("Repeat:", second)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.setEnabled(False)

    def check() -> None:
        ok.setEnabled(bool(first.text()) and first.text() == second.text())

    first.textChanged.connect(check)
    second.textChanged.connect(check)
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    form.addRow(buttons)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    return first.text()


def resolve_conflict(parent: QWidget | None, what: str, rows: list[ConflictRow],
                     note: str = "") -> str | None:
    """Show the fields both sides changed, the other workstation's value next to the user's;
    ``note`` says who stored it and when.

    Returns :data:`RELOAD_THEIRS`, :data:`REVIEW_MINE` or ``None`` (cancel: keep editing).
    """
    dlg = ConflictDialog(parent, what, rows, note)
    dlg.exec()
    return dlg.choice


def choose_image(parent: QWidget | None, title: str = "Choose logo") -> Path | None:
    """A PNG or JPEG file chosen by the user, or ``None``."""
    name, _ = QFileDialog.getOpenFileName(parent, title, "", "Images (*.png *.jpg *.jpeg)")
    return Path(name) if name else None
