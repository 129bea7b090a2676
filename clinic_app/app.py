"""The desktop application: ``run_gui(cfg)`` is what ``clinic-app`` runs without a command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clinic_app import __version__
from clinic_app.config import AppConfig, backup_dir

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication, QWidget

    from clinic_app.domain.permissions import Principal
    from clinic_app.services.facade import Clinic
    from clinic_app.ui.login import CredentialsDialog
    from clinic_app.ui.main_window import MainWindow

EXIT_DOMAIN_ERROR = 2
EXIT_UNEXPECTED = 1
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
log = logging.getLogger(__name__)


def _setup_logging() -> None:
    # Exception messages can quote patient values: the log keeps types and code locations.
    from clinic_app.safe_log import setup_logging

    setup_logging()


def import_data_layers(db_url: str | None = None) -> None:
    """Import SQLAlchemy, the data layers and ``db_url``'s driver.

    The desktop start runs this on a worker thread once the sign-in window is up. Run before
    Qt is first imported (as the benches' list start-up does) it is ~60 ms cheaper: once
    PySide6 is loaded, its import hook (``__feature__`` support) reads the source of every
    module imported after it.
    """
    import clinic_app.services.charting
    import clinic_app.services.maintenance
    import clinic_app.services.security  # noqa: F401
    from clinic_app.services.facade import load_driver

    if db_url:
        load_driver(db_url)  # a bad URL is reported by Clinic.open, with the window up


def first_run_hint(db_url: str) -> bool:
    """Whether the first window should be the first-run form: the database is a SQLite file
    that does not exist yet or is empty. Decided without the data layers, from the URL
    alone; the open database has the last word (the form switches if it disagrees)."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///", "sqlcipher:///",
                   "sqlite+pysqlcipher:///"):
        if db_url.startswith(prefix):
            name = db_url[len(prefix):].split("?", 1)[0]
            if not name or name == ":memory:":
                return True
            path = Path(name)
            try:
                return not path.exists() or path.stat().st_size == 0
            except OSError:
                return False
    return False


def run_gui(cfg: AppConfig, first_shown: Callable[[QWidget], None] | None = None) -> int:
    """Paint the sign-in window first, load the data layers and open the database behind it.

    The sign-in (or, on a new database, first-run) window is shown as soon as QApplication
    exists; SQLAlchemy, the services and the main window's modules are imported and the
    database opened on a worker thread while the user types (a form submitted before that
    waits, saying so). Then the main window is built, hidden, and shown once signed in.
    ``first_shown`` is called with the first window once it is on screen (benches, tests).

    Returns the exit code: 0 normally, 2 when the database cannot be used for a reason the
    user can act on (e.g. it was written by a newer Backstep) or when Qt's platform plugin
    lacks system libraries, 1 for unexpected failures.
    """
    from clinic_app.ui.qt_system_libs import start_platform_check

    # Qt aborts the whole process (a core dump) when its platform plugin cannot load: say
    # what to install instead, before Qt is loaded. The check (ldd) runs meanwhile.
    probe = start_platform_check()
    missing = probe.result() if probe is not None else None
    if missing is not None:
        print(missing.message(), file=sys.stderr)
        return EXIT_DOMAIN_ERROR
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Backstep")
    app.setOrganizationName("Backstep")
    app.setApplicationVersion(__version__)
    style = RESOURCES / "style.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))

    # Quit explicitly when the main window closes: Qt's own last-window-closed quit posts an
    # event that, if handled after exec() returned, leaves every later event loop dead.
    quit_on_last = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    start = _Startup(app, cfg)
    start.show_sign_in(first_shown)
    _setup_logging()  # (nothing before the window is up logs)
    QTimer.singleShot(0, start.load)  # once the window is up
    code = app.exec()
    start.finish()
    app.setQuitOnLastWindowClosed(quit_on_last)
    return start.exit_code or code


