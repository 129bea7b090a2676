"""Sign-in: first-run administrator creation, the login dialog, and the lock screen.

``sign_in`` is the one seam the rest of the GUI (and its tests) goes through.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import DomainError
from clinic_app.domain.permissions import Principal
from clinic_app.services import security
from clinic_app.services.facade import Clinic
from clinic_app.ui import messages, ops


class _CredentialsDialog(QDialog):
    """Shared layout: a form, an inline error line and OK/Cancel."""

    def __init__(self, parent: QWidget | None, object_name: str, title: str, intro: str) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWindowTitle(title)
        self.setMinimumWidth(420)
        self.principal: Principal | None = None
        layout = QVBoxLayout(self)
        text = QLabel(intro)
        text.setWordWrap(True)
        layout.addWidget(text)
        self.form = QFormLayout()
        layout.addLayout(self.form)
        self.error_label = QLabel(objectName="signInError")
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        # Only OK answers Enter: a focused Cancel must never be the "default" (Space or
        # Enter on it still cancels, as on any focused button).
        for button in self.buttons.buttons():
            button.setAutoDefault(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setDefault(True)
        layout.addWidget(self.buttons)
        self._fields: list[QLineEdit] = []

    def _field(self, label: str, name: str, secret: bool = False) -> QLineEdit:
        edit = QLineEdit(objectName=name)
        if secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow(label, edit)
        # The buttons were made first; Tab goes through the fields top to bottom, then OK,
        # then Cancel, the order they are seen in.
        self.setTabOrder(self._fields[-1] if self._fields else edit, edit)
        self._fields.append(edit)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.setTabOrder(edit, ok)
        self.setTabOrder(ok, self.buttons.button(QDialogButtonBox.StandardButton.Cancel))
        return edit

    def first_empty_field(self) -> QLineEdit | None:
        """Where typing starts: the first editable field still empty (else the first)."""
        editable = [f for f in self._fields if not f.isReadOnly()]
        return next((f for f in editable if not f.text()), editable[0] if editable else None)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        field = self.first_empty_field()
        if field is not None and self.focusWidget() not in self._fields:
            field.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        # Grow to the wrapped message (e.g. a lockout or a refused account takes 2-3 lines);
        # an already shown dialog keeps its height otherwise and clips the text.
        self.layout().activate()
        self.resize(self.width(), max(self.height(), self.sizeHint().height(),
                                      self.heightForWidth(self.width())))
        self.buttons.setEnabled(True)

    def _run(self, task) -> None:  # type: ignore[no-untyped-def]
        self.buttons.setEnabled(False)
        self.error_label.hide()

        def done(principal: Principal) -> None:
            self.principal = principal
            self.accept()

        def failed(exc: BaseException) -> bool:
            if isinstance(exc, DomainError):
                self.show_error(str(exc))
                return True
            self.buttons.setEnabled(True)
            return False

        ops.run_op(self, task, done, failed, title=self.windowTitle())

    def _submit(self) -> None:
        raise NotImplementedError


class FirstAdminDialog(_CredentialsDialog):
    """Create the first administrator account on a new database."""

    def __init__(self, parent: QWidget | None, clinic: Clinic) -> None:
        super().__init__(parent, "firstAdminDialog", "Create the administrator account",
                         "This database has no user accounts yet. Create the administrator, "
                         "who can then add therapists and front-desk users.")
        self._clinic = clinic
        self.username = self._field("User name:", "adminUsername")
        self.full_name = self._field("Full name:", "adminFullName")
        self.password = self._field("Password:", "adminPassword", secret=True)
        self.repeat = self._field("Repeat password:", "adminRepeat", secret=True)
        self.password.setPlaceholderText(f"at least {security.MIN_PASSWORD} characters")
        self.username.setFocus()

    def reject(self) -> None:
        """Cancel, Escape or closing the window: without an administrator nobody can use
        Backstep, so ask before quitting (and keep what was typed if the answer is no)."""
        if not messages.ask(
            self, "Quit Backstep?",
            "Backstep cannot be used until the administrator account is created.\n\n"
            "Quit Backstep now? Nothing has been saved.",
            yes="Quit", no="Continue setting up",
        ):
            return
        super().reject()

    def _submit(self) -> None:
        if self.password.text() != self.repeat.text():
            self.show_error("Repeat password: does not match the password.")
            self.repeat.setFocus()
            return
        clinic, user, name, pw = (self._clinic, self.username.text(), self.full_name.text(),
                                  self.password.text())
        self._run(lambda: clinic.create_first_admin(user, name, pw))


class LoginDialog(_CredentialsDialog):
    """Sign in with user name and password (five wrong tries lock the account)."""

    def __init__(self, parent: QWidget | None, clinic: Clinic, username: str = "",
                 locked_to: Principal | None = None) -> None:
        # The same prompt follows Lock now (Ctrl+L) and the inactivity timer: name neither.
        intro = ("Backstep is locked and the record is hidden. Enter your password to continue."
                 if locked_to else "Sign in to Backstep.")
        super().__init__(parent, "loginDialog", "Sign in", intro)
        self._clinic = clinic
        self._locked_to = locked_to
        self.username = self._field("User name:", "loginUsername")
        self.password = self._field("Password:", "loginPassword", secret=True)
        self.username.setText(locked_to.username if locked_to else username)
        self.username.setReadOnly(locked_to is not None)
        (self.password if self.username.text() else self.username).setFocus()

    def _submit(self) -> None:
        clinic, user, pw = self._clinic, self.username.text(), self.password.text()
        self.password.clear()
        # Unlocking checks the password of who is signed in; signing in binds the clinic.
        check = clinic.check_password if self._locked_to is not None else clinic.sign_in
        self._run(lambda: check(user, pw))


def sign_in(parent: QWidget | None, clinic: Clinic, username: str = "") -> Principal | None:
    """Ask who is working: first-run administrator, else the login dialog; ``clinic`` then
    acts for them. None = cancelled."""
    dialog: _CredentialsDialog
    if clinic.needs_first_admin():
        dialog = FirstAdminDialog(parent, clinic)
    else:
        dialog = LoginDialog(parent, clinic, username)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    return dialog.principal if accepted else None


def unlock(parent: QWidget | None, clinic: Clinic) -> bool:
    """The lock screen: only the signed-in user's password reopens the window."""
    dialog = LoginDialog(parent, clinic, locked_to=clinic.principal)
    dialog.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
    return dialog.exec() == QDialog.DialogCode.Accepted


class InactivityLock(QObject):
    """Emits ``timed_out`` after ``minutes`` without keyboard or mouse input anywhere."""

    timed_out = Signal()
    INPUT = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
             QEvent.Type.Wheel}

    def __init__(self, minutes: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.timed_out)
        self.set_minutes(minutes)

    def set_minutes(self, minutes: float) -> None:
        self.timer.setInterval(max(1, int(minutes * 60_000)))
        self.timer.start()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in self.INPUT and self.timer.isActive():
            self.timer.start()
        return False
