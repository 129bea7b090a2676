"""Patient list: lazy paging, searching, Qt model conformance, first-run demo offer."""

from __future__ import annotations

from datetime import date, timedelta

from accounts import as_user
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, closed, dialog, typed, wait_ops

from clinic_app.domain.records import PatientDraft, Sex
from clinic_app.persistence.uow import Database
from clinic_app.services.facade import Clinic
from clinic_app.ui.main_window import DEMO_PATIENTS, MainWindow
from clinic_app.ui.patient_model import PAGE_SIZE, PatientListModel

FAMILIES = ("Andersson", "Brown", "Costa", "Dubois", "Evans", "Fischer", "García", "Haddad")


def seed_patients(db: Database, n: int) -> None:
    """``n`` patients in one transaction (fast), names spread over the alphabet."""
    with db.unit_of_work("seed") as uow:
        for i in range(n):
            uow.patients.add(PatientDraft(
                mrn=f"P-{i:06d}", family_name=FAMILIES[i % len(FAMILIES)],
                given_name=f"Given{i}", date_of_birth=date(1950, 1, 1) + timedelta(days=i * 7),
                sex=Sex.UNKNOWN,
            ))


def test_model_fetches_lazily_in_pages(qtbot: QtBot, sqlite_db: Database) -> None:
    seed_patients(sqlite_db, 2 * PAGE_SIZE + 50)
    from clinic_app.services.charting import ChartingService

    model = PatientListModel(ChartingService(sqlite_db, as_user(sqlite_db, "tester")))
    model.set_search("")
    wait_ops(qtbot)
    assert model.rowCount() == PAGE_SIZE and model.total == 2 * PAGE_SIZE + 50
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert not model.canFetchMore(QModelIndex())  # one page in flight at a time
    wait_ops(qtbot)
    assert model.rowCount() == 2 * PAGE_SIZE
    model.fetchMore(QModelIndex())
    wait_ops(qtbot)
    assert model.rowCount() == 2 * PAGE_SIZE + 50
    assert not model.canFetchMore(QModelIndex())
    names = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert names == sorted(names, key=lambda n: n.split(",")[0])  # ordered by the database
    assert len({model.index(r, 1).data() for r in range(model.rowCount())}) == model.rowCount()


def test_model_passes_qt_model_tester(qtbot: QtBot, sqlite_db: Database) -> None:
    seed_patients(sqlite_db, 1200)
    from clinic_app.services.charting import ChartingService

    model = PatientListModel(ChartingService(sqlite_db, as_user(sqlite_db, "tester")))
    tester = QAbstractItemModelTester(
        model, QAbstractItemModelTester.FailureReportingMode.Fatal
    )
    model.set_search("")
    wait_ops(qtbot)
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
        wait_ops(qtbot)
    assert model.rowCount() == 1200
    model.set_search("garc")
    wait_ops(qtbot)
    assert model.rowCount() == 150 and model.total == 150
    model.set_search("")
    wait_ops(qtbot)
    assert model.rowCount() == PAGE_SIZE
    del tester


def test_search_narrows_the_list(window: MainWindow, qtbot: QtBot, sqlite_db: Database) -> None:
    seed_patients(sqlite_db, 40)
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    assert window.model.rowCount() == 40  # type: ignore[union-attr]
    qtbot.keyClicks(window.search, "hadd")
    qtbot.waitUntil(lambda: window.model.search_text == "hadd")  # type: ignore[union-attr]
    wait_ops(qtbot)
    assert window.model.rowCount() == 5  # type: ignore[union-attr]
    assert {window.model.index(r, 0).data().split(",")[0] for r in range(5)} == {"Haddad"}  # type: ignore[union-attr]
    assert window.count_label.text() == "5 matching patients"
    window.search.clear()
    qtbot.keyClicks(window.search, "P-000012")  # MRN
    qtbot.waitUntil(lambda: window.model.search_text == "P-000012")  # type: ignore[union-attr]
    wait_ops(qtbot)
    assert window.model.rowCount() == 1  # type: ignore[union-attr]
    window.search.clear()
    qtbot.keyClicks(window.search, (date(1950, 1, 1) + timedelta(days=21)).isoformat())  # DOB
    qtbot.waitUntil(lambda: window.model.search_text.startswith("1950"))  # type: ignore[union-attr]
    wait_ops(qtbot)
    assert window.model.rowCount() == 1  # type: ignore[union-attr]
    assert window.model.index(0, 1).data() == "P-000003"  # type: ignore[union-attr]


