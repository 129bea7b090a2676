"""The Cohorts page as a therapist uses it: filters chosen and typed with the keyboard, the
curve drawn from the database's figures, bad dates named, hidden from the front desk, and
nothing clipped at 1280x720, 1366x768 and 1280x800."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
from a11y_check import unnamed_inputs
from accounts import as_user
from cohort_data import build_clinic, expected_curve
from layout_check import problems
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QComboBox, QLineEdit, QPushButton
from pytestqt.qtbot import QtBot
from ui_helpers import wait_ops

from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.facade import Clinic
from clinic_app.ui.main_window import MainWindow

SHOTS = os.environ.get("BACKSTEP_SHOTS")


@pytest.fixture
def stored(sqlite_db: Database) -> list:
    svcs = {name: ChartingService(sqlite_db, as_user(sqlite_db, name, Role.THERAPIST))
            for name in ("anna", "ben")}
    return build_clinic(svcs, patients=14)


def _open_page(qtbot: QtBot, win: MainWindow) -> None:
    bar = win.pages.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
    qtbot.waitUntil(lambda: win.cohort_page is not None and win.cohort_page.isVisible())


def _choose(qtbot: QtBot, box: QComboBox, text: str) -> None:
    box.setFocus()
    qtbot.keyClicks(box, text)  # a closed combo box jumps to the item typed
    assert box.currentText().startswith(text), (box.currentText(), text)


def _show(qtbot: QtBot, win: MainWindow) -> None:
    page = win.cohort_page
    before = page.curve
    qtbot.mouseClick(page.findChild(QPushButton, "cohortShowButton"), Qt.MouseButton.LeftButton)
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: page.curve is not before)


def _settled(qtbot: QtBot, win: MainWindow) -> list[str]:
    with contextlib.suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not problems(win), timeout=1500)
    return problems(win)


def test_typed_filters_draw_the_cohort(qtbot: QtBot, window: MainWindow, stored: list) -> None:
    _open_page(qtbot, window)
    page = window.cohort_page
    assert unnamed_inputs(page) == []
    _choose(qtbot, page.findChild(QComboBox, "cohortMeasure"), "6-minute")
    _choose(qtbot, page.findChild(QComboBox, "cohortDiagnosis"), "ACL")
    _show(qtbot, window)
    n, weeks = expected_curve(stored, "walk_6min", diagnosis="acl_reconstruction")
    curve = page.curve
    assert curve.patients == n and len(curve.weeks) == len(weeks)
    assert [w.median for w in curve.weeks] == pytest.approx([w.median for w in weeks])
    # What is drawn is what was computed: the median line's points, one per week.
    drawn = [item for item in page.plot.listDataItems() if item.opts["symbol"] == "o"]
    (line,) = drawn
    xs, ys = line.getData()
    assert np.allclose(xs, [w.week for w in weeks])
    assert np.allclose(ys, [w.median for w in weeks])
    assert f"{n} patient(s)" in page.summary.text()
    assert ("Fewer than 10 patients" in page.summary.text()) == (n < 10)
    # Weeks since episode start, female patients, started from a typed day.
    _choose(qtbot, page.findChild(QComboBox, "cohortBasis"), "Episode")
    diagnosis = page.findChild(QComboBox, "cohortDiagnosis")
    diagnosis.setFocus()
    qtbot.keyClick(diagnosis, Qt.Key.Key_Home)  # back to "Any"
    assert diagnosis.currentText() == "Any"
    _choose(qtbot, page.findChild(QComboBox, "cohortSex"), "Female")
    start = page.findChild(QLineEdit, "cohortStartFrom")
    start.setFocus()
    qtbot.keyClicks(start, "2025-01-01")
    _show(qtbot, window)
    n, weeks = expected_curve(stored, "walk_6min", surgery_basis=False, sex="female")
    assert page.curve.patients == n < 10
    assert "Fewer than 10 patients" in page.summary.text()
    assert [w.q1 for w in page.curve.weeks] == pytest.approx([w.q1 for w in weeks])
    for size in (QSize(1280, 720), QSize(1366, 768), QSize(1280, 800)):
        window.resize(size)
        assert _settled(qtbot, window) == [], size
        if SHOTS:
            window.grab().save(str(Path(SHOTS) / f"cohort_{size.width()}x{size.height()}.png"))


def test_no_line_across_weeks_without_episodes(qtbot: QtBot, window: MainWindow) -> None:
    """Weeks 1-3 and 7-8 measured, 4-6 not: the median line and the band break at the gap
    instead of joining week 3 to week 7 as if episodes had been measured in between."""
    from clinic_app.domain.cohorts import CohortCurve, CohortFilter, CohortWeek

    _open_page(qtbot, window)
    page = window.cohort_page
    weeks = tuple(CohortWeek(w, 3, 5.0 + w / 10, 5.5 + w / 10, 6.0 + w / 10)
                  for w in (1, 2, 3, 7, 8))
    page.show_curve(CohortCurve(CohortFilter("bwt_3m"), 12, weeks))
    (line,) = [item for item in page.plot.listDataItems() if item.opts["symbol"] == "o"]
    xs, _ys = line.getData()
    assert np.allclose(xs, [1, 2, 3, 7, 8])  # every measured week still drawn
    runs = line.curve.getPath().toSubpathPolygons()
    assert [len(run) for run in runs] == [3, 2]
    for item in page.plot.listDataItems():
        assert len(item.curve.getPath().toSubpathPolygons()) == 2


def test_a_bad_date_names_the_field(qtbot: QtBot, window: MainWindow, stored: list) -> None:
    _open_page(qtbot, window)
    page = window.cohort_page
    until = page.findChild(QLineEdit, "cohortStartTo")
    until.setFocus()
    qtbot.keyClicks(until, "31/12/2025")
    qtbot.keyClick(until, Qt.Key.Key_Return)
    text = page.summary.text()
    assert "Episode started until" in text and "YYYY-MM-DD" in text
    assert page.curve is None


def test_front_desk_sees_no_cohorts(qtbot: QtBot, sqlite_db: Database) -> None:
    win = MainWindow(actor="desk", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "desk", Role.FRONT_DESK)))
    wait_ops(qtbot)
    assert not win.pages.isTabVisible(1)
    therapist = MainWindow(actor="kim", offer_demo=False)
    qtbot.addWidget(therapist)
    therapist.show()
    therapist.attach(Clinic(sqlite_db, as_user(sqlite_db, "kim", Role.THERAPIST)))
    wait_ops(qtbot)
    assert therapist.pages.isTabVisible(1)
    win.close()
    therapist.close()


def test_surgery_type_and_treating_therapist_filters_by_keyboard(
        qtbot: QtBot, window: MainWindow, stored: list) -> None:
    """"ACL reconstruction (any graft)" keeps the three grafts, a repair is not among them;
    the therapist typed is the treating therapist, not who opened the episode."""
    _open_page(qtbot, window)
    page = window.cohort_page
    _choose(qtbot, page.findChild(QComboBox, "cohortMeasure"), "6-minute")
    surgery = page.findChild(QComboBox, "cohortSurgery")
    _choose(qtbot, surgery, "ACL")
    assert surgery.currentText() == "ACL reconstruction (any graft)"
    _show(qtbot, window)
    grafts = {"acl_recon_hamstring", "acl_recon_patellar", "acl_recon_quadriceps"}
    n, weeks = expected_curve(stored, "walk_6min", surgery_types=grafts)  # type: ignore[arg-type]
    assert page.curve.patients == n > 0
    assert [w.median for w in page.curve.weeks] == pytest.approx([w.median for w in weeks])
    surgery.setFocus()
    qtbot.keyClick(surgery, Qt.Key.Key_Down)  # the hamstring graft alone
    assert surgery.currentText() == "ACL reconstruction (hamstring graft)"
    therapist = page.findChild(QLineEdit, "cohortTherapist")
    therapist.setFocus()
    qtbot.keyClicks(therapist, "ben")
    _show(qtbot, window)
    n, weeks = expected_curve(stored, "walk_6min", surgery_types={"acl_recon_hamstring"},
                              therapist="ben")
    assert page.curve.patients == n
    assert [w.median for w in page.curve.weeks] == pytest.approx([w.median for w in weeks])
    assert "ACL reconstruction (hamstring graft)" in page.curve.filter.describe()
