"""The import reads its files as a stream, a chunk of rows at a time: whatever the chunk
size, it finds the same problems, links the same rows and stores the same records, on
SQLite and PostgreSQL.

Chunks of two or three rows put every duplicate, link and label in another chunk than the
row it refers to, which is what happens to a clinic's export of millions of rows.
"""

from __future__ import annotations

import csv
import random
import uuid
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import func, select

from clinic_app.interop import csv_stream
from clinic_app.persistence.models import (
    AuditRow,
    CareGoalRow,
    EpisodeRow,
    PatientRow,
    PrescriptionRow,
    SessionSafetyRow,
    TestResultRow,
    WalkSessionRow,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.import_plan import RefIndex
from clinic_app.services.interop import ImportRejected, ImportSummary, export_csv, import_csv
from tests.interop.conftest import ACTOR, seed_charts

MODELS = (PatientRow, EpisodeRow, WalkSessionRow, TestResultRow, AuditRow)
PLAN_MODELS = (CareGoalRow, PrescriptionRow, SessionSafetyRow)


def _counts(db: Database, models: tuple[type, ...] = MODELS) -> tuple[int, ...]:
    with db.unit_of_work(ACTOR) as uow:
        return tuple(int(uow.session.scalar(select(func.count()).select_from(m)) or 0)
                     for m in models)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


SESSION_A = "11111111-1111-4111-8111-111111111111"
SESSION_B = "22222222-2222-4222-8222-222222222222"


def _messy(folder: Path) -> None:
    """Files whose problems and links span rows far apart (and so, chunks)."""
    folder.mkdir()
    _write(folder / "patients.csv", ["mrn", "family_name", "given_name", "date_of_birth"], [
        ["S-1", "Doe", "Ann", "1970-01-01"], ["S-2", "Roe", "Bob", "1971-02-02"],
        ["S-3", "Poe", "Cy", "1972-03-03"], ["S-1", "Doe", "Again", "1970-01-01"],
    ])
    _write(folder / "episodes.csv",
           ["episode_id", "mrn", "diagnosis", "affected_side", "start_date"], [
               ["e1", "S-1", "knee_osteoarthritis", "left", "2024-01-08"],
               ["e2", "S-2", "knee_osteoarthritis", "right", "2024-01-08"],
               ["e3", "S-3", "knee_osteoarthritis", "left", "2024-01-08"],
               ["e1", "S-3", "knee_osteoarthritis", "left", "2024-02-08"],
               ["e4", "S-9", "knee_osteoarthritis", "left", "2024-02-08"],
           ])
    session_rows: list[list[object]] = [
        [SESSION_A, "e1", "", "", "2024-01-09T09:00:00+00:00", 15],
        ["lab1", "e2", "", "", "2024-01-10T09:00:00+00:00", 15],
        ["", "", "S-3", "2024-01-08", "2024-01-11T09:00:00+00:00", 15],
        [SESSION_B, "e3", "", "", "2024-01-12T09:00:00+00:00", 15],
        ["", "e2", "", "", "2024-01-13T09:00:00+00:00", 15],
        [SESSION_A, "e1", "", "", "2024-01-14T09:00:00+00:00", 15],  # duplicate id
        ["lab1", "e1", "", "", "2024-01-15T09:00:00+00:00", 15],  # duplicate label
        ["", "e9", "", "", "2024-01-16T09:00:00+00:00", 15],  # no such episode
        ["", "e1", "", "", "2023-12-01T09:00:00+00:00", 15],  # before the episode
    ]
    _write(folder / "sessions.csv", ["session_id", "episode_id", "mrn", "episode_start",
                                     "performed_at", "duration_min"], session_rows)
    _write(folder / "tests.csv", ["test_id", "episode_id", "session_id", "measure_id",
                                  "performed_on", "value"], [
        ["t1", "e1", SESSION_A, "tug", "2024-01-09", "12.5"],
        ["t2", "e2", "lab1", "tug", "2024-01-10", "12.0"],
        ["t3", "e2", SESSION_A, "tug", "2024-01-10", "12.0"],  # session of another episode
        ["t1", "e3", "", "tug", "2024-01-12", "11.0"],  # duplicate test id
        ["t4", "e3", SESSION_B, "tug", "2024-01-12", "99999"],  # out of range
        ["t5", "e3", "nope", "tug", "2024-01-12", "11.0"],  # no such session
    ])


def _problems(db: Database, folder: Path) -> list[object]:
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), folder)
    return list(caught.value.problems)


