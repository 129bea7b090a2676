"""The expected-recovery overlay on the demo ACL patient's progress plot: ticked with the
mouse, drawn from the clinic's cohort (other ACL patients), its size stated, hidden from
the front desk, and what is drawn equals what the use case returns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from accounts import as_user
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QCheckBox
from pytestqt.qtbot import QtBot
from ui_helpers import wait_ops

from clinic_app.domain.measures import MEASURES
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services.demo import seed_demo
from clinic_app.services.facade import Clinic
from clinic_app.ui import ops
from clinic_app.ui.main_window import DEMO_PATIENTS, MainWindow

SHOTS = os.environ.get("BACKSTEP_SHOTS")


def _window(qtbot: QtBot, db: Database, name: str, role: Role) -> MainWindow:
    win = MainWindow(actor=name, offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(db, as_user(db, name, role)))
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: win.model is not None and win.model.rowCount() == DEMO_PATIENTS,
                    timeout=20_000)
    return win


@pytest.fixture
def demo_db(sqlite_db: Database) -> Iterator[Database]:
    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=DEMO_PATIENTS)
    yield sqlite_db
    ops.wait_all()


def _open_progress(qtbot: QtBot, win: MainWindow, mrn: str) -> None:
    assert win.model is not None
    row = next(r for r in range(win.model.rowCount())
               if win.model.patient_at(r).draft.mrn == mrn)
    table = win.patient_list
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualRect(table.model().index(row, 0)).center())
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: win.record.chart is not None
                    and win.record.chart.patient.draft.mrn == mrn)
    bar = win.record.tabs.tabBar()
    index = win.record.tabs.indexOf(win.record.progress)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: win.record.progress.plot is not None
                    and win.record.progress.plot.isVisible())


def test_demo_acl_patient_shows_the_usual_curve(qtbot: QtBot, demo_db: Database) -> None:
    win = _window(qtbot, demo_db, "kim", Role.THERAPIST)
    win.resize(QSize(1366, 768))
    _open_progress(qtbot, win, "DEMO-00008")
    plot = win.record.progress.plot
    check = plot.findChild(QCheckBox, "progressOverlayCheck")
    assert check.isVisible() and not check.isChecked()
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=check.rect().bottomLeft()
                     + check.rect().center() - check.rect().bottomLeft())
    assert check.isChecked()
    wait_ops(qtbot)
    shown = [m for m in plot.selected_measures() if m in plot._panels]
    cohort_measures = [m for m in shown if m in MEASURES]
    qtbot.waitUntil(lambda: all(plot.overlay_curve(m) is not None for m in cohort_measures),
                    timeout=20_000)
    episode = win.record.current_episode().episode
    drawn = 0
    for mid in shown:
        curve = plot.overlay_curve(mid)
        if curve is None:
            continue  # a session measure: no cohort curve
        expected = win.ctx.clinic.expected_recovery(episode.id, mid)
        assert curve.patients == expected.patients
        items = plot._overlay_items.get(mid, [])
        if expected.large_enough and expected.weeks:
            median = items[-1]  # the full data, not what the view clips to its range
            assert np.allclose(median.yData, [w.median for w in expected.weeks])
            assert np.allclose(median.xData - median.xData[0],
                               [(w.week - expected.weeks[0].week) * 7 * 86400.0
                                for w in expected.weeks])
            drawn += 1
        else:
            assert items == []
    assert drawn >= 1
    note = plot.findChild(type(plot._overlay_note), "progressOverlayNote").text()
    assert "other ACL reconstruction patients" in note
    assert any(f"{plot.overlay_curve(m).patients} other" in note for m in shown
               if plot.overlay_curve(m) is not None)
    if SHOTS:
        win.grab().save(str(Path(SHOTS) / "overlay_1366x768.png"))
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=check.rect().center())
    assert not check.isChecked() and plot._overlay_items == {}
    win.close()


def test_front_desk_is_not_offered_the_overlay(qtbot: QtBot, demo_db: Database) -> None:
    win = _window(qtbot, demo_db, "desk", Role.FRONT_DESK)
    _open_progress(qtbot, win, "DEMO-00008")
    check = win.record.progress.plot.findChild(QCheckBox, "progressOverlayCheck")
    assert not check.isVisible()
    win.close()
