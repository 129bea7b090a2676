"""The desktop application: ``run_gui(cfg)`` is what ``clinic-app`` runs without a command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from clinic_app import __version__
from clinic_app.config import AppConfig, backup_dir

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from clinic_app.services.facade import Clinic
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
    """Import SQLAlchemy, the data layers and ``db_url``'s driver before Qt is first imported.

    Once PySide6 is loaded, its import hook (``__feature__`` support) reads the source of
    every module imported after it; importing the data layers first saves ~60 ms of start-up.
    """
    import clinic_app.services.charting
    import clinic_app.services.maintenance
    import clinic_app.services.security  # noqa: F401
    from clinic_app.services.facade import load_driver

    if db_url:
        load_driver(db_url)  # a bad URL is reported by Clinic.open, with the window up


def run_gui(cfg: AppConfig) -> int:
    """Show the main window at once, open the database off the GUI thread, run the app.

    Returns the exit code: 0 normally, 2 when the database cannot be used for a reason the
    user can act on (e.g. it was written by a newer Backstep) or when Qt's platform plugin
    lacks system libraries, 1 for unexpected failures.
    """
    from clinic_app.ui.qt_system_libs import start_platform_check

    # Qt aborts the whole process (a core dump) when its platform plugin cannot load: say
    # what to install instead, before QApplication exists. The check runs (ldd) while the
    # data layers are imported.
    probe = start_platform_check()
    import_data_layers(cfg.db_url)
    missing = probe.result() if probe is not None else None
    if missing is not None:
        print(missing.message(), file=sys.stderr)
        return EXIT_DOMAIN_ERROR
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from clinic_app.ui import desktop, ops
    from clinic_app.ui.main_window import MainWindow

    _setup_logging()
    desktop.clear_previews()  # left behind if the last run crashed
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Backstep")
    app.setOrganizationName("Backstep")
    app.setApplicationVersion(__version__)
    icon = RESOURCES / "icons" / "backstep.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    style = RESOURCES / "style.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))

    # Quit explicitly when the main window closes: Qt's own last-window-closed quit posts an
    # event that, if handled after exec() returned, leaves every later event loop dead.
    quit_on_last = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    window = MainWindow(actor=cfg.user)
    window.closed.connect(app.quit)
    window.show()
    start = _Startup(app, window, cfg)
    window.database_unusable.connect(start.unusable)
    ops.run_op(window, start.open_clinic, start.attach, start.failed, title="Backstep")
    code = app.exec()
    window.closed.disconnect(app.quit)
    window.hide()
    window.deleteLater()
    app.setQuitOnLastWindowClosed(quit_on_last)
    ops.wait_all()
    start.close()
    return start.exit_code or code


class _Startup:
    """Opens the clinic in the background while the window shows, then signs in and hands
    the signed-in clinic to the window; remembers the exit code and what to close."""

    def __init__(self, app: QApplication, window: MainWindow, cfg: AppConfig) -> None:
        self.app = app
        self.window = window
        self.cfg = cfg
        self.opened: list[Clinic] = []
        self.exit_code = 0

    def open_clinic(self) -> Clinic:
        """In a worker: connect, check and migrate (the integrity check goes on behind)."""
        from clinic_app.services.facade import Clinic

        return Clinic.open(self.cfg.db_url, backup_dir=backup_dir(), check_in_background=True)

    def attach(self, clinic: Clinic) -> None:
        """On the GUI thread: sign in, then show the clinic's data."""
        from clinic_app.ui import login, ops

        self.opened.append(clinic)
        # The background integrity check runs while the user types their password.
        ops.run_op(self.window, clinic.require_intact, lambda _none: None,
                   self.damaged_during_sign_in, title="Database check")
        principal = login.sign_in(self.window, clinic, self.cfg.user)
        if principal is None:  # cancelled (or the database is damaged): show no data
            self.app.exit(self.exit_code)
            return
        clinic.name_connections()  # who is connected, for a restore elsewhere
        self.window.attach(clinic)

    def damaged_during_sign_in(self, exc: BaseException) -> bool:
        from PySide6.QtWidgets import QApplication, QDialog

        from clinic_app.services.facade import DatabaseDamagedError
        from clinic_app.ui import messages

        if not isinstance(exc, DatabaseDamagedError):
            return False
        if self.window.ctx is not None:
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
        from clinic_app.domain.errors import DomainError
        from clinic_app.ui import messages

        if isinstance(exc, DomainError):
            self.exit_code = EXIT_DOMAIN_ERROR
            messages.warn(self.window, "Cannot open the database", str(exc))
        else:
            self.exit_code = EXIT_UNEXPECTED
            log.error("Opening the database failed", exc_info=exc)
            messages.warn(self.window, "Cannot open the database",
                          "The database could not be opened. Details were written to the log.",
                          details=f"{type(exc).__name__}: {exc}")
        self.app.exit(self.exit_code)
        return True

    def unusable(self) -> None:
        """The background integrity check found damage after sign-in."""
        self.exit_code = EXIT_DOMAIN_ERROR
        self.app.exit(EXIT_DOMAIN_ERROR)

    def close(self) -> None:
        for clinic in self.opened:
            clinic.close()
