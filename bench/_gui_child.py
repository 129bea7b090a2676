"""Child process for bench_startup.py and bench_memory.py (one fresh interpreter per run).

    python bench/_gui_child.py bare
    python bench/_gui_child.py app    --db URL
    python bench/_gui_child.py signin --db URL     (firstrun: the same, URL of a new file)
    python bench/_gui_child.py signin_list --db URL
    python bench/_gui_child.py memory --db URL

Prints one JSON line: ``marker`` is ``time.perf_counter()`` (CLOCK_MONOTONIC, shared by all
processes on Linux) when the goal was reached, so the parent, which noted the same clock
just before starting the process, gets the time from process start including interpreter
start-up. Runs offscreen unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import time

T_EXEC = time.perf_counter()  # first statement: when this script starts executing

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _wait(app, done, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    end = time.perf_counter() + timeout_s
    while not done():
        app.processEvents()
        time.sleep(0.001)
        if time.perf_counter() > end:
            raise SystemExit("timed out")


def bare() -> dict[str, object]:
    from PySide6.QtWidgets import QApplication, QWidget

    app = QApplication(sys.argv[:1])
    w = QWidget()
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    w.repaint()  # first paint, synchronous
    marker = time.perf_counter()
    return {"marker": marker, "exec": T_EXEC, "cpu": time.process_time()}


def _main_window(url: str):  # type: ignore[no-untyped-def]
    """Like clinic_app.app.run_gui, minus the sign-in dialog: until the list shows a page."""
    from clinic_app.app import import_data_layers

    import_data_layers(url)  # before Qt, as run_gui does
    from _principal import bench_account  # (bench/ is on sys.path: this script's folder)
    from PySide6.QtWidgets import QApplication

    from clinic_app.config import backup_dir
    from clinic_app.persistence.uow import Database
    from clinic_app.services.facade import Clinic
    from clinic_app.services.maintenance import AUTO_PREFIX
    from clinic_app.ui.main_window import MainWindow

    t_imports = time.perf_counter()
    # Today's automatic backup already exists (as on any start after the first of the day):
    # copying a 750 MB synthetic file would measure the disk, not the start-up.
    day = datetime.now(UTC).date().isoformat()
    (backup_dir() / f"{AUTO_PREFIX}{day}-000000.sqlite3").touch()
    app = QApplication(sys.argv[:1])
    window = MainWindow(actor="bench", offer_demo=False)
    window.show()
    app.processEvents()
    t_window = time.perf_counter()
    # As run_gui does (in a worker while the window shows): on an up-to-date SQLite file the
    # quick_check runs in a background thread and writes wait for it.
    db = Database.open(url, check_in_background=True)
    t_db = time.perf_counter()
    window.attach(Clinic(db, bench_account(db)))
    model = window.model
    assert model is not None
    _wait(app, lambda: model.rowCount() > 0 and not model.busy)
    window.patient_list.viewport().repaint()  # the first page painted
    marker = time.perf_counter()
    return app, window, db, {
        "marker": marker, "exec": T_EXEC, "imports_done": t_imports, "window_shown": t_window,
        "db_open": t_db, "rows": model.rowCount(), "total": model.total,
        "pyqtgraph": "pyqtgraph" in sys.modules, "reportlab": "reportlab" in sys.modules,
    }


def app_mode(url: str) -> dict[str, object]:
    app, window, db, out = _main_window(url)
    from clinic_app.ui import ops

    if os.environ.get("BENCH_WAIT_CHECK"):  # minutes on a 1M-patient file: on request
        db.require_intact()  # when writes (and the sign-in's audit event) could go ahead
        out["integrity_checked"] = time.perf_counter()
    ops.wait_all()
    db.close()
    return out


def signin(url: str) -> dict[str, object]:
    """The real ``run_gui`` until its first window (sign-in, or first-run on a new file) is
    painted: what a user sees first. Then cancelled, as a user pressing Cancel."""
    from clinic_app.app import run_gui
    from clinic_app.config import AppConfig

    out: dict[str, object] = {"exec": T_EXEC}

    def first_shown(window) -> None:  # type: ignore[no-untyped-def]
        window.repaint()  # first paint, synchronous (as the bare window's)
        out["marker"] = time.perf_counter()
        out["cpu"] = time.process_time()
        out["dialog"] = window.objectName()
        out["sqlalchemy_loaded_by_then"] = "sqlalchemy" in sys.modules
        window.done(0)  # Cancel, without the first-run form's "Quit?" question

    out["exit_code"] = run_gui(AppConfig(db_url=url, user=""), first_shown=first_shown)
    return out


def signin_list(url: str) -> dict[str, object]:
    """The real ``run_gui``: the user types name and password at once and presses Enter
    (the database may still be opening); from the accepted password to the list's first
    page painted in the main window."""
    from _principal import PASSWORD, USERNAME  # (bench/ is on sys.path)
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from clinic_app.app import run_gui
    from clinic_app.config import AppConfig, backup_dir
    from clinic_app.services.maintenance import AUTO_PREFIX

    day = datetime.now(UTC).date().isoformat()  # today's automatic backup is taken
    (backup_dir() / f"{AUTO_PREFIX}{day}-000000.sqlite3").touch()
    out: dict[str, object] = {"exec": T_EXEC}

    def list_shown() -> None:
        from clinic_app.ui.main_window import MainWindow

        windows = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible()]
        model = windows[0].model if windows else None
        if model is None or model.rowCount() == 0 or model.busy:
            QTimer.singleShot(1, list_shown)
            return
        windows[0].patient_list.viewport().repaint()
        out["marker"] = time.perf_counter()
        out["cpu_to_list"] = time.process_time() - float(out["cpu_accepted"])  # type: ignore[arg-type]
        out["rows"] = model.rowCount()
        db = windows[0].ctx.clinic if windows[0].ctx is not None else None
        out["checking"] = db is not None and not db.integrity_checked
        # Leave now: closing would wait for the integrity check to finish and record the
        # bench's sign-in (a quarter of an hour for an 18 GB file on a busy disk), which is
        # not what is measured; that sign-in event is then not written.
        print(json.dumps(out), flush=True)
        os._exit(0)

    def accepted() -> None:
        out["accepted"] = time.perf_counter()
        out["cpu_accepted"] = time.process_time()

    def first_shown(dialog) -> None:  # type: ignore[no-untyped-def]
        out["shown"] = time.perf_counter()
        dialog.accepted.connect(accepted)
        QTest.keyClicks(dialog.username, USERNAME)
        QTest.keyClicks(dialog.password, PASSWORD)
        QTest.keyClick(dialog.password, Qt.Key.Key_Return)
        out["waited"] = dialog.waiting  # OK pressed before the database was open
        list_shown()

    out["exit_code"] = run_gui(AppConfig(db_url=url, user=""), first_shown=first_shown)
    return out


def memory(url: str) -> dict[str, object]:
    app, window, db, out = _main_window(url)
    from clinic_app.ui import ops

    out["rss_list_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    window.patient_list.selectRow(0)  # opens the first patient's record (as a click does)
    record = window.record
    _wait(app, lambda: record.chart is not None)
    record.tabs.setCurrentWidget(record.progress)  # the plot is built when its tab shows
    app.processEvents()
    _wait(app, lambda: record.progress.plot is not None or record.progress._plot_failed)
    record.progress.repaint()
    app.processEvents()
    chart = record.chart
    out["sessions"] = sum(len(e.sessions) for e in chart.episodes)
    out["tests"] = sum(len(e.tests) for e in chart.episodes)
    out["pyqtgraph_after_plot"] = "pyqtgraph" in sys.modules
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ops.wait_all()
    db.close()
    return out


def main() -> None:
    mode = sys.argv[1]
    url = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--db" else ""
    modes = {"bare": bare, "app": app_mode, "signin": signin, "firstrun": signin,
             "signin_list": signin_list, "memory": memory}
    out = modes[mode]() if mode == "bare" else modes[mode](url)  # type: ignore[operator]
    print(json.dumps(out), flush=True)
    os._exit(0)  # skip interpreter/Qt teardown: not part of what is measured


if __name__ == "__main__":
    main()