def test_first_run_offers_demo_data(
    qtbot: QtBot, sqlite_db: Database, fake_messages: FakeMessages
) -> None:
    fake_messages.answers["ask"] = [True]
    win = MainWindow(actor="tester")
    qtbot.addWidget(win)
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "tester")))
    qtbot.waitUntil(lambda: fake_messages.called("ask") != [], timeout=10_000)
    qtbot.waitUntil(lambda: win.model.total == DEMO_PATIENTS, timeout=60_000)  # type: ignore[union-attr]
    wait_ops(qtbot)
    assert win.ctx.charting.count_patients() == DEMO_PATIENTS  # type: ignore[union-attr]
    assert win.patient_list.isEnabled()


def test_no_demo_offer_when_patients_exist(
    qtbot: QtBot, sqlite_db: Database, fake_messages: FakeMessages
) -> None:
    seed_patients(sqlite_db, 1)
    win = MainWindow(actor="tester")
    qtbot.addWidget(win)
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "tester")))
    wait_ops(qtbot)
    assert fake_messages.called("ask") == []
    assert win.model.rowCount() == 1  # type: ignore[union-attr]


def _register_by_typing(window: MainWindow, qtbot: QtBot, mrn: str, family: str,
                        given: str) -> None:
    """File ▸ New patient (Ctrl+N), type every field, Enter."""
    window.search.setFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    pd = dialog(window, qtbot, "patientDialog")
    typed(qtbot, pd, "mrnEdit", mrn)
    typed(qtbot, pd, "familyNameEdit", family)
    typed(qtbot, pd, "givenNameEdit", given)
    dob = pd.findChild(QWidget, "dobEdit")
    dob.setFocus()
    # Leave "Not set", then type over the sections (this QDateEdit keeps the year it
    # starts from; the birth date itself does not matter here).
    qtbot.keyClick(dob, Qt.Key.Key_Up)
    qtbot.keyClick(dob, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(dob, "1961-04-23")
    qtbot.keyClick(pd.findChild(QWidget, "givenNameEdit"), Qt.Key.Key_Return)
    closed(qtbot, pd)


def _readable(window: MainWindow, column: int) -> bool:
    """The column is at least as wide as its header and every loaded cell need."""
    view, header = window.patient_list, window.patient_list.horizontalHeader()
    need = max(header.sectionSizeHint(column), view.sizeHintForColumn(column))
    return header.sectionSize(column) >= need


def test_a_new_patient_hidden_by_the_search_is_shown_and_selected(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database
) -> None:
    seed_patients(sqlite_db, 40)
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    qtbot.keyClicks(window.search, "hadd")
    qtbot.waitUntil(lambda: window.model.search_text == "hadd")  # type: ignore[union-attr]
    wait_ops(qtbot)
    assert window.model.rowCount() == 5  # type: ignore[union-attr]
    _register_by_typing(window, qtbot, "demo-004711", "Zimmermann", "Zoe")
    stored = window.ctx.charting.find_by_mrn("DEMO-004711")  # type: ignore[union-attr]
    assert stored is not None and stored.draft.family_name == "Zimmermann"

    def shown_and_selected() -> bool:
        rows = window.patient_list.selectionModel().selectedRows()
        return bool(rows) and window.model.patient_at(rows[0].row()).id == stored.id  # type: ignore[union-attr]

    qtbot.waitUntil(shown_and_selected, timeout=10_000)
    wait_ops(qtbot)
    assert window.search.text() == "DEMO-004711"  # the filter now shows what was saved
    assert "1 matching patient" in window.count_label.text()
    assert _readable(window, 1) and _readable(window, 2)


def test_columns_stay_readable_after_a_search_that_found_nothing(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database
) -> None:
    seed_patients(sqlite_db, 10)
    qtbot.keyClicks(window.search, "nobody")
    qtbot.waitUntil(lambda: window.model.search_text == "nobody")  # type: ignore[union-attr]
    wait_ops(qtbot)
    assert window.model.rowCount() == 0  # type: ignore[union-attr]
    qtbot.keyClick(window.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.search, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: window.model.search_text == "")  # type: ignore[union-attr]
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: window.model.rowCount() == 10)  # type: ignore[union-attr]
    assert _readable(window, 1) and _readable(window, 2)


