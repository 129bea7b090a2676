"""Sign-in: first-run administrator creation, the login dialog, and the lock screen.

``sign_in`` is the one seam the rest of the GUI (and its tests) goes through;
``continue_sign_in`` takes over the dialog the desktop start showed first.

The start shows one of these dialogs before the database is open (see
``clinic_app/app.py``), so this module imports only what that window needs (the message
boxes and the worker threads when first used, and not PySide6's ``Qt`` namespace, whose
enums take ~25 ms to build) while the data layers load behind it. A
dialog without its clinic yet keeps a submitted form, says "Opening the database…" and goes
on once :meth:`CredentialsDialog.clinic_ready` hands it the clinic; nothing is accepted
without the clinic's own password check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
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
from clinic_app.domain.limits import MIN_PASSWORD

if TYPE_CHECKING:
    from PySide6.QtCore import QEvent

    from clinic_app.domain.permissions import Principal
    from clinic_app.services.facade import Clinic

OPENING = "Opening the database…"
Submit = Callable[["Clinic"], Callable[[], "Principal"]]
"""What OK does once the clinic is there: a task for a worker thread, made from it."""


class CredentialsDialog(QDialog):
    """Shared layout: a form, an inline error line and OK/Cancel."""

    def __init__(self, parent: QWidget | None, object_name: str, title: str, intro: str,
                 clinic: Clinic | None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWindowTitle(title)
        self.setMinimumWidth(420)
        self.principal: Principal | None = None
        self._clinic = clinic
        self._waiting: Submit | None = None  # OK pressed before the clinic was there
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
        self.wait_label = QLabel(OPENING, objectName="signInWaiting")
        self.wait_label.setStyleSheet("color: #555;")
        self.wait_label.hide()
        layout.addWidget(self.wait_label)
        # Added one by one: handing the flags to the constructor makes PySide6 build its
        # whole ``Qt`` namespace (~25 ms) before the first window can paint.
        self.buttons = QDialogButtonBox()
        for which in (QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel):
            self.buttons.addButton(which)
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
            field.setFocus()

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        # Grow to the wrapped message (e.g. a lockout or a refused account takes 2-3 lines);
        # an already shown dialog keeps its height otherwise and clips the text.
        self.layout().activate()
        self.resize(self.width(), max(self.height(), self.sizeHint().height(),
                                      self.heightForWidth(self.width())))
        self.buttons.setEnabled(True)

    def clinic_ready(self, clinic: Clinic) -> None:
        """The database is open: a form submitted while it opened goes ahead now."""
        self._clinic = clinic
        submit, self._waiting = self._waiting, None
        if submit is not None:
            self.wait_label.hide()
            self._set_fields_locked(False)
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
            self._run(submit(clinic))

    @property
    def waiting(self) -> bool:
        """OK was pressed and the form waits for the database to open."""
        return self._waiting is not None

    def _set_fields_locked(self, locked: bool) -> None:
        for edit in self._fields:
            edit.setReadOnly(locked or edit.property("alwaysReadOnly") is True)

    def _submit_with(self, submit: Submit) -> None:
        """Run ``submit`` on the clinic now, or as soon as the database is open (the form
        stays as typed, read-only, with "Opening the database…" under it)."""
        if self._clinic is not None:
            self._run(submit(self._clinic))
            return
        self._waiting = submit
        self.error_label.hide()
        self.wait_label.show()
        self._set_fields_locked(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)

    def _run(self, task) -> None:  # type: ignore[no-untyped-def]
        from clinic_app.ui import ops  # not before the window is painted (see the top)

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


class FirstAdminDialog(CredentialsDialog):
    """Create the first administrator account on a new database."""

    def __init__(self, parent: QWidget | None, clinic: Clinic | None) -> None:
        super().__init__(parent, "firstAdminDialog", "Create the administrator account",
                         "This database has no user accounts yet. Create the administrator, "
                         "who can then add therapists and front-desk users.", clinic)
        self.username = self._field("User name:", "adminUsername")
        self.full_name = self._field("Full name:", "adminFullName")
        self.password = self._field("Password:", "adminPassword", secret=True)
        self.repeat = self._field("Repeat password:", "adminRepeat", secret=True)
        self.password.setPlaceholderText(f"at least {MIN_PASSWORD} characters")
        self.username.setFocus()

    def reject(self) -> None:
        """Cancel, Escape or closing the window: without an administrator nobody can use
        Backstep, so ask before quitting (and keep what was typed if the answer is no)."""
        from clinic_app.ui import messages

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
        user, name, pw = self.username.text(), self.full_name.text(), self.password.text()
        self._submit_with(lambda clinic: lambda: clinic.create_first_admin(user, name, pw))


class LoginDialog(CredentialsDialog):
    """Sign in with user name and password (five wrong tries lock the account)."""

    def __init__(self, parent: QWidget | None, clinic: Clinic | None, username: str = "",
                 locked_to: Principal | None = None) -> None:
        # The same prompt follows Lock now (Ctrl+L) and the inactivity timer: name neither.
        intro = ("Backstep is locked and the record is hidden. Enter your password to continue."
                 if locked_to else "Sign in to Backstep.")
        super().__init__(parent, "loginDialog", "Sign in", intro, clinic)
        self._locked_to = locked_to
        self.username = self._field("User name:", "loginUsername")
        self.password = self._field("Password:", "loginPassword", secret=True)
        self.username.setText(locked_to.username if locked_to else username)
        self.username.setReadOnly(locked_to is not None)
        self.username.setProperty("alwaysReadOnly", locked_to is not None)
        (self.password if self.username.text() else self.username).setFocus()

    def _submit(self) -> None:
        user, pw = self.username.text(), self.password.text()
        unlocking = self._locked_to is not None

        def submit(clinic: Clinic) -> Callable[[], Principal]:
            self.password.clear()  # as it goes to the check, never before
            # Unlocking checks the password of who is signed in; signing in binds the clinic.
            check = clinic.check_password if unlocking else clinic.sign_in
            return lambda: check(user, pw)

        self._submit_with(submit)


def early_dialog(first_run: bool, username: str = "") -> CredentialsDialog:
    """The dialog a start shows before its database is open: the first-run form when the
    database is known to be new (no file yet), else the sign-in form. :func:`sign_in`
    takes it over once the clinic is there, switching form if the database says so."""
    if first_run:
        return FirstAdminDialog(None, None)
    return LoginDialog(None, None, username)


def _switched(shown: CredentialsDialog, parent: QWidget | None, clinic: Clinic,
              first_run: bool, username: str) -> CredentialsDialog:
    """The other form in place of ``shown``, with what was typed carried over (a form
    submitted while waiting is not: creating an administrator needs its own OK)."""
    typed = {f.objectName(): f.text() for f in shown._fields}
    dialog: CredentialsDialog
    if first_run:
        admin = FirstAdminDialog(parent, clinic)
        admin.username.setText(typed.get("loginUsername", ""))
        admin.password.setText(typed.get("loginPassword", ""))
        dialog = admin
    else:
        login = LoginDialog(parent, clinic, typed.get("adminUsername", "") or username)
        login.password.setText(typed.get("adminPassword", ""))
        dialog = login
    field = dialog.first_empty_field()
    if field is not None:  # typing goes on where the new form still needs something
        field.setFocus()
    dialog.setWindowModality(shown.windowModality())
    if shown.isVisible():
        dialog.move(shown.pos())
    shown.blockSignals(True)  # replaced, not cancelled
    shown.hide()
    shown.deleteLater()
    return dialog


def sign_in(parent: QWidget | None, clinic: Clinic, username: str = "") -> Principal | None:
    """Ask who is working: first-run administrator, else the login dialog; ``clinic`` then
    acts for them. None = cancelled."""
    dialog: CredentialsDialog
    if clinic.needs_first_admin():
        dialog = FirstAdminDialog(parent, clinic)
    else:
        dialog = LoginDialog(parent, clinic, username)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    return dialog.principal if accepted else None


def continue_sign_in(shown: CredentialsDialog, parent: QWidget | None, clinic: Clinic,
                     username: str, done: Callable[[Principal | None], None]) -> None:
    """:func:`sign_in` for the dialog already on screen since before the database was open
    (:func:`early_dialog`), without waiting in a nested event loop: what was typed is kept
    (the other form replaces it if the database says so) and ``done`` gets who signed in,
    or None when cancelled."""
    first_run = clinic.needs_first_admin()
    dialog = shown
    if isinstance(shown, FirstAdminDialog) != first_run:
        dialog = _switched(shown, parent, clinic, first_run, username)
    dialog.finished.connect(lambda code: done(
        dialog.principal if code == QDialog.DialogCode.Accepted else None))
    dialog.clinic_ready(clinic)
    if not dialog.isVisible():
        dialog.show()


def unlock(parent: QWidget | None, clinic: Clinic) -> bool:
    """The lock screen: only the signed-in user's password reopens the window."""
    from PySide6.QtCore import Qt

    dialog = LoginDialog(parent, clinic, locked_to=clinic.principal)
    dialog.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
    return dialog.exec() == QDialog.DialogCode.Accepted


class InactivityLock(QObject):
    """Emits ``timed_out`` after ``minutes`` without keyboard or mouse input anywhere."""

    timed_out = Signal()

    def __init__(self, minutes: float, parent: QObject | None = None) -> None:
        from PySide6.QtCore import QEvent

        super().__init__(parent)
        self.input_events = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress,
                             QEvent.Type.MouseMove, QEvent.Type.Wheel}
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.timed_out)
        self.set_minutes(minutes)

    def set_minutes(self, minutes: float) -> None:
        self.timer.setInterval(max(1, int(minutes * 60_000)))
        self.timer.start()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in self.input_events and self.timer.isActive():
            self.timer.start()
        return False
