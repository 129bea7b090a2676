"""The desktop application: ``run_gui(cfg)`` is what ``clinic-app`` runs without a command."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from clinic_app import __version__
from clinic_app.config import AppConfig, backup_dir, data_dir

EXIT_DOMAIN_ERROR = 2
EXIT_UNEXPECTED = 1
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
log = logging.getLogger(__name__)


def _setup_logging() -> None:
    root = logging.getLogger()
    if any(getattr(h, "_backstep", False) for h in root.handlers):
        return
    try:
        folder = data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / "backstep.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._backstep = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def run_gui(cfg: AppConfig) -> int:
    """Show the main window at once, open the database off the GUI thread, run the app.

    Returns the exit code: 0 normally, 2 when the database cannot be used for a reason the
    user can act on (e.g. it was written by a newer Backstep), 1 for unexpected failures.
    """
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from clinic_app.domain.errors import DomainError
    from clinic_app.persistence.uow import Database
    from clinic_app.ui import login, messages, ops
    from clinic_app.ui.main_window import MainWindow

    _setup_logging()
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
    window = MainWindow(actor=cfg.actor)
    window.closed.connect(app.quit)
    window.show()
    opened: list[Database] = []
    exit_code = [0]

    def attach(db: Database) -> None:
        opened.append(db)
        principal = login.sign_in(window, db, cfg.actor)
        if principal is None:  # the user cancelled the sign-in: leave without showing data
            app.exit(0)
            return
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

    ops.run_op(window, lambda: Database.open(cfg.db_url, backup_dir=backup_dir()), attach, failed,
               title="Backstep")  # fmt: skip
    code = app.exec()
    window.closed.disconnect(app.quit)
    window.hide()
    window.deleteLater()
    app.setQuitOnLastWindowClosed(quit_on_last)
    ops.wait_all()
    for db in opened:
        db.close()
    return exit_code[0] or code