class _Startup:
    """The start: the sign-in window first; the clinic opened behind it, then the sign-in
    and the main window; remembers the exit code and what to close."""

    def __init__(self, app: QApplication, cfg: AppConfig) -> None:
        self.app = app
        self.cfg = cfg
        self.dialog: CredentialsDialog | None = None
        self.window: MainWindow | None = None
        self.opened: list[Clinic] = []  # appended by the worker: closed even if undelivered
        self.exit_code = 0
        self.finished = False  # app.exec() has returned: late results are dropped

    def show_sign_in(self, first_shown: Callable[[QWidget], None] | None) -> None:
        """Show the first window. Nothing here touches PySide6's ``Qt`` namespace (its
        enums take ~25 ms to build): that waits for :meth:`load`, after the paint."""
        from PySide6.QtCore import QTimer

        from clinic_app.ui import login

        dialog = login.early_dialog(first_run_hint(self.cfg.db_url), self.cfg.user)
        dialog.setModal(True)  # application-modal, as the dialogs opened with exec()
        dialog.rejected.connect(self.cancelled)
        dialog.show()
        self.dialog = dialog
        if first_shown is not None:
            QTimer.singleShot(0, lambda: first_shown(dialog))

    def cancelled(self) -> None:
        """Cancel (or Quit on the first-run form) before the database was open."""
        self.app.exit(self.exit_code)

    def load(self) -> None:
        """Once the first window is up: what it did not need, then open the clinic."""
        from PySide6.QtGui import QIcon

        from clinic_app.ui import accessibility, ops

        # Enter presses a focused button; windows fit their screen (the first one now).
        accessibility.install()
        if self.dialog is not None and self.dialog.isVisible():
            accessibility.fit_to_screen(self.dialog)
        icon = RESOURCES / "icons" / "backstep.png"
        if icon.is_file():
            self.app.setWindowIcon(QIcon(str(icon)))
        ops.run_op(None, self.open_clinic, self.attach, self.failed, title="Backstep")

    def open_clinic(self) -> Clinic:
        """In a worker, while the user types: load the data layers, connect, check and
        migrate (the integrity check goes on behind), and load the main window's modules."""
        import_data_layers(self.cfg.db_url)
        from clinic_app.services.facade import Clinic

        clinic = Clinic.open(self.cfg.db_url, backup_dir=backup_dir(), check_in_background=True)
        self.opened.append(clinic)
        # Importing defines classes only (no Qt object is made at import), so it can run
        # here rather than hold up the window.
        import clinic_app.ui.main_window  # noqa: F401
        return clinic

    def attach(self, clinic: Clinic) -> None:
        """On the GUI thread: build the main window (hidden), take over the sign-in window,
        then show the clinic's data to whoever signed in."""
        if self.finished or self.dialog is None:
            return
        from clinic_app.ui import desktop, login, ops
        from clinic_app.ui.main_window import MainWindow

        dialog = self.dialog
        if not dialog.isVisible():  # cancelled meanwhile: the app is leaving
            return
        desktop.clear_previews()  # left behind if the last run crashed
        window = MainWindow(actor=self.cfg.user)
        self.window = window
        window.closed.connect(self.app.quit)
        window.database_unusable.connect(self.unusable)
        # The background integrity check runs while the user types their password.
        ops.run_op(window, clinic.require_intact, lambda _none: None,
                   self.damaged_during_sign_in, title="Database check")
        dialog.rejected.disconnect(self.cancelled)  # from now on the sign-in says it
        login.continue_sign_in(dialog, window, clinic, self.cfg.user,
                               lambda principal: self.signed_in(clinic, principal))

    def signed_in(self, clinic: Clinic, principal: Principal | None) -> None:
        """The sign-in ended: show the clinic to who signed in, or leave (cancelled, or the
        database is damaged)."""
        import shiboken6

        if self.finished or self.window is None:
            return
        if self.dialog is not None and shiboken6.isValid(self.dialog):
            self.dialog.hide()  # e.g. a sign-in that did not need it
        if principal is None:
            self.app.exit(self.exit_code)
            return
        clinic.name_connections()  # who is connected, for a restore elsewhere
        self.window.show()
        self.window.attach(clinic)

    def damaged_during_sign_in(self, exc: BaseException) -> bool:
        from PySide6.QtWidgets import QApplication, QDialog

        from clinic_app.services.facade import DatabaseDamagedError
        from clinic_app.ui import messages

        if not isinstance(exc, DatabaseDamagedError):
            return False
        if self.window is not None and self.window.ctx is not None:
            return True  # signed in meanwhile: the window reports it (MainWindow.attach)
        self.exit_code = EXIT_DOMAIN_ERROR
        messages.warn(self.window, "Cannot open the database", str(exc))
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog):
            dialog.done(QDialog.DialogCode.Rejected)  # no data shown; no "Quit?" question
        self.app.exit(EXIT_DOMAIN_ERROR)
        return True

    def failed(self, exc: BaseException) -> bool:
        """Opening failed: say why, then leave with the matching exit code."""
        if self.finished:
            return True
        from clinic_app.domain.errors import DomainError
        from clinic_app.ui import messages

        if isinstance(exc, DomainError):
            self.exit_code = EXIT_DOMAIN_ERROR
            messages.warn(self.dialog, "Cannot open the database", str(exc))
        else:
            self.exit_code = EXIT_UNEXPECTED
            log.error("Opening the database failed", exc_info=exc)
            messages.warn(self.dialog, "Cannot open the database",
                          "The database could not be opened. Details were written to the log.",
                          details=f"{type(exc).__name__}: {exc}")
        self.app.exit(self.exit_code)
        return True

    def unusable(self) -> None:
        """The background integrity check found damage after sign-in."""
        self.exit_code = EXIT_DOMAIN_ERROR
        self.app.exit(EXIT_DOMAIN_ERROR)

    def finish(self) -> None:
        """After the event loop: close the windows, wait for the workers, close the clinic."""
        from clinic_app.ui import ops

        self.finished = True
        for widget in (self.window, self.dialog):
            if widget is None:
                continue
            import shiboken6

            if not shiboken6.isValid(widget):
                continue
            if widget is self.window:
                self.window.closed.disconnect(self.app.quit)
            widget.hide()
            widget.deleteLater()
        ops.wait_all()
        for clinic in self.opened:
            clinic.close()