def test_a_count_beyond_the_cap_says_more_than_and_the_list_still_pages(
        window: MainWindow, qtbot: QtBot, sqlite_db: Database) -> None:
    """Counting every match of a first letter at a million patients would hold the list up:
    past the cap the label says "more than" and scrolling still reaches every patient."""
    seed_patients(sqlite_db, 2 * PAGE_SIZE + 30)
    model = window.model
    assert model is not None
    model.count_cap = 100
    qtbot.keyClicks(window.search, "p-")
    qtbot.waitUntil(lambda: model.search_text == "p-")
    wait_ops(qtbot)
    assert model.count_capped and model.rowCount() == PAGE_SIZE
    assert window.count_label.text() == (
        f"More than 100 matching patients (first {PAGE_SIZE} loaded; scroll for more)")
    window.patient_list.scrollToBottom()
    wait_ops(qtbot)
    window.patient_list.scrollToBottom()
    wait_ops(qtbot)
    assert model.rowCount() == 2 * PAGE_SIZE + 30
    # Every match is loaded now, so the count is exact again.
    assert not model.count_capped and model.total == 2 * PAGE_SIZE + 30
    assert window.count_label.text() == f"{2 * PAGE_SIZE + 30} matching patients"
    mrns = [model.index(r, 1).data() for r in range(model.rowCount())]
    assert len(set(mrns)) == len(mrns)


def test_a_count_out_of_time_says_at_least_what_is_shown_until_it_arrives(
        window: MainWindow, qtbot: QtBot, sqlite_db: Database,
        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A keystroke's count that runs out of its time budget never holds the list, and the
    label claims only what is certain until the count done behind it arrives."""
    import threading

    from clinic_app.services.charting import ChartingService
    from clinic_app.ui import patient_model

    seed_patients(sqlite_db, 1500)
    # A budget already spent: SQLite stops the count at its first check.
    monkeypatch.setattr(patient_model, "COUNT_BUDGET_S", 0.0)
    gate = threading.Event()
    real_count = ChartingService.count_patients

    def held_count(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert gate.wait(30), "the test never let the count finish"
        return real_count(self, *args, **kwargs)

    monkeypatch.setattr(ChartingService, "count_patients", held_count)
    model = window.model
    assert model is not None
    qtbot.keyClicks(window.search, "p-")
    qtbot.waitUntil(lambda: model.search_text == "p-" and model.rowCount() == PAGE_SIZE
                    and model.count_pending, timeout=10_000)
    qtbot.waitUntil(lambda: "counting" in window.count_label.text(), timeout=10_000)
    assert window.count_label.text() == f"At least {PAGE_SIZE} matching patients (counting…)"
    assert model.total == 0 and not model.count_capped
    gate.set()
    wait_ops(qtbot)
    assert not model.count_pending and model.total == 1500
    assert window.count_label.text() == (
        f"1,500 matching patients (first {PAGE_SIZE} loaded; scroll for more)")
