"""Live updates and read-only entries in error, with two ``Database`` objects on one clinic
(two workstations), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from accounts import as_user

from clinic_app.domain import changes as kinds
from clinic_app.domain.changes import RecordChange
from clinic_app.domain.errors import EnteredInErrorError
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence import changes
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.live import LiveUpdates

WAIT_S = 10.0  # generous for a loaded machine; bench/bench_live_updates.py measures it


class Inbox:
    """Collects what a watcher delivers (on its thread)."""

    def __init__(self) -> None:
        self.changes: list[RecordChange] = []
        self._cond = threading.Condition()

    def __call__(self, found: Sequence[RecordChange]) -> None:
        with self._cond:
            self.changes += found
            self._cond.notify_all()

    def wait_for(self, pred, timeout: float = WAIT_S) -> bool:  # type: ignore[no-untyped-def]
        with self._cond:
            return self._cond.wait_for(lambda: pred(self.changes), timeout)


@pytest.fixture
def second(db: Database) -> Iterator[Database]:
    """Another workstation: a second ``Database`` object on the same clinic."""
    other = Database.open(db.url, db.backup_dir)
    try:
        yield other
    finally:
        other.close()


def test_other_workstations_changes_arrive_and_own_do_not(db: Database,
                                                          second: Database) -> None:  # fmt: skip
    a, b = as_user(db, "ann"), as_user(second, "ben", Role.THERAPIST)
    seen_by_b, seen_by_a = Inbox(), Inbox()
    watch_b = LiveUpdates(second, b, seen_by_b).start()
    watch_a = LiveUpdates(db, a, seen_by_a).start()
    try:
        svc = ChartingService(db, a)
        p = svc.register_patient(PatientDraft("L-1", "Quist", "Lene", date(1970, 3, 4),
                                              phone="040 1234"))  # fmt: skip
        assert seen_by_b.wait_for(lambda c: any(x.kind == kinds.PATIENT for x in c))
        (change,) = seen_by_b.changes
        assert change == RecordChange(kinds.PATIENT, str(p.id), p.id, "ann")
        ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                                 date.today() - timedelta(days=10)))  # fmt: skip
        when = datetime.now(UTC) - timedelta(days=1)
        s, _ = svc.record_session(ep.id, WalkSessionDraft(when, duration_min=10))
        svc.mark_session_in_error(s.id, 1, "wrong day")
        assert seen_by_b.wait_for(lambda c: sum(x.kind == kinds.SESSION for x in c) == 2)
        assert {(x.kind, x.record_id) for x in seen_by_b.changes} >= {
            (kinds.EPISODE, str(ep.id)), (kinds.SESSION, str(s.id))}
        assert all(x.patient_id == p.id for x in seen_by_b.changes)
        # B's own save reaches A, never B itself.
        ChartingService(second, b).update_patient(p.id, 1, replace(p.draft, phone="040 9"))
        assert seen_by_a.wait_for(lambda c: len(c) == 1)
        assert seen_by_a.changes[0].actor == "ben"
        assert not seen_by_b.wait_for(lambda c: any(x.actor == "ben" for x in c), timeout=1.5)
    finally:
        watch_a.stop()
        watch_b.stop()
    assert not watch_a.running and not watch_b.running


def test_a_bulk_change_asks_for_everything(db: Database, second: Database) -> None:
    seen = Inbox()
    watch = LiveUpdates(second, as_user(second, "ben"), seen).start()
    try:
        svc = ChartingService(db, as_user(db, "ann"))
        pids = [svc.register_patient(PatientDraft(f"B-{i}", "Bulk", "Pat", date(1960, 1, 1))).id
                for i in range(3)]  # fmt: skip
        assert seen.wait_for(lambda c: len(c) == 3)
        with db.unit_of_work(as_user(db, "ann")) as uow:
            for i in range(changes.MAX_LISTED + 1):
                uow.audit.record("update", "patient", pids[i % 3], pids[i % 3])
        assert seen.wait_for(lambda c: any(x.kind == kinds.ALL for x in c))
    finally:
        watch.stop()


def test_the_notice_names_records_never_values() -> None:
    p = RecordChange(kinds.PATIENT, "5b0c", None, "ann")
    text = changes.payload([p], "origin-1", "ann")
    assert "Quist" not in text and len(text) < 8000
    assert changes.parse_payload(text, "origin-2") == [p]
    assert changes.parse_payload(text, "origin-1") == []  # this workstation's own
    assert changes.parse_payload("not json", "o") == [RecordChange(kinds.ALL)]


def test_entries_in_error_are_read_only_for_every_workstation(
    db: Database, second: Database
) -> None:
    a = ChartingService(db, as_user(db, "ann"))
    b = ChartingService(second, as_user(second, "ben", Role.THERAPIST))
    p = a.register_patient(PatientDraft("E-1", "Err", "Ola", date(1971, 2, 3)))
    ep = a.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                           date.today() - timedelta(days=10)))  # fmt: skip
    when = datetime.now(UTC) - timedelta(days=1)
    s, (t,) = a.record_session(ep.id, WalkSessionDraft(when, duration_min=10),
                               [TestResultDraft("tug", date.today(), value=12.0)])
    a.mark_session_in_error(s.id, 1, "entered for the wrong patient")
    with pytest.raises(EnteredInErrorError) as err:
        b.update_session(s.id, 2, replace(s.draft, duration_min=12))  # even the new version
    assert "marked entered in error by ann on " in str(err.value)
    assert "entered for the wrong patient" in str(err.value)
    with pytest.raises(EnteredInErrorError):
        b.update_session(s.id, 1, replace(s.draft, duration_min=12))  # the version B opened
    with pytest.raises(EnteredInErrorError):
        b.mark_session_in_error(s.id, 2, "again")
    with pytest.raises(EnteredInErrorError):
        b.record_test(ep.id, TestResultDraft("tug", date.today(), value=11.0, session_id=s.id))
    a.mark_test_in_error(t.id, 1, "stopwatch not reset")
    with pytest.raises(EnteredInErrorError):
        b.update_test(t.id, 2, replace(t.draft, value=13.0))
    a.mark_episode_in_error(ep.id, 1, "duplicate episode")
    with pytest.raises(EnteredInErrorError):
        b.update_episode(ep.id, 2, replace(ep.draft, referring_doctor="Dr. X"))
    with pytest.raises(EnteredInErrorError, match="duplicate episode"):
        b.record_session(ep.id, WalkSessionDraft(when, duration_min=11))
    with pytest.raises(EnteredInErrorError):
        b.record_test(ep.id, TestResultDraft("tug", date.today(), value=11.0))
    a.mark_patient_in_error(p.id, 1, "test registration")
    with pytest.raises(EnteredInErrorError):
        b.update_patient(p.id, 2, replace(p.draft, phone="1"))
    with pytest.raises(EnteredInErrorError, match="test registration"):
        b.open_episode(p.id, replace(ep.draft))
    chart = a.chart(p.id, include_in_error=True)
    (stored,) = chart.episodes[0].sessions  # nothing added to what was marked in error
    assert stored.draft.duration_min == 10 and stored.stamp.version == 2
    assert len(chart.episodes) == 1
    assert len(chart.episodes[0].tests) == 1  # the refused test was not stored


def test_a_lost_listener_reconnects_and_asks_for_everything(clean_pg_url: str) -> None:
    """PostgreSQL forgets notices sent while nobody listened: after the listening connection
    is killed, the watcher reconnects, asks views to reload everything, and goes on."""
    a, b = Database.open(clean_pg_url), Database.open(clean_pg_url)
    seen = Inbox()
    watch = LiveUpdates(b, as_user(b, "ben"), seen).start()
    try:
        with a.engine.begin() as conn:
            killed = conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN %%'").fetchall()
        assert killed
        assert seen.wait_for(lambda c: any(x.kind == kinds.ALL for x in c))
        svc = ChartingService(a, as_user(a, "ann"))
        p = svc.register_patient(PatientDraft("R-1", "Re", "Con", date(1980, 1, 1)))
        assert seen.wait_for(lambda c: any(x.record_id == str(p.id) for x in c))
        assert watch.running
    finally:
        watch.stop()
        a.close()
        b.close()
