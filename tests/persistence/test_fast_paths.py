"""The fast paths added for issue 9 give exactly what the plain ORM/Core paths give.

* patient search/count read with a cached Core statement and map rows straight to
  dataclasses: same patients, same order, same counts as the ORM query built from
  ``search_filter`` (tests/search_oracle.py); and its SQLite plan still uses the indexes;
* the SQLite import writer (column-wise bind processing, one executemany) stores the same
  bytes as ``session.execute(insert(table), rows)``;
* ``import_csv(..., progress=...)`` reports per batch stored, from 0 up to the total.

No timings here: speed is measured by bench/ (see bench/README.md).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from search_oracle import search_filter
from sqlalchemy import insert, select, text

from clinic_app.domain.records import PatientDraft, Sex
from clinic_app.persistence import bulk, mapping
from clinic_app.persistence.models import PatientRow, TestResultRow, WalkSessionRow
from clinic_app.persistence.uow import Database
from clinic_app.services import interop as service

TYPED = ["", "mul", "MÜLLER anna", "mu an", "b-2", "B-22", "23.04.1961", "1961-04-23",
         "müller 1961-04-23", "o'", "zzz", "smith, múla", "31.02.1961", "ann a"]


def _seed(db: Database) -> None:
    people = [
        ("A-1", "Müller", "Anna", date(1984, 5, 17), Sex.FEMALE),
        ("B-22", "Mueller", "Ben", date(1961, 4, 23), Sex.MALE),
        ("C-3", "Smith", "Múla", date(1984, 5, 17), Sex.UNKNOWN),
        ("D-4", "Müller", "Annabel", date(1961, 4, 23), Sex.FEMALE),
        ("E-5", "O'Brien", "Ann", date(1970, 1, 1), Sex.OTHER),
        ("F-6", "Anders", "Müller", date(1990, 12, 31), Sex.MALE),
    ]
    with db.unit_of_work("seed") as uow:
        ids = [uow.patients.add(PatientDraft(m, f, g, d, s, phone="+1", email="x@y.z",
                                             notes="n")).id for m, f, g, d, s in people]
    with db.unit_of_work("seed") as uow:
        uow.patients.mark_entered_in_error(ids[3], 1, "duplicate")


def _orm_search(db: Database, typed: str, offset: int, limit: int, in_error: bool):  # type: ignore[no-untyped-def]
    with db.unit_of_work("t", read_only=True) as uow:
        conds = search_filter(typed, include_in_error=in_error)
        q = (select(PatientRow).where(*conds)
             .order_by(PatientRow.family_key, PatientRow.given_key, PatientRow.id)
             .offset(offset).limit(limit))
        rows = [mapping.patient_of(r) for r in uow.session.scalars(q)]
        total = len(list(uow.session.scalars(select(PatientRow.id).where(*conds))))
    return rows, total


@pytest.mark.parametrize("in_error", [False, True])
def test_core_search_equals_orm_search(db: Database, in_error: bool) -> None:
    _seed(db)
    for typed in TYPED:
        for offset, limit in ((0, 200), (1, 2), (3, 200)):
            want, total = _orm_search(db, typed, offset, limit, in_error)
            with db.unit_of_work("t", read_only=True) as uow:
                got = uow.patients.search(typed, offset, limit, include_in_error=in_error)
                count = uow.patients.count(typed, include_in_error=in_error)
            assert got == want, (typed, offset, limit)
            assert count == total, typed
            for p in got:
                assert isinstance(p.draft.sex, Sex) and p.stamp.created_at.tzinfo is not None


def test_core_search_sees_rows_flushed_in_the_same_unit_of_work(db: Database) -> None:
    with db.unit_of_work("t") as uow:
        uow.patients.add(PatientDraft("Z-1", "Zed", "Zoe", date(2000, 1, 1)))
        assert [p.draft.mrn for p in uow.patients.search("zed")] == ["Z-1"]
        assert uow.patients.count("zed") == 1


@pytest.mark.parametrize("typed", ["mul", "müller an", "DEMO-00", "23.04.1961", ""])
def test_cached_search_statement_uses_indexes(sqlite_db: Database, typed: str) -> None:
    sql, values = sqlite_db.patient_list.statement(typed)  # exactly what the list runs
    with sqlite_db.engine.connect() as conn:
        plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql,
                                                   tuple(values))]
    assert any("USING INDEX" in step or "USING COVERING INDEX" in step for step in plan), plan
    assert not any(step.startswith("SCAN patient") and "INDEX" not in step for step in plan)


def _raw(db: Database, table: str) -> list[tuple]:  # type: ignore[type-arg]
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


def test_sqlite_bulk_writer_stores_what_core_insert_stores(tmp_path: Path) -> None:
    now = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    pid, eid = uuid.uuid4(), uuid.uuid4()
    stamp = {"created_at": now, "created_by": "imp", "updated_at": now, "updated_by": "imp",
             "version": 1}
    patient = {"id": pid, "mrn": "P-1", "family_name": "Ø", "given_name": "Å",
               "family_key": "o", "given_key": "a", "date_of_birth": date(1970, 1, 2),
               "sex": "female", "phone": "", "email": "", "notes": "",
               "entered_in_error": False, "error_reason": None, **stamp}
    episode = {"id": eid, "patient_id": pid, "diagnosis": "knee_osteoarthritis",
               "affected_side": "left", "start_date": date(2024, 1, 1), "surgery_date": None,
               "end_date": None, "referring_doctor": "", "notes": "",
               "entered_in_error": False, "error_reason": None, **stamp}
    sessions, tests = [], []
    for i in range(12):
        sid = uuid.uuid4()
        sessions.append({
            "id": sid, "episode_id": eid,
            "performed_at": datetime(2024, 1, 2, 9, tzinfo=UTC) + timedelta(hours=i, seconds=i),
            "mode": "treadmill", "surface": "treadmill_belt", "duration_min": 15.0,
            "distance_m": None if i % 3 else 540.0, "speed_m_s": 0.6, "incline_pct": -2.5,
            "assistance": "handrail", "pain_before": i % 11, "pain_after": None, "rpe": 4.5,
            "heart_rate": 100 + i, "adverse_events": "", "subjective": "é\nñ",
            "objective": "", "assessment": "", "plan": "",
            "entered_in_error": i == 5, "error_reason": "typo" if i == 5 else None, **stamp})
        tests.append({
            "id": uuid.uuid4(), "episode_id": eid, "session_id": sid if i % 2 else None,
            "measure_id": "koos_pain" if i % 2 else "tug", "performed_on": date(2024, 1, 2 + i),
            "side": None if i % 4 else "left", "value": 12.5 - i,
            "items": [1, None, 2, 3, 4, 0, 1, 2, 3] if i % 2 else None, "notes": "",
            "entered_in_error": False, "error_reason": None, **stamp})
    dbs = []
    for name, fast in (("core", False), ("fast", True)):
        db = Database.open(f"sqlite:///{tmp_path / name}.sqlite3", state_dir=tmp_path)
        with db.unit_of_work("imp") as uow:
            for model, rows in ((PatientRow, [patient]), (None, [episode]),
                                (WalkSessionRow, sessions), (TestResultRow, tests)):
                table = (model.__table__ if model is not None
                         else PatientRow.metadata.tables["episode"])
                if fast:  # the stamps as shared values, the rest as tuples
                    keys = [k for k in rows[0] if k not in stamp]
                    bulk._insert_many(uow.session.connection(), table, keys,
                                      [tuple(r[k] for k in keys) for r in rows], stamp)
                else:
                    uow.session.execute(insert(table), [dict(r) for r in rows])
        dbs.append(db)
    try:
        for table in ("patient", "episode", "walk_session", "test_result"):
            assert _raw(dbs[0], table) == _raw(dbs[1], table), table
            assert len(_raw(dbs[1], table)) >= 1
        with dbs[1].unit_of_work("t") as uow:  # and it reads back through the ORM
            ep = uow.tests.for_episode(eid)
            assert ep[1].draft.items == (1, None, 2, 3, 4, 0, 1, 2, 3)
            assert uow.sessions.for_episode(eid)[0].draft.performed_at.tzinfo is not None
    finally:
        for db in dbs:
            db.close()


def _files(folder: Path, sessions: int) -> None:
    folder.mkdir()
    (folder / "patients.csv").write_text(
        "mrn,family_name,given_name,date_of_birth,sex\nP-1,Doe,Jane,1970-05-17,female\n")
    (folder / "episodes.csv").write_text(
        "episode_id,mrn,diagnosis,affected_side,start_date\n"
        "ep1,P-1,knee_osteoarthritis,left,2024-01-08\n")
    lines = ["episode_id,performed_at,mode,surface,duration_min,distance_m,speed_m_s,"
             "incline_pct,assistance,pain_before,pain_after,rpe,heart_rate"]
    for i in range(sessions):
        when = (datetime(2024, 1, 9, 9, tzinfo=UTC) + timedelta(minutes=7 * i)).isoformat()
        lines.append(f"ep1,{when},treadmill,treadmill_belt,15,540,0.6,2,handrail,3,2,4.5,104")
    (folder / "sessions.csv").write_text("\n".join(lines) + "\n")


def test_import_reports_progress_per_batch(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "WRITE_BATCH", 10)
    _files(tmp_path / "in", 25)
    calls: list[tuple[service.ImportPhase, int, int]] = []
    summary = service.import_csv(
        sqlite_db, as_user(sqlite_db, "imp"), tmp_path / "in",
        progress=lambda phase, done, total: calls.append((phase, done, total)))
    assert summary.total == 27
    storing = [(d, t) for phase, d, t in calls if phase is service.ImportPhase.STORING]
    assert storing[0] == (0, 27) and storing[-1] == (27, 27)
    assert [d for d, _ in storing] == sorted(d for d, _ in storing)
    assert len(storing) == 1 + 1 + 1 + 3  # start, patient, episode, 3 session batches
    assert calls[-1][0] is service.ImportPhase.STORING
    # and without a callback the signature is unchanged
    _files(tmp_path / "in2", 1)
    (tmp_path / "in2" / "patients.csv").write_text(
        "mrn,family_name,given_name,date_of_birth,sex\nP-2,Doe,John,1970-05-17,male\n")
    (tmp_path / "in2" / "episodes.csv").write_text(
        "episode_id,mrn,diagnosis,affected_side,start_date\n"
        "ep1,P-2,knee_osteoarthritis,left,2024-01-08\n")
    importer = as_user(sqlite_db, "imp")
    assert service.import_csv(sqlite_db, importer, tmp_path / "in2").total == 3