def test_problems_across_chunks_are_those_of_one_chunk(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _messy(tmp_path / "in")
    before = _counts(db)
    whole = _problems(db, tmp_path / "in")
    monkeypatch.setattr(csv_stream, "CHUNK_ROWS", 2)
    assert _problems(db, tmp_path / "in") == whole
    assert _counts(db) == before  # nothing stored, nothing audited
    text = "\n".join(str(p) for p in whole)
    for expected in (
        "patients.csv row 5, column mrn: MRN S-1 appears twice in the file (also row 2)",
        "episodes.csv row 5, column episode_id: episode_id e1 appears twice (also row 2)",
        "episodes.csv row 6, column mrn: no patient with MRN S-9",
        f"sessions.csv row 7, column session_id: session_id {SESSION_A} appears twice "
        "(also row 2)",
        "sessions.csv row 8, column session_id: session_id lab1 appears twice (also row 3)",
        "sessions.csv row 9, column episode_id: no episode e9",
        "sessions.csv row 10, column performed_at:",
        f"tests.csv row 4, column session_id: session {SESSION_A} belongs to another "
        "episode of care",
        "tests.csv row 5, column test_id: test_id t1 appears twice (also row 2)",
        "tests.csv row 6, column value:",
        "tests.csv row 7, column session_id: no session nope",
    ):
        assert expected in text, expected
    assert len(whole) == 11


@pytest.mark.parametrize("chunk", [2, 3, 1000])
def test_a_clinic_imports_the_same_whatever_the_chunk(
    db: Database, second_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    """An export (ids, links by id, tests linked to sessions, the demo patients' plan of
    care) imports into an empty clinic in chunks of any size, all in one transaction, then
    is skipped as already stored."""
    seed_charts(db)
    export_csv(db, as_user(db, ACTOR), tmp_path / "out")
    monkeypatch.setattr(csv_stream, "CHUNK_ROWS", chunk)
    first = import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    counts = _counts(db)[:4]
    assert (first.patients, first.episodes, first.sessions, first.tests) == counts
    plan = _counts(db, PLAN_MODELS)
    assert (first.goals, first.prescriptions, first.checklists) == plan and all(plan)
    with second_db.unit_of_work(ACTOR) as uow:
        linked = int(uow.session.scalar(select(func.count()).select_from(TestResultRow)
                                        .where(TestResultRow.session_id.is_not(None))) or 0)
        events = uow.session.execute(select(AuditRow.entity).where(
            AuditRow.action == "import")).scalars().all()
    assert linked > 0
    assert sorted(set(events)) == ["csv", "patient"]
    assert events.count("patient") == counts[0]  # one event per patient, whatever the chunk
    again = import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    assert again == ImportSummary(0, 0, 0, 0, *counts, skipped_plan=sum(plan))
    assert _counts(second_db)[:4] == counts and _counts(second_db, PLAN_MODELS) == plan
    assert second_db.verify_audit().ok


def test_new_ids_ascend_across_chunks(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows without an id get new ones in insertion order across every chunk (the
    primary-key index grows at its end), and links by label still resolve."""
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "patients.csv", ["mrn", "family_name", "given_name", "date_of_birth"],
           [["A-1", "Doe", "Ann", "1970-01-01"]])
    _write(folder / "episodes.csv", ["mrn", "diagnosis", "affected_side", "start_date"],
           [["A-1", "knee_osteoarthritis", "left", "2024-01-08"]])
    _write(folder / "sessions.csv", ["session_id", "mrn", "episode_start", "performed_at"],
           [[f"s{i}", "A-1", "2024-01-08", f"2024-02-{1 + i:02d}T09:00:00+00:00"]
            for i in range(20)])
    _write(folder / "tests.csv", ["session_id", "mrn", "episode_start", "measure_id",
                                  "performed_on", "value"],
           [[f"s{i}", "A-1", "2024-01-08", "tug", f"2024-02-{1 + i:02d}", "12"]
            for i in range(20)])
    monkeypatch.setattr(csv_stream, "CHUNK_ROWS", 3)
    summary = import_csv(db, as_user(db, "importer"), folder)
    assert (summary.sessions, summary.tests) == (20, 20)
    with db.unit_of_work(ACTOR) as uow:
        sessions = uow.session.execute(select(WalkSessionRow.id, WalkSessionRow.performed_at)
                                       .order_by(WalkSessionRow.performed_at)).all()
        tests = uow.session.execute(select(TestResultRow.session_id, TestResultRow.performed_on)
                                    .order_by(TestResultRow.performed_on)).all()
    ids = [s.id for s in sessions]
    assert ids == sorted(ids, key=lambda i: i.int) and len(set(ids)) == 20
    assert [t.session_id for t in tests] == ids  # each test on the session of its label
    assert all(i.version == 4 for i in ids)


def test_ref_index_finds_what_was_added_even_with_equal_low_halves() -> None:
    index = RefIndex()
    rng = random.Random(7)
    keys = [rng.getrandbits(128) for _ in range(5000)]
    twins = [(k & ~((1 << 64) - 1)) ^ (1 << 100) | (k & ((1 << 64) - 1)) for k in keys[:50]]
    index.add(keys[:2500], list(range(2500)), [k % 97 for k in keys[:2500]])
    index.add(keys[2500:] + twins, list(range(2500, 5000)) + [9] * 50, [1] * 2550)
    found = index.find(keys + twins + [rng.getrandbits(128)])
    assert found[:2500] == [(i, k % 97) for i, k in enumerate(keys[:2500])]
    assert found[2500:5000] == [(i, 1) for i in range(2500, 5000)]
    assert found[5000:5050] == [(9, 1)] * 50
    assert found[-1] is None and len(index) == 5050
    assert RefIndex.key(str(keys[0])) is None  # a label, not a UUID
    assert RefIndex.key(SESSION_A) == uuid.UUID(SESSION_A).int
    assert RefIndex.key("11111111-1111-4111-8111-11111111111A") is None  # not canonical
