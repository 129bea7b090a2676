"""Layout at the common small screens: nothing cut off, nothing unreadable.

At 1280x720, 1366x768 and 1280x800 the main window is walked the way a user goes through
it (patient list, a patient's sessions, the progress plots, then the session editor,
patient dialog and report dialog as they open) and every screen is checked with
:func:`layout_check.problems`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from accounts import as_user
from layout_check import elided_cells, fits_screen, open_size, problems
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, choose, closed, dialog, wait_ops

from clinic_app.domain.records import Diagnosis
from clinic_app.persistence.uow import Database
from clinic_app.services.demo import seed_demo
from clinic_app.services.facade import Clinic
from clinic_app.ui import ops
from clinic_app.ui.main_window import MainWindow

SCREENS = [QSize(1280, 720), QSize(1366, 768), QSize(1280, 800)]
# A maximised window on a 1280x720 screen, less a 40 px task bar and a 32 px title bar.
MAXIMISED_720 = QSize(1280, 648)


def _ids(size: QSize) -> str:
    return f"{size.width()}x{size.height()}"


@pytest.fixture
def demo_window(qtbot: QtBot, sqlite_db: Database) -> Iterator[MainWindow]:
    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=6)
    win = MainWindow(actor="tester", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "tester")))
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: win.model is not None and win.model.rowCount() == 6)
    yield win
    wait_ops(qtbot)
    win.close()
    ops.wait_all()


def _settled(qtbot: QtBot, widget: QWidget) -> list[str]:
    """The problems left once pending layout work (resizes, reflows) has been done."""
    with contextlib.suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not problems(widget), timeout=1500)
    return problems(widget)


def _acl_row(win: MainWindow) -> int:
    """Row of a demo patient after ACL reconstruction (tests with bands and both sides)."""
    assert win.model is not None and win.ctx is not None
    for row in range(win.model.rowCount()):
        patient = win.model.patient_at(row)
        assert patient is not None
        chart = win.ctx.charting.chart(patient.id)
        if chart.episodes and chart.episodes[0].episode.draft.diagnosis == \
                Diagnosis.ACL_RECONSTRUCTION:
            return row
    raise AssertionError("no ACL demo patient")


def _open_patient(qtbot: QtBot, win: MainWindow, row: int) -> None:
    table = win.patient_list
    index = table.model().index(row, 0)
    table.scrollTo(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualRect(index).center())
    wait_ops(qtbot)
    patient = win.model.patient_at(row)  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: win.record.name_label.text() == patient.display_name)


def _click_tab(qtbot: QtBot, win: MainWindow, index: int) -> None:
    bar = win.record.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: win.record.tabs.currentIndex() == index)


def _sized(qtbot: QtBot, win: MainWindow, screen: QSize) -> None:
    win.resize(screen)
    qtbot.waitUntil(lambda: win.size() == screen)


@pytest.mark.parametrize("screen", [*SCREENS, MAXIMISED_720], ids=_ids)
def test_main_window_screens(qtbot: QtBot, demo_window: MainWindow, screen: QSize) -> None:
    win = demo_window
    _sized(qtbot, win, screen)
    assert win.minimumSizeHint().width() <= screen.width()
    assert win.minimumSizeHint().height() <= screen.height()
    assert _settled(qtbot, win) == [], "patient list"

    _open_patient(qtbot, win, _acl_row(win))
    assert win.record.sessions.rowCount() > 0
    assert _settled(qtbot, win) == [], "patient record, sessions"

    _click_tab(qtbot, win, 1)
    plot = win.record.progress.plot
    qtbot.waitUntil(lambda: plot is not None or win.record.progress.plot is not None)
    plot = win.record.progress.plot
    assert plot is not None
    qtbot.waitUntil(lambda: plot.message_text() is None)  # type: ignore[attr-defined]
    assert len(plot.selected_measures()) == 4  # type: ignore[attr-defined]
    assert _settled(qtbot, win) == [], "progress tab"
    # The plots are wide enough to read: more than one column only when each stays legible.
    grid = plot.findChild(QWidget, "progressGraphics")
    assert grid is not None and grid.isVisible()

    # Every measure ticked at once: the grid scrolls, still nothing cut off.
    plot.select_measures(plot.available_measures())  # type: ignore[attr-defined]
    assert _settled(qtbot, win) == [], "progress tab, every measure"


@pytest.mark.parametrize("screen", SCREENS, ids=_ids)
def test_patient_names_stay_readable_with_an_acl_episode_open(
        qtbot: QtBot, demo_window: MainWindow, screen: QSize) -> None:
    """The episode line (surgery, weeks, referrer, rehabilitation phases) is long; it wraps
    instead of widening the record pane, so the list still shows whole names."""
    win = demo_window
    _sized(qtbot, win, screen)
    _open_patient(qtbot, win, _acl_row(win))
    info = win.record.episode_info
    qtbot.waitUntil(lambda: "Phase" in info.text())
    with contextlib.suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not elided_cells(win.patient_list, 0), timeout=1500)
    assert elided_cells(win.patient_list, 0) == []
    assert info.geometry().right() <= win.record.width()
    assert _settled(qtbot, win) == []


def _dialog_problems(qtbot: QtBot, dlg: QDialog, screen: QSize) -> list[str]:
    """Problems of ``dlg`` at the size it opens with on ``screen``."""
    dlg.resize(open_size(dlg, screen))
    found = _settled(qtbot, dlg)
    why = fits_screen(dlg, screen)
    return found + ([why] if why else [])


def _close(qtbot: QtBot, dlg: QDialog) -> None:
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    closed(qtbot, dlg)


@pytest.mark.parametrize("screen", SCREENS, ids=_ids)
def test_dialogs_as_opened(qtbot: QtBot, demo_window: MainWindow, screen: QSize) -> None:
    win = demo_window
    _sized(qtbot, win, screen)
    _open_patient(qtbot, win, _acl_row(win))
    found: dict[str, list[str]] = {}

    qtbot.mouseClick(win.record.new_session_button, Qt.MouseButton.LeftButton)
    editor = dialog(win, qtbot, "sessionEditor")
    found["session editor"] = _dialog_problems(qtbot, editor, screen)
    _close(qtbot, editor)

    qtbot.mouseClick(win.record.edit_patient_button, Qt.MouseButton.LeftButton)
    patient = dialog(win, qtbot, "patientDialog")
    found["patient dialog"] = _dialog_problems(qtbot, patient, screen)
    _close(qtbot, patient)

    qtbot.mouseClick(win.record.export_button, Qt.MouseButton.LeftButton)
    report = dialog(win, qtbot, "reportDialog")
    found["report dialog"] = _dialog_problems(qtbot, report, screen)
    _close(qtbot, report)

    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.parametrize("screen", SCREENS, ids=_ids)
def test_session_editor_with_a_questionnaires_anchors(
        qtbot: QtBot, demo_window: MainWindow, screen: QSize, fake_messages: FakeMessages
) -> None:
    """The IKDC has the longest answer key under its items; it wraps and stays readable."""
    win = demo_window
    _sized(qtbot, win, screen)
    _open_patient(qtbot, win, _acl_row(win))
    qtbot.mouseClick(win.record.new_session_button, Qt.MouseButton.LeftButton)
    editor = dialog(win, qtbot, "sessionEditor")
    found: dict[str, list[str]] = {}
    for name in ("IKDC", "Kujala", "KOOS Pain"):
        qtbot.wait(QApplication.keyboardInputInterval() + 50)  # a new type-ahead search
        choose(qtbot, editor, "testMeasureCombo", name)
        scale = editor.findChild(QLabel, "testScaleLabel")
        assert scale is not None and scale.isVisible() and scale.text()
        found[name] = _dialog_problems(qtbot, editor, screen)
    fake_messages.answers["ask_discard"] = [True]  # nothing was typed worth keeping
    _close(qtbot, editor)
    assert {k: v for k, v in found.items() if v} == {}


def test_checker_reports_what_a_user_cannot_see(qtbot: QtBot) -> None:
    """The checker itself: each kind of defect is reported, scrollable content is not."""
    top = QWidget()
    qtbot.addWidget(top)
    top.resize(400, 200)
    squeezed = QLabel("A label far too long for its little box", top)
    squeezed.setGeometry(0, 0, 80, 20)
    outside = QPushButton("Half outside", top)
    outside.setGeometry(340, 0, 120, 30)
    area = QScrollArea(top)
    area.setGeometry(0, 40, 120, 80)
    content = QWidget()
    content.resize(500, 500)
    QLabel("Reached by scrolling", content).move(300, 400)
    area.setWidget(content)
    table = QTableWidget(1, 2, top)
    table.setGeometry(130, 40, 260, 150)
    table.setHorizontalHeaderLabels(["A long column header", "B"])
    table.setColumnWidth(0, 30)
    top.show()
    qtbot.waitExposed(top)

    found = "\n".join(problems(top))
    assert "A label far too long" in found and "text needs" in found
    assert "Half outside" in found and "cut off by" in found
    assert "Reached by scrolling" not in found
    assert "'A long column header' is 30 px" in found
    squeezed.setToolTip("A label far too long for its little box")  # full text on hover
    assert "A label far too long" not in "\n".join(problems(top))


def test_progress_grid_reflows_with_the_width(qtbot: QtBot, sqlite_db: Database) -> None:
    from clinic_app.services.charting import ChartingService
    from clinic_app.ui.progress_plot import ProgressPlot

    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=6)
    svc = ChartingService(sqlite_db, as_user(sqlite_db, "tester"))
    chart = next(c for c in (svc.chart(p.id) for p in svc.search_patients(""))
                 if c.episodes[0].episode.draft.diagnosis == Diagnosis.ACL_RECONSTRUCTION)
    plot = ProgressPlot()
    qtbot.addWidget(plot)
    plot.resize(1100, 700)
    plot.show()
    qtbot.waitExposed(plot)
    plot.set_chart(chart)

    def columns() -> int:
        lefts = {round(p.plot.sceneBoundingRect().left())
                 for p in (plot.panel(m) for m in plot.selected_measures()) if p is not None}
        return len(lefts)

    qtbot.waitUntil(lambda: columns() == 2)  # 4 plots side by side in pairs
    assert _settled(qtbot, plot) == []
    plot.resize(560, 700)  # room for one readable plot across: one column, scrolling
    qtbot.waitUntil(lambda: columns() == 1)
    scroll = plot.findChild(QScrollArea, "progressScroll")
    assert scroll is not None
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() > 0)  # 4 plots one below another
    assert _settled(qtbot, plot) == []
