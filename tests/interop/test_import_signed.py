"""Rows stored as they are are recognised by their signature, without being converted.

A re-imported export is the common large import: every session and test row should be
skipped by comparing its row signature with the stored one (``interop/csv_signed.py``,
``BulkRepository.same_as_stored``), and anything that differs must still take the careful
path, with its messages unchanged. Both databases.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import text

from clinic_app.domain.imports import ImportRejected
from clinic_app.interop import csv_stream
from clinic_app.persistence.uow import Database
from clinic_app.services.interop import export_csv, import_csv
from tests.interop.conftest import ACTOR, seed_charts


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _save(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def converted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Row numbers of the session and test rows converted the careful way."""
    seen: list[int] = []
    parsed = csv_stream.RawChunk.parsed

    def counting(self: csv_stream.RawChunk, i: int) -> object:
        seen.append(self.records[i][0])
        return parsed(self, i)

    monkeypatch.setattr(csv_stream.RawChunk, "parsed", counting)
    return seen


def test_a_reimported_export_is_recognised_row_by_row(
    db: Database, tmp_path: Path, converted: list[int]
) -> None:
    seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    _, sessions = _rows(out / "sessions.csv")
    _, tests = _rows(out / "tests.csv")
    flagged = sum(r[-2] == "true" for r in sessions) + sum(r[-2] == "true" for r in tests)
    with_items = sum(bool(r[_rows(out / "tests.csv")[0].index("items")]) for r in tests)
    summary = import_csv(db, as_user(db, "importer"), out)
    assert summary.total == 0
    assert summary.skipped_sessions == len(sessions) and summary.skipped_tests == len(tests)
    # Only rows entered in error and questionnaires with items go the careful way.
    assert 0 < len(converted) == flagged + with_items < len(sessions) + len(tests)


@pytest.mark.parametrize("column, value", [
    ("heart_rate", "97"), ("plan", "edited elsewhere"), ("assistance", "supervised"),
    ("performed_at", "2025-01-09T09:30:15.123456+00:00"),
])
def test_a_changed_session_cell_is_never_recognised(
    db: Database, tmp_path: Path, converted: list[int], column: str, value: str
) -> None:
    made = seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    header, rows = _rows(out / "sessions.csv")
    target = str(made["session"].id)  # type: ignore[attr-defined]
    at = next(i for i, r in enumerate(rows) if r[header.index("session_id")] == target)
    if rows[at][header.index(column)] == value:
        value = "independent"  # changed, whichever it was
    rows[at][header.index(column)] = value
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), _save(tmp_path / "sessions.csv", header, rows))
    (problem,) = caught.value.problems
    assert problem.row == at + 2 and problem.field == "session_id"
    assert f"session_id {target} is already stored with other values ({column} differ)" \
        in problem.message
    assert at + 2 in converted


def test_a_changed_test_value_is_a_conflict(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    header, rows = _rows(out / "tests.csv")
    at = next(i for i, r in enumerate(rows) if not r[header.index("items")]
              and r[header.index("entered_in_error")] == "false")
    old = float(rows[at][header.index("value")])
    rows[at][header.index("value")] = repr(old + 0.5)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), _save(tmp_path / "tests.csv", header, rows))
    (problem,) = caught.value.problems
    assert problem.row == at + 2 and "(value differ)" in problem.message


def test_a_row_forged_in_the_database_is_left_as_it_is_and_still_reported(
    db: Database, tmp_path: Path, converted: list[int]
) -> None:
    """The comparison is with what Backstep signed. A stored row edited outside Backstep
    keeps its old signature: a file row equal to the signed content is skipped (nothing is
    written over the forged row) and ``audit verify`` still reports it; a file row equal
    to the forged content fails the signature and is compared value by value."""
    made = seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    header, rows = _rows(out / "sessions.csv")
    target = made["session"].id  # type: ignore[attr-defined]
    at = next(i for i, r in enumerate(rows) if r[header.index("session_id")] == str(target))
    with db.engine.begin() as conn:
        key = target.hex if db.dialect == "sqlite" else str(target)
        conn.execute(text("UPDATE walk_session SET plan = 'forged' WHERE id = :id"),
                     {"id": key})
    path = _save(tmp_path / "sessions.csv", header, rows)
    summary = import_csv(db, as_user(db, "importer"), path)
    assert (summary.total, summary.skipped_sessions) == (0, len(rows))
    assert at + 2 not in converted
    assert any(p.startswith(f"session {target}:") for p in db.verify_audit().problems)
    rows[at][header.index("plan")] = "forged"
    summary = import_csv(db, as_user(db, "importer"), _save(path, header, rows))
    assert (summary.total, summary.skipped_sessions) == (0, len(rows))
    assert at + 2 in converted


def test_a_recognised_row_still_needs_its_episode_and_a_unique_id(
    db: Database, tmp_path: Path
) -> None:
    seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    header, rows = _rows(out / "sessions.csv")
    ix = header.index
    first = next(r for r in rows if r[ix("entered_in_error")] == "false")
    rows.append(list(first))  # the same stored row twice
    wrong = next(r for r in rows if r[ix("mrn")] != first[ix("mrn")]
                 and r[ix("entered_in_error")] == "false")
    wrong[ix("mrn")] = first[ix("mrn")]  # a stored row naming another patient's MRN
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), _save(tmp_path / "sessions.csv", header, rows))
    found = {(p.row, p.field): p.message for p in caught.value.problems}
    assert len(found) == 2
    assert f"appears twice (also row {rows.index(first) + 2})" in found[(len(rows) + 1,
                                                                          "session_id")]
    assert "does not match episode" in found[(rows.index(wrong) + 2, "mrn")]
