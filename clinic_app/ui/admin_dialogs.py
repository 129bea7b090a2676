"""Administrator tools: user accounts and the audit trail viewer."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.records import Role, User
from clinic_app.persistence.audit import ChainReport
from clinic_app.services import security
from clinic_app.services.audit_view import AuditLine, AuditPage, change_text
from clinic_app.ui import messages, ops
from clinic_app.ui.context import UiContext

ROLE_LABELS = {Role.ADMIN: "Administrator", Role.THERAPIST: "Therapist",
               Role.FRONT_DESK: "Front desk (read-only)"}


def _table(headers: list[str], name: str) -> QTableWidget:
    table = QTableWidget(0, len(headers), objectName=name)
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    return table


class UsersDialog(QDialog):
    """List accounts; add, deactivate/reactivate, reset a password. Accounts are never deleted."""

    def __init__(self, parent: QWidget | None, ctx: UiContext) -> None:
        super().__init__(parent)
        self.setObjectName("usersDialog")
        self.setWindowTitle("User accounts")
        self.resize(640, 420)
        self._ctx = ctx
        self.users: list[User] = []
        layout = QVBoxLayout(self)
        self.table = _table(["User name", "Full name", "Role", "Status"], "usersTable")
        self.table.setAccessibleName("User accounts")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add user…", objectName="addUserButton")
        self.toggle_button = QPushButton("Deactivate", objectName="toggleUserButton")
        self.reset_button = QPushButton("Reset password…", objectName="resetPasswordButton")
        for b in (self.add_button, self.toggle_button, self.reset_button):
            row.addWidget(b)
        row.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row.addWidget(close)
        layout.addLayout(row)
        self.add_button.clicked.connect(self.add_user)
        self.toggle_button.clicked.connect(self.toggle_active)
        self.reset_button.clicked.connect(self.reset_password)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.reload()

    def reload(self) -> None:
        ctx = self._ctx
        ops.run_op(self, lambda: ctx.clinic.list_users(), self._show,
                   title="User accounts")

    def _show(self, users: list[User]) -> None:
        self.users = users
        self.table.setRowCount(len(users))
        for r, u in enumerate(users):
            for c, text in enumerate((u.username, u.full_name, ROLE_LABELS[u.role],
                                      "active" if u.active else "deactivated")):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self._update_buttons()

    def selected(self) -> User | None:
        rows = self.table.selectionModel().selectedRows()
        return self.users[rows[0].row()] if rows else None

    def _update_buttons(self) -> None:
        user = self.selected()
        self.toggle_button.setEnabled(user is not None)
        self.reset_button.setEnabled(user is not None)
        if user is not None:
            self.toggle_button.setText("Deactivate" if user.active else "Reactivate")

    def add_user(self) -> None:
        dialog = NewUserDialog(self, self._ctx)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.reload()

    def toggle_active(self) -> None:
        user, ctx = self.selected(), self._ctx
        if user is None:
            return
        ops.run_op(self, lambda: ctx.clinic.set_active(user.username,
                                                     not user.active),
                   lambda _r: self.reload(), title="User accounts")

    def reset_password(self) -> None:
        user, ctx = self.selected(), self._ctx
        if user is None:
            return
        password = messages.ask_password(self, f"New password for {user.username}")
        if password is None:
            return
        ops.run_op(self, lambda: ctx.clinic.reset_password(user.username,
                                                         password),
                   lambda _r: messages.inform(self, "Password reset",
                                              f"{user.username} can sign in with the new "
                                              "password; any lockout was lifted."),
                   title="User accounts")


class NewUserDialog(QDialog):
    """Create a therapist, front-desk or administrator account."""

    def __init__(self, parent: QWidget | None, ctx: UiContext) -> None:
        super().__init__(parent)
        self.setObjectName("newUserDialog")
        self.setWindowTitle("Add user")
        self.setMinimumWidth(420)
        self._ctx = ctx
        form = QFormLayout(self)
        self.username = QLineEdit(objectName="newUsername")
        self.full_name = QLineEdit(objectName="newFullName")
        self.role = QComboBox(objectName="newRole")
        for role in (Role.THERAPIST, Role.FRONT_DESK, Role.ADMIN):
            self.role.addItem(ROLE_LABELS[role], role)
        self.password = QLineEdit(objectName="newPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(f"at least {security.MIN_PASSWORD} characters")
        form.addRow("User name:", self.username)
        form.addRow("Full name:", self.full_name)
        form.addRow("Role:", self.role)
        form.addRow("Password:", self.password)
        self.error_label = QLabel(objectName="newUserError")
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setWordWrap(True)
        form.addRow(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def save(self) -> None:
        ctx = self._ctx
        args = (self.username.text(), self.full_name.text(), self.role.currentData(),
                self.password.text())

        def failed(exc: BaseException) -> bool:
            from clinic_app.domain.errors import DomainError

            if isinstance(exc, DomainError):
                self.error_label.setText(str(exc))
                return True
            return False

        ops.run_op(self, lambda: ctx.clinic.create_user(*args),
                   lambda _u: self.accept(), failed, title="Add user")


class AuditDialog(QDialog):
    """Newest-first audit events, 200 a page, and a check of the tamper-evident chain.

    Patients show as name and MRN and records as what they are ("Session 2026-03-02
    10:30"); the selected event's details are shown in full below the table.
    """

    PAGE = 200
    COLUMNS = ("#", "When (UTC)", "User", "Action", "Patient", "Record", "Details")
    DETAILS = 6
    # Wide enough for "Lindqvist-Hernández, Anna-Maria (MRN DEMO-0012)" and
    # "Test Knee flexion (left) 2026-03-02"; longer text is elided with a tooltip.
    MAX_TEXT_COLUMN = 320

    def __init__(self, parent: QWidget | None, ctx: UiContext) -> None:
        super().__init__(parent)
        self.setObjectName("auditDialog")
        self.setWindowTitle("Audit trail")
        self.resize(1240, 660)  # the largest that fits a 1280x720 screen with its frame
        self._ctx = ctx
        self.offset = 0
        self.total = 0
        self.lines: list[AuditLine] = []
        layout = QVBoxLayout(self)
        self.table = _table(list(self.COLUMNS), "auditTable")
        self.table.setAccessibleName("Audit events, newest first")
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setMinimumSectionSize(40)
        self.details = QPlainTextEdit(objectName="auditDetails")
        self.details.setAccessibleName("Details of the selected event")
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select an event to see all of its details.")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        layout.addWidget(split, 1)
        row = QHBoxLayout()
        self.newer = QPushButton("◀ Newer", objectName="auditNewer")
        self.older = QPushButton("Older ▶", objectName="auditOlder")
        self.page_label = QLabel(objectName="auditPage")
        self.verify_button = QPushButton("Verify chain", objectName="auditVerify")
        self.verdict = QLabel(objectName="auditVerdict")
        for w in (self.newer, self.older, self.page_label):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.verdict)
        row.addWidget(self.verify_button)
        layout.addLayout(row)
        self.newer.clicked.connect(lambda: self.load(max(0, self.offset - self.PAGE)))
        self.older.clicked.connect(lambda: self.load(self.offset + self.PAGE))
        self.verify_button.clicked.connect(self.verify)
        self.table.itemSelectionChanged.connect(self._show_details)
        self.load(0)

    def load(self, offset: int) -> None:
        ctx = self._ctx
        self.offset = offset
        ops.run_op(self, lambda: ctx.clinic.audit_lines(offset, self.PAGE),
                   self._show, title="Audit trail")

    def _show(self, page: AuditPage) -> None:
        self.total, self.lines = page.total, page.lines
        self.table.clearSelection()
        self.table.setRowCount(len(page.lines))
        for r, line in enumerate(page.lines):
            e = line.event
            cells = (str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor,
                     e.action.replace("_", " "), line.patient, line.record, line.details)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 4:
                    item.setToolTip(text)
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        for c in range(self.DETAILS):
            self.table.resizeColumnToContents(c)
            if c >= 4:
                header.resizeSection(c, min(header.sectionSize(c), self.MAX_TEXT_COLUMN))
        self.details.clear()
        last = min(self.total, self.offset + len(page.lines))
        self.page_label.setText(f"events {self.offset + 1 if page.lines else 0}–{last} "
                                f"of {self.total:,}")
        self.newer.setEnabled(self.offset > 0)
        self.older.setEnabled(last < self.total)
        if page.lines:
            # The newest event of the page is selected and its details shown: the table
            # opens with a current row, so the arrow keys move from a visible selection.
            self.table.selectRow(0)

    def _show_details(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.lines):
            self.details.clear()
            return
        line = self.lines[rows[0].row()]
        e = line.event
        text = [f"Event {e.seq} · {e.at:%Y-%m-%d %H:%M:%S} UTC · {e.actor} · "
                f"{e.action.replace('_', ' ')}"]
        if line.patient:
            text.append(f"Patient: {line.patient}")
        text.append(f"Record: {line.record}")
        if e.detail:
            text.append(f"Note: {e.detail}")
        changes = change_text(replace(e, detail=""))
        if changes:
            text.append("Changes:")
            text += [f"  {part}" for part in changes.split("; ")]
        self.details.setPlainText("\n".join(text))

    def verify(self) -> None:
        ctx = self._ctx
        self.verify_button.setEnabled(False)
        self.verdict.setText("Checking…")
        ops.run_op(self, lambda: ctx.clinic.verify_audit(), self._verified,
                   title="Audit trail")

    def _verified(self, report: ChainReport) -> None:
        self.verify_button.setEnabled(True)
        if report.ok:
            self.verdict.setText(f"Chain intact: {report.checked:,} events verified.")
            self.verdict.setStyleSheet("color: #1b5e20;")
        else:
            self.verdict.setText(f"TAMPERING DETECTED: {len(report.problems)} problem(s)")
            self.verdict.setStyleSheet("color: #b00020; font-weight: bold;")
            self.verdict.setToolTip("\n".join(report.problems[:50]))
        self.load(0)
