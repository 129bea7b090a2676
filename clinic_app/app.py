"""The desktop application: ``run_gui(cfg)`` is what ``clinic-app`` runs without a command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from clinic_app import __version__
from clinic_app.config import AppConfig, backup_dir

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
    import contextlib

    import clinic_app.services.charting
    import clinic_app.services.maintenance
    import clinic_app.services.security  # noqa: F401
    from clinic_app.persistence.engine import make_engine

    if db_url:
        # An engine loads its dialect and DB-API module; it connects only when first used.
        # A bad URL is reported by Database.open, with the window up.
        with contextlib.suppress(Exception):
            make_engine(db_url).dispose()


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
    from PySide6.QtWidgets import QApplication, QDialog

    from clinic_app.domain.errors import DomainError
    from clinic_app.persistence.uow import Database, DatabaseDamagedError
    from clinic_app.ui import desktop, login, messages, ops
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
    opened: list[Database] = []
    exit_code = [0]

    def damaged_during_sign_in(exc: BaseException) -> bool:
        if not isinstance(exc, DatabaseDamagedError):
            return False
        if window.ctx is not None:
            return True  # signed in meanwhile: the window reports it (MainWindow.attach)
        exit_code[0] = EXIT_DOMAIN_ERROR
        messages.warn(window, "Cannot open the database", str(exc))
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog):
            dialog.done(QDialog.DialogCode.Rejected)  # no data shown; no "Quit?" question
        app.exit(EXIT_DOMAIN_ERROR)
        return True

    def attach(db: Database) -> None:
        opened.append(db)
        # The background integrity check runs while the user types their password.
        ops.run_op(window, db.require_intact, lambda _none: None, damaged_during_sign_in,
                   title="Database check")  # fmt: skip
        principal = login.sign_in(window, db, cfg.user)
        if principal is None:  # cancelled (or the database is damaged): show no data
            app.exit(exit_code[0])
            return
        db.name_connections(principal.username)  # who is connected, for a restore elsewhere
        window.attach(db, principal)

    def failed(exc: BaseException) -> bool:
        if isinstance(exc, DomainError):
            exit_code[0] = EXIT_DOMAIN_ERROR
            messages.warn(window, "Cannot open the database", str(exc))
        else:
            exit_code[0] = EXIT_UNEXPECTED
            log.error("Opening the database failed", exc_info=exc)
            messages.warn(window, "Cannot open the database",
                          "The database could not be opened. Details were written to the log.",
                          details=f"{type(exc).__name__}: {exc}")  # fmt: skip
        app.exit(exit_code[0])
        return True

    def unusable() -> None:  # the background integrity check found damage
        exit_code[0] = EXIT_DOMAIN_ERROR
        app.exit(EXIT_DOMAIN_ERROR)

    window.database_unusable.connect(unusable)

    def open_db() -> Database:
        return Database.open(cfg.db_url, backup_dir=backup_dir(), check_in_background=True)

    ops.run_op(window, open_db, attach, failed, title="Backstep")
    code = app.exec()
    window.closed.disconnect(app.quit)
    window.hide()
    window.deleteLater()
    app.setQuitOnLastWindowClosed(quit_on_last)
    ops.wait_all()
    for db in opened:
        db.close()
    return exit_code[0] or code
