"""Settings: the clinic letterhead (shared, in the database) and this workstation's database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url

from clinic_app.config import data_dir
from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.permissions import Action, can
from clinic_app.domain.records import ClinicInfo
from clinic_app.services.clinic import MAX_LOGO_BYTES
from clinic_app.ui import local_settings, messages, ops
from clinic_app.ui.clinical_settings_page import ClinicalSettingsPage
from clinic_app.ui.context import UiContext
from clinic_app.ui.forms import FormDialog, ThreeWay, compare_drafts, merge_drafts
from clinic_app.ui.progression_rules_page import ProgressionRulesPage


class _WrappedNote(QLabel):
    """A word-wrapped note as tall as its text at the width it was given.

    A plain wrapped QLabel in a form asks for the height of a narrow guess at its width
    (here twice the text's height) and shows the rest as blank bands around the text.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        hint = super().sizeHint()
        if self.width() > hint.width():
            hint.setHeight(self.heightForWidth(self.width()))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the height wanted follows the width just given


class SettingsDialog(FormDialog):
    """Edit the letterhead printed on reports and choose the database for the next start."""

    def __init__(self, parent: QWidget | None, ctx: UiContext) -> None:
        super().__init__(parent, "settingsDialog", "Settings")
        self._ctx = ctx
        self._info: ClinicInfo | None = None
        self._logo: bytes | None = None
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_letterhead(), "Clinic letterhead")
        self.tabs.addTab(self._build_database(), "Database")
        self.clinical = ClinicalSettingsPage(ctx)
        self.tabs.addTab(self.clinical, "Clinical")
        self.progression = ProgressionRulesPage(ctx)
        self.tabs.addTab(self.progression, "Progression")
        # Switching pages hides the focused field; Qt then hands the default to another
        # button and Enter no longer saved. Keep Save the default on either page.
        self.tabs.currentChanged.connect(lambda _page: self.save_button.setDefault(True))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.save_button.setEnabled(False)
        self.resize(620, 460)
        ops.run_op(self, lambda: ctx.clinic.clinic_info(), self._loaded, title="Settings")

    def _build_letterhead(self) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        form = QFormLayout()
        outer.addLayout(form)
        # Spare height below the form: given to the logo row, it floated the preview half a
        # box below its buttons.
        outer.addStretch(1)
        self.name = QLineEdit(objectName="clinicNameEdit")
        self.address = QPlainTextEdit(objectName="clinicAddressEdit")
        self.address.setTabChangesFocus(True)
        self.address.setFixedHeight(80)
        self.phone = QLineEdit(objectName="clinicPhoneEdit")
        self.logo_preview = QLabel("No logo", objectName="logoPreview")
        self.logo_preview.setFixedSize(220, 90)
        self.logo_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.logo_preview.setStyleSheet("border: 1px dashed #aaa; color: #777;")
        choose = QPushButton("Choose logo…", objectName="chooseLogoButton")
        choose.setAutoDefault(False)
        choose.clicked.connect(self.choose_logo)
        remove = QPushButton("Remove logo", objectName="removeLogoButton")
        remove.setAutoDefault(False)
        remove.clicked.connect(lambda: self.set_logo(None))
        logo_row = QHBoxLayout()
        logo_row.addWidget(self.logo_preview)
        buttons = QVBoxLayout()
        buttons.addWidget(choose)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        logo_row.addLayout(buttons)
        logo_row.addStretch(1)
        form.addRow("Clinic name:", self.name)
        form.addRow("Address:", self.address)
        form.addRow("Phone:", self.phone)
        form.addRow("Logo (PNG/JPEG):", logo_row)
        self.register("Clinic name", self.name)
        self.register("Address", self.address)
        self.register("Phone", self.phone)
        self.register("Logo", choose, tracked=False)
        return page

    def _build_database(self) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        form = QFormLayout()
        outer.addLayout(form)
        # This tab is as tall as the letterhead tab: the spare height goes below the form,
        # not into blank bands around the wrapped note that cut it off from its field.
        outer.addStretch(1)
        current = make_url(self._ctx.clinic.url).render_as_string(hide_password=True)
        in_use = QLabel(current, objectName="currentDbLabel")
        in_use.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        in_use.setWordWrap(True)
        folder = QLabel(str(data_dir()), objectName="dataDirLabel")
        folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        folder.setWordWrap(True)
        self.db_url = QLineEdit(objectName="dbUrlEdit")
        self.db_url.setPlaceholderText("empty: local SQLite file in the data folder")
        self.db_url.setText(local_settings.saved_db_url() or "")
        note = _WrappedNote(
            "To share records between workstations, enter the URL of your clinic's PostgreSQL "
            "server, e.g. <tt>postgresql://backstep@server/clinic</tt>. The change applies "
            "when Backstep is restarted. A <tt>--db</tt> option or the CLINIC_APP_DB "
            "environment variable overrides this setting."
        )
        note.setWordWrap(True)
        form.addRow("Database in use:", in_use)
        form.addRow("Data folder:", folder)
        form.addRow("Database at next start:", self.db_url)
        form.addRow("", note)
        self.auto_lock = QSpinBox(objectName="autoLockMinutes")
        self.auto_lock.setRange(*local_settings.LOCK_RANGE)
        self.auto_lock.setSuffix(" min")
        self.auto_lock.setValue(local_settings.auto_lock_minutes())
        form.addRow("Lock after inactivity:", self.auto_lock)
        self.move_button = QPushButton("Move this clinic to another database…",
                                       objectName="moveClinicButton")
        self.move_button.setAutoDefault(False)
        self.move_button.setToolTip("Copy everything, users and audit trail included, into an "
                                    "empty database, e.g. a new clinic server (administrators)")
        self.move_button.setEnabled(can(self._ctx.principal, Action.ADMIN))
        self.move_button.clicked.connect(self.open_move)
        form.addRow("Whole clinic:", self.move_button)
        self.register("Database URL", self.db_url)
        return page

    def open_move(self) -> None:
        """The move dialog (administrators), over this one."""
        from clinic_app.ui.move_dialog import MoveDialog

        dialog = MoveDialog(self, self._ctx)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # --- letterhead -----------------------------------------------------------------
    def _loaded(self, info: ClinicInfo) -> None:
        self._info = info
        self._fill(info)
        self.save_button.setEnabled(True)
        self.mark_clean()

    def _fill(self, info: ClinicInfo) -> None:
        self.name.setText(info.name)
        self.address.setPlainText(info.address)
        self.phone.setText(info.phone)
        self.set_logo(info.logo_png)

    def _typed_info(self) -> ClinicInfo:
        assert self._info is not None
        return replace(self._info, name=self.name.text(), address=self.address.toPlainText(),
                       phone=self.phone.text(), logo_png=self._logo)

    def set_logo(self, data: bytes | None) -> None:
        self._logo = data
        if not data:
            self.logo_preview.setPixmap(QPixmap())
            self.logo_preview.setText("No logo")
            return
        pix = QPixmap()
        if not pix.loadFromData(QByteArray(data)):
            self.logo_preview.setText("Not a readable image")
            return
        self.logo_preview.setPixmap(pix.scaled(self.logo_preview.size(),
                                               Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))

    def choose_logo(self) -> None:
        path = messages.choose_image(self)
        if path is None:
            return
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            self.show_error(ValidationError("Logo", f"cannot be read ({exc.strerror})", "a file"))
            return
        if len(data) > MAX_LOGO_BYTES:
            self.show_error(ValidationError("Logo", f"is {len(data):,} bytes", "at most 2 MB"))
            return
        self.clear_errors()
        self.set_logo(data)

    def state(self) -> object:
        return (super().state(), self._logo)

    # --- saving -----------------------------------------------------------------------
    def save(self) -> None:
        if self.saving or self._info is None:
            return
        self.clear_errors()
        url = self.db_url.text().strip()
        try:
            if url != (local_settings.saved_db_url() or ""):
                local_settings.save_db_url(url or None)
            if self.auto_lock.value() != local_settings.auto_lock_minutes():
                local_settings.save_auto_lock_minutes(self.auto_lock.value())
                self._ctx.signals.settings_changed.emit()
        except ValidationError as exc:
            self.tabs.setCurrentIndex(1)
            self.show_error(exc)
            return
        if self.clinical.pending():
            # The dialog's Save covers every tab: a changed criteria set or rule must not be
            # closed away unsaved because its page's own button was not pressed.
            self.clinical.save(then=self._save_progression)
            return
        self._save_progression()

    def _save_progression(self) -> None:
        if not self.progression.pending():
            self._save_info()
            return
        self.progression.save(then=self._save_info)  # a refused rule shows on its page

    def _save_info(self) -> None:
        info = self._typed_info()
        if info == self._info:
            self.accept()
            return
        ctx = self._ctx
        self.set_saving(True)
        ops.run_op(self, lambda: ctx.clinic.save_clinic_info(info), self._saved,
                   self._save_failed, title="Settings")

    def _saved(self, info: ClinicInfo) -> None:
        self.set_saving(False)
        self._ctx.signals.clinic_changed.emit(info)
        self.accept()

    def _save_failed(self, exc: BaseException) -> bool:
        if isinstance(exc, ValidationError):
            self.tabs.setCurrentIndex(0)
        return self.handle_save_error(exc)

    def on_conflict(self, exc: ConflictError) -> None:
        """Another workstation saved the letterhead: the same choice as for a record, so the
        typed letterhead is kept unless the user chooses to reload."""
        base, mine, cur = self._info, self._typed_info(), exc.current
        compared = compare_drafts(base, cur, mine, LETTERHEAD_LABELS, _show_letterhead) \
            if isinstance(cur, ClinicInfo) and base is not None else ThreeWay([], [], [])

        def reload(c: ClinicInfo) -> None:
            self._info = c
            self._fill(c)

        def review(c: ClinicInfo) -> None:
            self._info = c
            self._fill(merge_drafts(base or c, mine, c))

        self.tabs.setCurrentIndex(0)
        self.resolve_conflict(exc, compared, reload, review)


LETTERHEAD_LABELS = {"name": "Clinic name", "address": "Address", "phone": "Phone",
                     "logo_png": "Logo"}


def _show_letterhead(attr: str, value: object) -> str:
    if attr == "logo_png":
        return "an image" if value else "none"
    return str(value) if value else "—"
