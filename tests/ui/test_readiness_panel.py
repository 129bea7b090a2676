"""The return-to-sport tab of an ACL demo patient: every criterion with value, threshold,
status and date, the verdict, the phase on the episode header; at the three screen sizes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user
from layout_check import problems
from PySide6.QtCore import QSize, Qt
from pytestqt.qtbot import QtBot
from ui_helpers import wait_ops

from clinic_app.domain.readiness import CRITERIA_SETS, episode_readiness
from clinic_app.domain.records import Side
from clinic_app.persistence.uow import Database
from clinic_app.services.demo import seed_demo
from clinic_app.services.facade import Clinic
from clinic_app.ui import ops
from clinic_app.ui.main_window import MainWindow

SHOTS = os.environ.get("BACKSTEP_SHOTS")  # a folder: save what the test shows, to look at


@pytest.fixture
def demo_window(qtbot: QtBot, sqlite_db: Database) -> Iterator[MainWindow]:
    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=4)
    win = MainWindow(actor="tester", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "tester")))
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: win.model is not None and win.model.rowCount() == 4)
    yield win
    wait_ops(qtbot)
    win.close()
    ops.wait_all()


def _open_mrn(qtbot: QtBot, win: MainWindow, mrn: str) -> None:
    assert win.model is not None
    row = next(r for r in range(win.model.rowCount())
               if win.model.patient_at(r).draft.mrn == mrn)  # type: ignore[union-attr]
    table = win.patient_list
    index = table.model().index(row, 0)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualRect(index).center())
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: win.record.chart is not None
                    and win.record.chart.patient.draft.mrn == mrn)


def _settled(qtbot: QtBot, widget: MainWindow) -> list[str]:
    with contextlib.suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not problems(widget), timeout=1500)
    return problems(widget)


def test_acl_patient_shows_every_criterion_and_the_phase(
        qtbot: QtBot, demo_window: MainWindow) -> None:
    win = demo_window
    _open_mrn(qtbot, win, "DEMO-00004")  # the demo's ACL patient near return to sport
    record = win.record
    ep = record.current_episode()
    assert ep is not None
    d = ep.episode.draft
    expected = episode_readiness(ep.tests, affected=Side(d.affected_side),
                                 surgery_date=d.surgery_date, as_of=date.today())
    assert expected.phase is not None
    assert "by criteria" in record.episode_info.text()  # the phase on the episode header
    record.tabs.setCurrentWidget(record.readiness)
    panel = record.readiness
    table = panel.table
    assert table.rowCount() == len(CRITERIA_SETS["delaware_oslo"].criteria)
    shown = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(6)]
             for r in range(table.rowCount())}
    for res in expected.readiness.results:
        row = shown[res.criterion.label]
        assert row[1] == res.value_text and row[2] == res.threshold_text
        assert res.status.value in row[3]
        assert res.value is not None, res.criterion.label  # every criterion measured
    assert expected.readiness.verdict_text in panel.verdict.text()
    assert "by criteria" in panel.phase.text() and "needs" in panel.phase.text()
    assert expected.pairs and all(line[:40] in panel.phase.text() for line in expected.pairs)
    # the other criteria set, picked from the list with the keyboard
    panel.criteria_combo.setFocus()
    qtbot.keyClick(panel.criteria_combo, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: table.rowCount() == len(CRITERIA_SETS["welling_2018"].criteria))
    labels = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "ACL-RSI" in labels and "IKDC Subjective Knee Form" in labels
    for size in (QSize(1280, 720), QSize(1366, 768), QSize(1280, 800)):
        win.resize(size)
        assert _settled(qtbot, win) == [], size
        if SHOTS:
            win.grab().save(str(Path(SHOTS) / f"readiness_{size.width()}x{size.height()}.png"))


def test_other_diagnoses_explain_the_tab(qtbot: QtBot, demo_window: MainWindow) -> None:
    win = demo_window
    _open_mrn(qtbot, win, "DEMO-00001")  # knee osteoarthritis
    panel = win.record.readiness
    assert panel.table.rowCount() == 0
    assert "ACL-reconstruction episodes" in panel.verdict.text()
