"""Hostile or absurd input is refused by the import and the services, on both databases."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import func, select

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence.models import PatientRow, TestResultRow, WalkSessionRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.interop import ImportRejected, import_csv

ACTOR = "hostile-tester"
BORN = date(1988, 3, 14)
START = date(2025, 1, 6)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _count(db: Database, model: type) -> int:
    with db.unit_of_work(ACTOR) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def charted(db: Database) -> tuple[ChartingService, object]:
    svc = ChartingService(db, as_user(db, ACTOR))
    p = svc.register_patient(PatientDraft("H-1", "Haddad", "Lina", BORN))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.RIGHT, START))
    return svc, ep


SESSION_HEADER = ["mrn", "episode_start", "performed_at", "duration_min"]


def test_session_times_out_of_range_are_listed_not_a_traceback(
    db: Database, charted: tuple[ChartingService, object], tmp_path: Path
) -> None:
    rows = [["H-1", START.isoformat(), when, 10] for when in (
        "0001-01-01T00:00:00+14:00",  # converting to UTC overflowed
        "9999-12-31T23:00:00-05:00",  # ditto
        "2099-01-01T10:00:00+00:00",
        "1900-06-01T10:00:00+00:00",  # after 1900 but before the episode (and the birth)
        "2025-02-01T10:00:00+01:00",  # fine
    )]
    before = _count(db, WalkSessionRow)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, ACTOR), _write(tmp_path / "sessions.csv", SESSION_HEADER, rows))
    found = {p.row: p for p in caught.value.problems}
    assert sorted(found) == [2, 3, 4, 5]
    assert all(p.field == "performed_at" for p in found.values())
    assert "0001-01-01 00:00+14:00 is before 1900-01-01" in found[2].message
    assert "9999-12-31 23:00-05:00 is more than a day in the future" in found[3].message
    assert "2099-01-01" in found[4].message
    assert "is before the episode start 2025-01-06" in found[5].message
    assert _count(db, WalkSessionRow) == before


def test_test_dates_notes_and_names_are_refused(
    db: Database, charted: tuple[ChartingService, object], tmp_path: Path
) -> None:
    header = ["mrn", "episode_start", "measure_id", "performed_on", "value", "notes"]
    start = START.isoformat()
    rows = [
        ["H-1", start, "tug", "2099-01-01", 9.5, ""],
        ["H-1", start, "tug", "9999-12-31", 9.5, ""],
        ["H-1", start, "tug", "1900-01-01", 9.5, ""],  # before the birth and the episode
        ["H-1", start, "tug", "2024-12-31", 9.5, ""],  # the day before the episode
        ["H-1", start, "tug", "2025-02-01", 9.5, "n" * 131_000],
        ["H-1", start, "tug", "2025-02-01", 9.5, "ok\u202eko"],
        ["H-1", start, "tug", "2025-02-01", 9.5, "fine"],
    ]
    before = _count(db, TestResultRow)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, ACTOR), _write(tmp_path / "tests.csv", header, rows))
    found = {p.row: (p.field, p.message) for p in caught.value.problems}
    assert sorted(found) == [2, 3, 4, 5, 6, 7]
    assert [found[r][0] for r in (2, 3, 4, 5)] == ["performed_on"] * 4
    assert "more than a day in the future" in found[2][1]
    assert "before the episode start 2025-01-06" in found[4][1]
    assert "before the episode start 2025-01-06" in found[5][1]
    assert found[6] == ("notes", "Notes: is 131,000 characters long "
                                 "(allowed: at most 20,000 characters)")
    assert found[7][0] == "notes" and "U+202E" in found[7][1]
    assert _count(db, TestResultRow) == before

    names = [["H-2", "Evil\x1b]0;pwned\x07", "Eve", "1990-01-01"],
             ["H-3", "Smith", "\u202eevE", "1990-01-01"],
             ["H-4", "Bell\x07", "Ann", "1990-01-01"]]
    patients = _count(db, PatientRow)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, ACTOR), _write(tmp_path / "patients.csv",
                                     ["mrn", "family_name", "given_name", "date_of_birth"],
                                     names))
    assert {(p.row, p.field) for p in caught.value.problems} == {
        (2, "family_name"), (3, "given_name"), (4, "family_name")}
    assert _count(db, PatientRow) == patients


def test_services_refuse_dates_before_birth_or_episode(
    db: Database, charted: tuple[ChartingService, object]
) -> None:
    svc, ep = charted
    with pytest.raises(ValidationError, match="before the episode start 2025-01-06"):
        svc.record_session(ep.id, WalkSessionDraft(datetime(1900, 1, 1, 12, tzinfo=UTC)))  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="^Performed on: 1950-01-01 is before the "):
        svc.record_test(ep.id, TestResultDraft("tug", date(1950, 1, 1), 9.0))  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="^Notes: is 131,000 characters long"):
        svc.record_test(ep.id, TestResultDraft("tug", START, 9.0, notes="x" * 131_000))  # type: ignore[attr-defined]
    s, _ = svc.record_session(ep.id, WalkSessionDraft(datetime(2025, 1, 6, 9, tzinfo=UTC)))  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="before the episode start"):
        svc.update_session(s.id, s.stamp.version,
                           WalkSessionDraft(datetime(2024, 1, 6, 9, tzinfo=UTC)))
    with pytest.raises(ValidationError, match="^Family name: contains .*U\\+202E"):
        svc.register_patient(PatientDraft("H-9", "\u202eliveD", "Ann", BORN))
