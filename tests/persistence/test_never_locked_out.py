"""Nobody is locked out by a long writer: a chart opens while another process imports,
and its "view" audit event is written once the writer is done, chained like any other."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import text

from clinic_app.domain.records import Patient, PatientDraft
from clinic_app.persistence import engine, jobs, view_log
from clinic_app.persistence.audit import PG_AUDIT_LOCK
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService


def _import_files(folder: Path, sessions: int) -> None:
    folder.mkdir()
    (folder / "patients.csv").write_text(
        "mrn,family_name,given_name,date_of_birth,sex\nIMP-1,Doe,Jane,1970-05-17,female\n")
    (folder / "episodes.csv").write_text(
        "episode_id,mrn,diagnosis,affected_side,start_date\n"
        "ep1,IMP-1,knee_osteoarthritis,left,2024-01-08\n")
    lines = ["episode_id,performed_at,mode,surface,duration_min,distance_m,speed_m_s,"
             "incline_pct,assistance,pain_before,pain_after,rpe,heart_rate"]
    for i in range(sessions):
        when = (datetime(2024, 1, 9, 9, tzinfo=UTC) + timedelta(minutes=7 * i)).isoformat()
        lines.append(f"ep1,{when},treadmill,treadmill_belt,15,540,0.6,2,handrail,3,2,4.5,104")
    (folder / "sessions.csv").write_text("\n".join(lines) + "\n")


def _patient(db: Database) -> tuple[ChartingService, Patient]:
    svc = ChartingService(db, as_user(db, "therapist", full_name="T. Apist"))
    return svc, svc.register_patient(
        PatientDraft("OPEN-1", "Ødegård", "Åse", date(1961, 3, 4)))


def _actions(db: Database, patient_id: object) -> list[str]:
    with db.unit_of_work("t", read_only=True) as uow:
        return [e.action for e in uow.audit.for_patient(patient_id)]  # type: ignore[arg-type]


def test_an_import_in_another_process_never_makes_a_chart_open_fail(
    db: Database, tmp_path: Path
) -> None:
    svc, patient = _patient(db)
    _import_files(tmp_path / "in", 3000)
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("import_child.py")), db.url,
         str(tmp_path / "in")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "STORING\n"
        # The import's transaction is open and has written rows: open the chart now.
        chart = svc.chart(patient.id)
        assert chart.patient.draft.mrn == "OPEN-1"
        if db.dialect == "sqlite":
            # The importer holds the only write lock: the view waits in the queue.
            assert db.views.pending == 1
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "DONE\n"
    finally:
        child.stdin.close()
        if child.wait(60) != 0:
            child.kill()
    assert child.returncode == 0
    assert db.views.wait_written(30)
    assert _actions(db, patient.id) == ["create", "view"]
    with db.unit_of_work("t", read_only=True) as uow:
        assert uow.patients.count() == 2  # the import committed too
    assert db.verify_audit().problems == []


def test_a_chart_opens_while_a_writer_holds_the_audit_trail_on_postgresql(
    clean_pg_url: str,
) -> None:
    db = Database.open(clean_pg_url)
    try:
        svc, patient = _patient(db)
        other = Database.open(clean_pg_url)
        try:
            # As an import's final audit append does, for as long as its commit takes.
            with other.engine.connect() as conn, conn.begin():
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_AUDIT_LOCK})
                chart = svc.chart(patient.id)
                assert chart.patient.draft.mrn == "OPEN-1"
                assert db.views.pending == 1
        finally:
            other.close()
        assert db.views.wait_written(30)
        assert _actions(db, patient.id) == ["create", "view"]
        assert db.verify_audit().problems == []
    finally:
        db.close()


def test_a_slow_view_write_does_not_hold_up_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock is free but the commit is slow (a disk kept busy by another workstation's
    # import): the chart is returned while its view event is still being written.
    db = Database.open(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    svc, patient = _patient(db)
    release = threading.Event()
    write = view_log.ViewLog._write

    def slow_write(self: view_log.ViewLog, views: list[view_log.PendingView],
                   max_wait_ms: int | None) -> None:
        release.wait(30)
        write(self, views, max_wait_ms)

    monkeypatch.setattr(view_log.ViewLog, "_write", slow_write)
    try:
        chart = svc.chart(patient.id)
        assert chart.patient.draft.mrn == "OPEN-1"
        assert db.views.pending == 1
        release.set()
        assert db.views.wait_written(30)
        assert _actions(db, patient.id) == ["create", "view"]
        assert db.verify_audit().problems == []
    finally:
        release.set()
        db.close()


def test_views_still_queued_at_close_are_written_then(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    db = Database.open(url)
    svc, patient = _patient(db)
    blocker = Database.open(url)
    with blocker.engine.connect() as conn, conn.begin():  # BEGIN IMMEDIATE: the write lock
        svc.chart(patient.id)
        assert db.views.pending == 1
    blocker.close()
    db.close()  # writes what is queued before letting go
    again = Database.open(url)
    try:
        assert _actions(again, patient.id) == ["create", "view"]
        assert again.verify_audit().problems == []
    finally:
        again.close()


def test_a_save_waits_for_an_import_in_another_process_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short busy timeout: without waiting behind the import the save would fail at once.
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 200)
    db = Database.open(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    svc, _patient_row = _patient(db)
    _import_files(tmp_path / "in", 3000)
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("import_child.py")), db.url,
         str(tmp_path / "in")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert child.stdin is not None and child.stdout is not None
    outcome: list[object] = []
    waits_before = jobs.waits
    try:
        assert child.stdout.readline() == "STORING\n"
        assert db.running_job() == "importer is importing"

        def save() -> None:
            try:
                outcome.append(svc.register_patient(
                    PatientDraft("SAVED-2", "Berg", "Ola", date(1950, 6, 1))))
            except Exception as exc:  # the assertion below names it
                outcome.append(exc)

        saver = threading.Thread(target=save)
        saver.start()
        deadline = time.monotonic() + 60
        while jobs.waits == waits_before and not outcome and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not outcome, f"the save ended while the import held the lock: {outcome}"
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "DONE\n"
        saver.join(60)
    finally:
        child.stdin.close()
        if child.wait(60) != 0:
            child.kill()
    assert isinstance(outcome[0], Patient) and outcome[0].draft.mrn == "SAVED-2"
    assert db.running_job() is None
    with db.unit_of_work("t", read_only=True) as uow:
        assert uow.patients.count() == 3
    db.close()


def test_views_that_cannot_be_written_at_close_are_kept_on_disk_and_written_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(view_log, "LATE_AFTER_S", 0.0)  # every late write says so
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    db = Database.open(url)
    svc, patient = _patient(db)
    blocker = Database.open(url)
    with blocker.engine.connect() as conn, conn.begin():  # the lock outlasts the close
        svc.chart(patient.id)
        db.close()
        spools = list(db.head_file.parent.glob("pending-views-*.jsonl"))
        assert len(spools) == 1 and str(patient.id) in spools[0].read_text()
    blocker.close()
    again = Database.open(url)
    try:
        assert again.views.wait_written(30)  # the spool is read at first use
        assert not spools[0].exists()
        with again.unit_of_work("t", read_only=True) as uow:
            events = uow.audit.for_patient(patient.id)
        assert [e.action for e in events] == ["create", "view"]
        assert events[-1].actor == "therapist"
        assert "chart opened at" in events[-1].detail
        assert again.verify_audit().problems == []
    finally:
        again.close()
