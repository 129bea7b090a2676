"""Import progress from the first row on, and the fast row reader, on SQLite and PostgreSQL.

* progress is reported while the files are read and checked, before anything is stored,
  then while storing: phases in order, each from 0 to its total;
* a bad row deep in a large file still rejects the whole import (nothing stored, no audit);
* the fast path for well-formed session rows gives exactly what the careful per-cell path
  gives (drafts, links, problems), whatever the cells hold.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import func, select

from clinic_app.interop import csv_io
from clinic_app.persistence.models import AuditRow, PatientRow, WalkSessionRow
from clinic_app.persistence.uow import Database
from clinic_app.services.interop import ImportPhase, ImportProblem, ImportRejected, import_csv

SESSIONS = 1200
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _count(db: Database, model: type) -> int:
    with db.unit_of_work("t") as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def _files(folder: Path, sessions: int, bad_row: int | None = None) -> None:
    """patients/episodes/sessions files; ``bad_row`` (0-based) gets pain_after 11."""
    folder.mkdir()
    (folder / "patients.csv").write_text(
        "mrn,family_name,given_name,date_of_birth,sex\n"
        + "".join(f"P-{p},Doe,Jan{p},1970-05-17,female\n" for p in range(3)))
    (folder / "episodes.csv").write_text(
        "episode_id,mrn,diagnosis,affected_side,start_date\n"
        + "".join(f"ep{p},P-{p},knee_osteoarthritis,left,2024-01-08\n" for p in range(3)))
    with open(folder / "sessions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["episode_id", "performed_at", "mode", "surface", "duration_min",
                    "distance_m", "speed_m_s", "pain_before", "pain_after", "subjective"])
        for i in range(sessions):
            when = datetime(2024, 1, 9, 9, tzinfo=UTC) + timedelta(minutes=7 * i)
            w.writerow([f"ep{i % 3}", when.isoformat(), "treadmill", "treadmill_belt", 15,
                        540, 0.6, 3, 11 if i == bad_row else 2, "ok"])


def test_progress_is_reported_while_checking_then_storing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_io, "PROGRESS_ROWS", 100)
    _files(tmp_path / "in", SESSIONS)
    size = sum(f.stat().st_size for f in (tmp_path / "in").iterdir())
    calls: list[tuple[ImportPhase, int, int, int]] = []

    def progress(phase: ImportPhase, done: int, total: int) -> None:
        stored = _count(db, WalkSessionRow) if phase is ImportPhase.CHECKING else -1
        calls.append((phase, done, total, stored))

    summary = import_csv(db, as_user(db, "importer"), tmp_path / "in", progress=progress)
    assert summary.sessions == SESSIONS
    phases = [c[0] for c in calls]
    assert list(dict.fromkeys(phases)) == [ImportPhase.CHECKING, ImportPhase.LINKING,
                                           ImportPhase.STORING]
    checking = [c for c in calls if c[0] is ImportPhase.CHECKING]
    storing = [c for c in calls if c[0] is ImportPhase.STORING]
    # checking: from 0 (before any row is read) to every byte of the files, in steps
    assert checking[0][1:3] == (0, size) and checking[-1][1:3] == (size, size)
    assert [c[1] for c in checking] == sorted(c[1] for c in checking)
    assert len([c for c in checking if 0 < c[1] < size]) >= SESSIONS // 100 - 1
    assert all(c[3] == 0 for c in checking)  # nothing stored while checking
    total = 3 + 3 + SESSIONS
    assert storing[0][1:3] == (0, total) and storing[-1][1:3] == (total, total)
    assert ImportPhase.CHECKING.label == "Checking rows"
    assert ImportPhase.STORING.label == "Storing rows"


def test_bad_row_deep_in_a_large_file_rejects_everything(db: Database, tmp_path: Path) -> None:
    _files(tmp_path / "in", SESSIONS, bad_row=SESSIONS - 3)
    before = {m: _count(db, m) for m in (PatientRow, WalkSessionRow, AuditRow)}
    calls: list[ImportPhase] = []
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), tmp_path / "in",
                   progress=lambda phase, done, total: calls.append(phase))
    assert caught.value.problems == [ImportProblem(
        "sessions.csv", SESSIONS - 1, "pain_after",
        "Pain after: 11 is out of range (allowed: 0 to 10 NPRS, whole numbers)")]
    assert ImportPhase.STORING not in calls and ImportPhase.CHECKING in calls
    assert {m: _count(db, m) for m in before} == before

    _files(tmp_path / "good", SESSIONS)  # the same files, corrected
    assert import_csv(db, as_user(db, "importer"), tmp_path / "good").sessions == SESSIONS
    assert _count(db, WalkSessionRow) == before[WalkSessionRow] + SESSIONS
    with db.unit_of_work("t") as uow:  # one audit event per created patient, plus the file
        events = uow.session.execute(
            select(AuditRow.entity, AuditRow.patient_id, AuditRow.detail)
            .where(AuditRow.action == "import")).all()
    assert sorted(e[0] for e in events) == ["csv", "patient", "patient", "patient"]
    assert all("1 patient, 1 episode(s), 400 session(s)" in e[2] for e in events
               if e[0] == "patient")
    assert db.verify_audit().ok


# --- fast path == careful path -----------------------------------------------------------

_CELLS = {
    "episode_id": ["ep1", " ep1 ", "", "EP1"],
    "mrn": ["", "x-100", " X-100"],
    "episode_start": ["", "2025-01-06", "06/01/2025", "2025-02-30", " 2025-01-06 "],
    "performed_at": ["2025-01-08T09:30:00+00:00", "2025-01-08T09:30:00Z",
                     " 2025-01-08 09:30:00+02:00", "2025-01-08T09:30:00", "", "soon",
                     "2031-01-01T00:00:00+00:00", "2025-01-08T09:30:00.123456-05:00"],
    "mode": ["treadmill", "Treadmill", "", "sideways"],
    "surface": ["treadmill_belt", "TREADMILL_BELT", "", "flat", "lava"],
    "assistance": ["", "handrail", "Assisted ", "pushed"],
    "duration_min": ["15", "15.0", "", "1e1", "nan", "inf", " 12.5 ", "x", "200", "15,5"],
    "distance_m": ["540", "", "-1", "1_000"],
    "speed_m_s": ["0.6", "", "0,6", "3.5", "0.59999"],
    "incline_pct": ["", "-2.5", "25.0", "26"],
    "pain_before": ["3", "3.0", "3.5", "", "11", "-0"],
    "pain_after": ["2", ""],
    "rpe": ["4.5", "", "10.5"],
    "heart_rate": ["104", "", "29", "104.0"],
    "adverse_events": ["", "'=1+1", "'plain", "-dizzy", "'\t"],
    "subjective": ["Feels steadier.", "é\nñ", ""],
    "entered_in_error": ["", "false", "no", "true", "maybe", "0", "Y"],
    "error_reason": ["", "typo in date", "'\t", " "],
    "session_id": ["", "s1", " s1 "],
}


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_fast_session_reader_matches_the_careful_one(tmp_path: Path, delimiter: str) -> None:
    rng = random.Random(20250601)
    header = list(_CELLS)
    rows = []
    for i in range(3000):  # mostly well-formed rows, each with a few odd cells
        row = {c: v[0] for c, v in _CELLS.items()}
        for c in rng.sample(header, rng.choice((0, 0, 1, 2, 3))):
            row[c] = rng.choice(_CELLS[c])
        if i % 7 == 0:
            row["episode_id"] = ""
        rows.append([row[c] for c in header])
    path = tmp_path / "sessions.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)

    fast_problems: list[ImportProblem] = []
    careful_problems: list[ImportProblem] = []
    fast_table = csv_io._Table(path, "sessions", fast_problems)
    careful_table = csv_io._Table(path, "sessions", careful_problems)
    reader = csv_io._SessionRows(fast_table, NOW)
    fast = [reader.read(n, v) for n, v in fast_table.records()]
    careful = [csv_io._session(careful_table.cells(n, v), NOW)
               for n, v in careful_table.records()]
    assert len(fast) == len(rows)
    assert fast == careful
    assert fast_problems == careful_problems
    assert 0 < sum(s.draft is None for s in fast) < len(fast) // 2  # rows with problems
    again = csv_io._Table(path, "sessions", [])
    took_fast = sum(reader._fast(n, v) is not None for n, v in again.records())
    assert len(rows) // 2 < took_fast < len(rows)  # and both paths were taken


def test_an_import_stopped_while_storing_leaves_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel (the GUI raises from ``progress``) after rows were written: all rolled back,
    on SQLite (executemany) and PostgreSQL (COPY) alike."""
    from clinic_app.services import interop as service

    monkeypatch.setattr(service, "WRITE_BATCH", 100)  # several batches written before
    _files(tmp_path / "in", SESSIONS)

    class Stop(Exception):
        pass

    def progress(phase: ImportPhase, done: int, total: int) -> None:
        if phase is ImportPhase.STORING and done >= 500:
            raise Stop

    with pytest.raises(Stop):
        import_csv(db, as_user(db, "importer"), tmp_path / "in", progress=progress)
    assert _count(db, PatientRow) == 0 and _count(db, WalkSessionRow) == 0
    assert _count(db, AuditRow) == 0
    summary = import_csv(db, as_user(db, "importer"), tmp_path / "in")  # and the files still import
    assert summary.sessions == SESSIONS and _count(db, WalkSessionRow) == SESSIONS
