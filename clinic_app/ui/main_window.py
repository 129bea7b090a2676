"""The main window (objectName ``mainWindow``): patient search and list, patient record."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

import shiboken6
from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url

from clinic_app import __version__
from clinic_app.domain.changes import ALL, PATIENT, RecordChange
from clinic_app.domain.permissions import Action, can
from clinic_app.domain.records import Patient
from clinic_app.persistence.backup import BackupResult
from clinic_app.services.facade import (
    Clinic,
    DatabaseBusyError,
    DatabaseClosedError,
    DatabaseDamagedError,
)
from clinic_app.ui import accessibility, login, messages, ops
from clinic_app.ui.context import UiContext
from clinic_app.ui.live_updates import LiveUpdatesBridge
from clinic_app.ui.login import InactivityLock
from clinic_app.ui.patient_dialog import PatientDialog
from clinic_app.ui.patient_model import PatientListModel
from clinic_app.ui.record_view import RecordView
from clinic_app.ui.status_note import StatusNote

SEARCH_DEBOUNCE_MS = 150
DEMO_PATIENTS = 48  # 12 ACL patients: enough for a cohort overlay

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Shows immediately; becomes usable once :meth:`attach` hands it the open database."""

    closed = Signal()  # emitted when the window has been closed (the app quits on it)
    # The start-up integrity check found the database damaged: the window has shut itself
    # off (the app leaves with exit code 2, as when the check fails before the window).
    database_unusable = Signal()

    def __init__(self, actor: str = "", offer_demo: bool = True) -> None:
        super().__init__()
        accessibility.install()  # Enter presses a focused button; windows fit their screen
        self.setObjectName("mainWindow")
        self.setWindowTitle("Backstep — retro-walking knee rehabilitation")
        self.ctx: UiContext | None = None
        self.model: PatientListModel | None = None
        self._actor = actor
        self._auto_lock: InactivityLock | None = None
        self.identity_label = QLabel(objectName="identityLabel")
        self.status_note = StatusNote()
        self._backup_percent = -1  # last percent of the automatic backup shown
        self._backup_retries = 0  # automatic backup postponed while the database was busy
        self.statusBar().addWidget(self.status_note, 1)
        self.statusBar().addPermanentWidget(self.identity_label)
        self.locked = False
        self._offer_demo = offer_demo
        self._select_after_load: Patient | None = None
        # Re-selected after a refresh caused by another workstation, without reloading it.
        self._reselect_id: UUID | None = None
        self._reselecting = False
        self.live: LiveUpdatesBridge | None = None
        self._select_first = False  # Enter in the search: select the first row once loaded

        self.search = QLineEdit(objectName="patientSearch")
        self.search.setPlaceholderText("Search: name, MRN or date of birth (1961-04-23)")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Type part of a name, an MRN or a birth date (Ctrl+F); "
                               "Enter selects the first patient found")
        self.search.setAccessibleName("Search patients")
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._run_search)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self._focus_list)

        self.patient_list = QTableView(objectName="patientList")
        self.patient_list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.patient_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.patient_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.patient_list.verticalHeader().hide()
        self.patient_list.verticalHeader().setDefaultSectionSize(24)
        self.patient_list.setAlternatingRowColors(True)
        self.patient_list.setWordWrap(False)
        self.patient_list.setTabKeyNavigation(False)
        self.patient_list.setAccessibleName("Patients")
        self.count_label = QLabel("Opening database…", objectName="patientCount")
        self.count_label.setStyleSheet("color: #555;")
        self.new_patient_button = QPushButton("New patient…", objectName="newPatientButton")
        self.new_patient_button.setToolTip("Register a new patient (Ctrl+N)")
        self.new_patient_button.clicked.connect(self.new_patient)

        left = QWidget(objectName="patientPane")
        lay = QVBoxLayout(left)
        lay.setContentsMargins(6, 6, 0, 6)
        lay.addWidget(self.search)
        lay.addWidget(self.count_label)
        lay.addWidget(self.patient_list, 1)
        lay.addWidget(self.new_patient_button)

        self.record = RecordView()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.record)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 860])  # room for full names in the list
        splitter.setChildrenCollapsible(False)
        # Patients, and the clinic's cohorts (built when first shown: pyqtgraph stays out
        # of the start-up).
        self.pages = QTabWidget(objectName="mainPages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(splitter, "&Patients")
        self.cohort_holder = QWidget(objectName="cohortHolder")
        QVBoxLayout(self.cohort_holder).setContentsMargins(0, 0, 0, 0)
        self.cohort_page: QWidget | None = None
        self.pages.addTab(self.cohort_holder, "&Cohorts")
        self.pages.setTabVisible(1, False)
        self.pages.currentChanged.connect(self._page_shown)
        self.setCentralWidget(self.pages)
        self._build_menus()
        self._set_enabled(False)
        self.resize(1280, 800)  # shrunk to a smaller (or scaled) screen when shown

    def open_blank_forms(self) -> None:
        """Record › Blank questionnaire forms: printable answer sheets."""
        if self.ctx is None:
            return
        from clinic_app.ui.blank_forms_dialog import BlankFormsDialog

        dialog = BlankFormsDialog(self, self.ctx)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_patient_action = QAction("&New patient…", self)
        self.new_patient_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_patient_action.triggered.connect(self.new_patient)
        file_menu.addAction(self.new_patient_action)
        self.import_action = QAction("&Import from CSV…", self)
        self.import_action.setObjectName("importCsvAction")
        self.import_action.setToolTip("Import patients, sessions and tests from a CSV export")
        self.import_action.triggered.connect(self.open_import)
        file_menu.addAction(self.import_action)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        record_menu = self.menuBar().addMenu("&Record")
        self.new_episode_action = QAction("New &episode…", self, shortcut="Ctrl+E")
        # Through the button, so the same rules (a patient open, a clinical role) apply.
        self.new_episode_action.triggered.connect(self.record.new_episode_button.click)
        record_menu.addAction(self.new_episode_action)
        self.new_session_action = QAction("New &session…", self, shortcut="Ctrl+Shift+N")
        self.new_session_action.triggered.connect(self.record.new_session)
        record_menu.addAction(self.new_session_action)
        self.blank_forms_action = QAction("&Blank questionnaire forms…", self)
        self.blank_forms_action.triggered.connect(self.open_blank_forms)
        record_menu.addAction(self.blank_forms_action)
        find = QAction("&Find patient", self, shortcut=QKeySequence.StandardKey.Find)
        find.triggered.connect(self._focus_search)
        record_menu.addAction(find)
        record_menu.addSeparator()
        # Through the buttons, so the same rules (a patient open, the role) apply.
        self.edit_patient_action = QAction("Edit &patient…", self, shortcut="Ctrl+Shift+E")
        self.edit_patient_action.triggered.connect(self.record.edit_patient_button.click)
        record_menu.addAction(self.edit_patient_action)
        self.episode_in_error_action = QAction("Mark episode entered in e&rror…", self)
        self.episode_in_error_action.setToolTip(
            "An episode opened by mistake (e.g. on the wrong patient) stays on record with "
            "your reason, out of the list")
        self.episode_in_error_action.triggered.connect(
            lambda: self.record.mark_episode_in_error())
        record_menu.addAction(self.episode_in_error_action)
        # Same rule as "Edit episode…": an episode shown and a clinical role.
        record_menu.aboutToShow.connect(lambda: self.episode_in_error_action.setEnabled(
            self.record.edit_episode_button.isEnabled()))
        self.export_report_action = QAction("E&xport report…", self, shortcut="Ctrl+P")
        self.export_report_action.triggered.connect(self.record.export_button.click)
        record_menu.addAction(self.export_report_action)
        view_menu = self.menuBar().addMenu("&View")
        for index, (text, keys) in enumerate((("&Sessions", "Ctrl+1"),
                                              ("&Progress", "Ctrl+2"))):
            tab_action = QAction(text, self, shortcut=keys)
            tab_action.triggered.connect(lambda _c=False, i=index: self._show_tab(i))
            view_menu.addAction(tab_action)
        self.progress_action = view_menu.actions()[1]
        self.lock_action = QAction("&Lock now", self, shortcut="Ctrl+L")
        self.lock_action.triggered.connect(self.lock)
        file_menu.insertAction(quit_action, self.lock_action)
        admin_menu = self.menuBar().addMenu("&Admin")
        self.users_action = QAction("&Users…", self)
        self.users_action.triggered.connect(self.open_users)
        admin_menu.addAction(self.users_action)
        self.audit_action = QAction("&Audit trail…", self)
        self.audit_action.triggered.connect(self.open_audit)
        admin_menu.addAction(self.audit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Backstep", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.search, self.patient_list, self.new_patient_button, self.record):
            w.setEnabled(enabled)
        for a in (self.new_patient_action, self.settings_action, self.new_session_action,
                  self.lock_action, self.import_action):
            a.setEnabled(enabled)
        if enabled and self.ctx is not None:
            writes = can(self.ctx.principal, Action.WRITE_PATIENT)
            self.new_patient_button.setEnabled(writes)
            self.new_patient_action.setEnabled(writes)
            self.import_action.setEnabled(writes and can(self.ctx.principal,
                                                         Action.WRITE_CLINICAL))
        # Therapists and administrators only; the service refuses anyone else regardless.
        self.pages.setTabVisible(1, enabled and self.ctx is not None
                                 and can(self.ctx.principal, Action.COHORTS))
        admin = enabled and self.ctx is not None and can(self.ctx.principal, Action.ADMIN)
        for a in (self.users_action, self.audit_action):
            # Hidden from non-admins for clarity; the services refuse them regardless.
            a.setEnabled(admin)

    # --- database -----------------------------------------------------------------------
    def attach(self, clinic: Clinic) -> UiContext:
        """Start working with the open, signed-in ``clinic``: load the list, offer demo
        data if empty."""
        self.ctx = ctx = UiContext(clinic)
        who = ctx.principal
        self.model = PatientListModel(ctx.charting, self)
        self.model.loaded.connect(self._list_loaded)
        self.patient_list.setModel(self.model)
        header = self.patient_list.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Sized by _fit_columns whenever rows arrive: Qt's ResizeToContents measured the
        # columns while a search had emptied the list and kept them at that width.
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self._fit_columns()
        self.patient_list.selectionModel().selectionChanged.connect(self._selection_changed)
        # The list's first page is what the user waits for: its query runs first, and the
        # rest of the start's database work once it has arrived and been painted.
        self.model.first_page_settled.connect(
            lambda: ops.run_later(self, self._first_page_settled),
            Qt.ConnectionType.SingleShotConnection)
        self.model.set_search(self.search.text())
        self.record.attach(ctx, load_settings=False)
        ctx.signals.patient_saved.connect(self._patient_saved)
        ctx.signals.data_reset.connect(self.model.refresh)
        ctx.signals.settings_changed.connect(self._start_auto_lock)
        ctx.signals.records_changed.connect(self._records_changed)
        where = make_url(clinic.url).render_as_string(hide_password=True)
        role = who.role.value.replace("_", " ")
        # Permanent, so passing messages (e.g. the backup note) never hide who is signed in.
        self.identity_label.setText(f"Signed in: {who.label} ({role})  ·  database {where}")
        self._set_enabled(True)
        self._start_auto_lock()
        self.search.setFocus()
        return ctx

    def _first_page_settled(self) -> None:
        """The list's first page is on screen (or failed): the start's other database work
        (clinic settings, live updates, the daily backup, the integrity check's verdict,
        the demo offer)."""
        ctx = self.ctx
        if ctx is None or ctx.clinic.closed:  # the window closed as the page arrived
            return
        clinic = ctx.clinic
        self.record.load_settings()
        if self.live is not None:
            self.live.stop()
        self.live = LiveUpdatesBridge(ctx, self)
        # The daily backup is the application's own duty, whoever signs in first that day.
        # Streamed in the background with progress in the status bar; on PostgreSQL the
        # first workstation of the day takes it for the whole clinic.
        self._backup_retries = 0
        self._start_daily_backup()
        # Returns at once unless the start-up integrity check is still running (or failed).
        ops.run_op(self, clinic.require_intact, lambda _none: None, self._integrity_failed,
                   title="Database check")
        if self._offer_demo:
            ops.run_op(self, lambda: ctx.charting.count_patients(include_in_error=True, cap=1),
                       self._maybe_offer_demo, title="Backstep")

    def _maybe_offer_demo(self, count: int) -> None:
        if count or self.ctx is None:
            return
        if not messages.ask(
            self, "Welcome to Backstep",
            "There are no patients in this database yet.\n\nLoad demonstration data "
            f"({DEMO_PATIENTS} fictitious patients in knee rehabilitation with retro-walking "
            "sessions and tests) to explore the application?",
            yes="Load demo data", no="Start empty",
        ):
            return
        ctx = self.ctx
        self.count_label.setText("Adding demonstration patients…")
        self._set_enabled(False)

        def seeded(n: int) -> None:
            self._set_enabled(True)
            self.status_note.show_note(f"Added {n} demonstration patients.", 8000)
            ctx.signals.data_reset.emit()

        def failed(exc: BaseException) -> bool:
            self._set_enabled(True)
            return False

        ops.run_op(self, lambda: ctx.clinic.seed_demo(DEMO_PATIENTS), seeded, failed,
                   title="Demo data")

    # --- patient list -------------------------------------------------------------------
    # --- security ---------------------------------------------------------------------
    def _start_auto_lock(self) -> None:
        from PySide6.QtWidgets import QApplication

        from clinic_app.ui.local_settings import auto_lock_minutes

        if self._auto_lock is None:
            self._auto_lock = InactivityLock(auto_lock_minutes(), self)
            self._auto_lock.timed_out.connect(self.lock)
            app = QApplication.instance()
            if app is not None:
                app.installEventFilter(self._auto_lock)
        else:
            self._auto_lock.set_minutes(auto_lock_minutes())

    def lock(self) -> None:
        """Hide every patient detail until the signed-in user types their password again."""
        if self.ctx is None or self.locked:
            return
        self.locked = True
        central = self.centralWidget()
        central.hide()
        self.menuBar().setEnabled(False)
        # Nothing about a patient may stay on screen: not the title, not a status note, not
        # an open dialog. A dialog's contents are hidden but the dialog stays open: hiding
        # the dialog itself would end a running exec() and lose what was typed into it.
        title = self.windowTitle()
        self.setWindowTitle("Backstep — locked")
        self.status_note.clear_note()
        self.statusBar().clearMessage()
        veiled: list[tuple[QDialog, str, list[QWidget]]] = []
        for d in self.findChildren(QDialog):
            if d.isVisible():
                inner = [w for w in d.findChildren(
                    QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
                    if w.isVisible()]
                veiled.append((d, d.windowTitle(), inner))
                d.setWindowTitle("Backstep — locked")
                for w in inner:
                    w.hide()
        try:
            while not login.unlock(self, self.ctx.clinic):
                if messages.ask(self, "Backstep is locked",
                                "Quit Backstep? Unsaved entries in open dialogs are lost.",
                                yes="Quit", no="Sign in again"):
                    self.close()
                    return
        finally:
            self.locked = False
            self.menuBar().setEnabled(True)
            central.show()
            self.setWindowTitle(title)
            for d, dialog_title, inner in veiled:
                if shiboken6.isValid(d):
                    d.setWindowTitle(dialog_title)
                    for w in inner:
                        if shiboken6.isValid(w):
                            w.show()
            if self._auto_lock is not None:
                self._auto_lock.timer.start()

    def open_users(self) -> None:
        if self.ctx is not None:
            from clinic_app.ui.admin_dialogs import UsersDialog

            UsersDialog(self, self.ctx).open()

    def open_audit(self) -> None:
        if self.ctx is not None:
            from clinic_app.ui.admin_dialogs import AuditDialog

            AuditDialog(self, self.ctx).open()

    def _backup_progress(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent != self._backup_percent:
            self._backup_percent = percent
            self.status_note.show_note(
                f"Today's automatic backup is being written: {percent} %", 10_000)

    def _backup_done(self, result: BackupResult | None) -> None:
        if result is not None:
            log.info("Automatic backup written: %s", result.path)
            self.status_note.show_note(
                f"Today's automatic backup was written to {result.path}", 15000)

    def _integrity_failed(self, exc: BaseException) -> bool:
        if not isinstance(exc, DatabaseDamagedError):
            return False
        log.error("The database failed its integrity check: %s", exc)
        # Nothing more is shown from, or written to, the damaged file.
        self._set_enabled(False)
        self.centralWidget().hide()
        self.count_label.setText("The database is damaged.")
        messages.warn(self, "Cannot open the database", str(exc))
        self.database_unusable.emit()
        return True

    def _start_daily_backup(self) -> None:
        if self.ctx is None:
            return
        clinic = self.ctx.clinic
        self._backup_percent = -1
        ops.run_job(self, lambda job: clinic.daily_backup_if_due(job.progress),
                    self._backup_progress, self._backup_done, self._backup_failed,
                    title="Automatic backup")

    def _backup_failed(self, exc: BaseException) -> bool:
        if isinstance(exc, DatabaseDamagedError):
            return True  # reported once, by _integrity_failed
        if isinstance(exc, DatabaseClosedError):
            # Started as the window closed: nobody is waiting for it.
            log.info("Automatic backup dropped: the database was closed")
            return True
        if isinstance(exc, DatabaseBusyError) and self._backup_retries < 3:
            # A long write (demonstration data on first run, an import) holds the database:
            # a passing condition, so the backup is tried again rather than reported failed.
            self._backup_retries += 1
            log.info("Automatic backup postponed: the database is busy")
            self.status_note.show_note("The database is busy: today's automatic backup will "
                                       "be tried again in a minute.", 10_000)
            QTimer.singleShot(60_000, self._start_daily_backup)
            return True
        log.error("Automatic backup failed", exc_info=exc)
        messages.warn(self, "Automatic backup failed",
                      f"Today's automatic backup could not be written: {exc}\n\nYour data "
                      "is unchanged. Check free disk space, then use File ▸ Settings or "
                      "`clinic-app backup`.")
        return True

    def _run_search(self) -> None:
        if self.model is not None:
            self.count_label.setText("Searching…")
            self.model.set_search(self.search.text())

    def _list_loaded(self, total: int) -> None:
        assert self.model is not None
        self.count_label.setText(self._count_text(total))
        self._fit_columns()
        self._restore_selection()
        if self._select_first and self._select_after_load is None:
            self._select_first_row()
        want = self._select_after_load
        if want is None:
            return
        row = self.model.row_of(want.id)
        if row is not None:
            self._select_after_load = None
            self.patient_list.selectRow(row)
            self.patient_list.scrollTo(self.model.index(row, 0))
        elif self.model.search_text != want.draft.mrn:
            # The search in force hides the patient just saved: search for its MRN instead,
            # so the list shows (and selects) what was saved.
            self._debounce.stop()
            self.search.blockSignals(True)
            self.search.setText(want.draft.mrn)
            self.search.blockSignals(False)
            self._run_search()
        else:
            self._select_after_load = None  # gone meanwhile (e.g. entered in error)

    def _count_text(self, total: int) -> str:
        """What the label over the list says: how many match, as far as that is known."""
        assert self.model is not None
        shown = self.model.rowCount()
        matching = "matching " if self.model.search_text else ""
        if self.model.count_pending:
            # The count ran out of its time budget and comes later: say what is certain.
            return f"At least {shown:,} {matching}patients (counting…)"
        if self.model.count_capped:
            # Counting further would cost more than the list itself at a million patients.
            text = f"More than {self.model.count_cap:,} {matching}patients"
        else:
            text = f"{total:,} {matching}patient{'s' if total != 1 else ''}"
        if self.model.count_capped or shown < total:
            text += f" (first {shown:,} loaded; scroll for more)"
        return text

    def _records_changed(self, changes: list[RecordChange]) -> None:
        """Another workstation stored patients: update the list, keeping the selection."""
        shown = self.record.current_patient_id()
        theirs = [c for c in changes if c.kind != ALL and c.concerns_patient(shown)]
        if theirs and not self.locked:
            # Say why the record just changed on screen; no patient value in the note.
            who = ", ".join(dict.fromkeys(c.actor for c in theirs if c.actor)) or "someone"
            self.status_note.show_note(
                f"Updated: {who} saved changes to this record on another workstation "
                f"({datetime.now():%H:%M}).", 20_000)
        mine = [c for c in changes if c.kind in (PATIENT, ALL)]
        if self.model is None or self.ctx is None or not mine:
            return
        ids = {c.patient_id for c in mine if c.patient_id is not None}
        model = self.model
        if all(c.kind == PATIENT for c in mine) and all(model.row_of(i) is not None for i in ids):
            # Edits of patients already in the list: update those rows, keep the scrolling.
            svc = self.ctx.charting
            ops.run_op(self, lambda: [svc.get_patient(i) for i in ids], self._update_rows,
                       title="Patient list")
            return
        self._refresh_keeping_selection()

    def _update_rows(self, patients: list[Patient]) -> None:
        if self.model is None:
            return
        for p in patients:
            if p.stamp.entered_in_error or not self.model.update_patient(p):
                self._refresh_keeping_selection()  # gone from the list, or not loaded now
                return

    def _refresh_keeping_selection(self) -> None:
        assert self.model is not None
        rows = self.patient_list.selectionModel().selectedRows()
        chosen = self.model.patient_at(rows[0].row()) if rows else None
        if chosen is not None:
            self._reselect_id = chosen.id
        self.model.refresh()

    def _restore_selection(self) -> None:
        assert self.model is not None
        want, self._reselect_id = self._reselect_id, None
        row = self.model.row_of(want) if want is not None else None
        if row is None:
            return
        self._reselecting = True  # the record view refreshes itself on the same change
        try:
            self.patient_list.selectRow(row)
        finally:
            self._reselecting = False

    def _fit_columns(self) -> None:
        """Widen MRN and birth date to their header and loaded content; never narrow them."""
        header = self.patient_list.horizontalHeader()
        for column in (1, 2):
            needed = max(header.sectionSizeHint(column),
                         self.patient_list.sizeHintForColumn(column))
            if header.sectionSize(column) < needed:
                header.resizeSection(column, needed)

    def _selection_changed(self, selected: QItemSelection, _old: QItemSelection) -> None:
        assert self.model is not None
        rows = self.patient_list.selectionModel().selectedRows()
        if rows and not self._reselecting:
            patient = self.model.patient_at(rows[0].row())
            if patient is not None:
                self.record.show_patient(patient.id)

    def _patient_saved(self, patient: Patient) -> None:
        assert self.model is not None
        if self.model.update_patient(patient):
            return
        # A new patient: show it at once and select it when the list has it.
        self._select_after_load = patient
        self.record.show_patient(patient.id)
        self.model.refresh()

    def _focus_list(self) -> None:
        """Enter in the search: the list takes the focus with the first patient found
        selected (and opened), so the focus is visible and Down moves on from there."""
        self._debounce.stop()
        self._select_first = True
        self._run_search()
        self.patient_list.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _select_first_row(self) -> None:
        assert self.model is not None
        self._select_first = False
        if self.model.rowCount() == 0 or self.patient_list.selectionModel().hasSelection():
            return
        first = self.model.index(0, 0)
        self.patient_list.setCurrentIndex(first)
        self.patient_list.selectRow(0)
        self.patient_list.scrollTo(first)

    def _show_tab(self, index: int) -> None:
        """Ctrl+1 / Ctrl+2: the Sessions or Progress tab of the open record."""
        tabs = self.record.tabs
        if tabs.isVisible() and tabs.isEnabled() and tabs.isTabEnabled(index):
            tabs.setCurrentIndex(index)
            tabs.currentWidget().setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _page_shown(self, index: int) -> None:
        if index != 1 or self.ctx is None:
            return
        if self.cohort_page is None or getattr(self.cohort_page, "ctx", None) is not self.ctx:
            from clinic_app.ui.cohort_page import CohortPage

            if self.cohort_page is not None:
                self.cohort_page.deleteLater()
            self.cohort_page = CohortPage(self.ctx, self.cohort_holder)
            self.cohort_holder.layout().addWidget(self.cohort_page)
        self.cohort_page.findChild(QWidget, "cohortMeasure").setFocus()

    def _focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # --- actions ------------------------------------------------------------------------
    def new_patient(self) -> None:
        if self.ctx is None:
            return
        dialog = PatientDialog(self, self.ctx)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def open_import(self) -> None:
        if self.ctx is None:
            return
        from clinic_app.ui.import_dialog import ImportDialog

        dialog = ImportDialog(self, self.ctx)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def open_settings(self) -> None:
        if self.ctx is None:
            return
        from clinic_app.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self, self.ctx)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _about(self) -> None:
        messages.inform(self, "About Backstep",
                        f"Backstep {__version__}\nCharting retro-walking (backward walking) "
                        "knee rehabilitation for physiotherapy clinics.")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        from clinic_app.ui.import_dialog import ImportDialog

        for dialog in self.findChildren(ImportDialog):
            dialog.cancel()  # a running import stops at its next step, storing nothing
        if self.live is not None:
            self.live.stop()
        ops.wait_all(10_000)
        from clinic_app.ui import desktop

        desktop.clear_previews()  # preview PDFs hold patient data: none outlives the window
        super().closeEvent(event)
        self.closed.emit()
