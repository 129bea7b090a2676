"""Import is idempotent by record id, on SQLite (executemany) and PostgreSQL (COPY)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import func, select

from clinic_app.persistence.models import (
    AuditRow,
    EpisodeRow,
    PatientRow,
    TestResultRow,
    WalkSessionRow,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.interop import ImportRejected, export_csv, import_csv
from tests.interop.conftest import ACTOR, seed_charts

MODELS = (PatientRow, EpisodeRow, WalkSessionRow, TestResultRow)


def _counts(db: Database) -> tuple[int, ...]:
    with db.unit_of_work(ACTOR) as uow:
        return tuple(int(uow.session.scalar(select(func.count()).select_from(m)) or 0)
                     for m in (*MODELS, AuditRow))


def _ids(db: Database, model: type) -> set[object]:
    with db.unit_of_work(ACTOR) as uow:
        return set(uow.session.scalars(select(model.id)))


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


@pytest.mark.parametrize("kind", ["sessions", "tests", "episodes", "patients"])
def test_reimporting_an_export_changes_nothing(db: Database, tmp_path: Path,
                                               kind: str) -> None:
    seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    before = _counts(db)
    _, rows = _rows(out / f"{kind}.csv")
    for _ in range(2):  # twice: 35 sessions once became 105
        summary = import_csv(db, as_user(db, "importer"), out / f"{kind}.csv")
        assert summary.total == 0 and summary.skipped == len(rows)
        assert getattr(summary, f"skipped_{kind}") == len(rows)
        after = _counts(db)
        assert after[:4] == before[:4]
        assert after[4] == before[4] + 1  # only the import itself is audited
        before = after


def test_a_whole_export_imports_with_its_ids_then_is_skipped(
    db: Database, second_db: Database, tmp_path: Path
) -> None:
    seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    first = import_csv(second_db, as_user(second_db, "importer"), out)
    assert first.skipped == 0 and first.total > 0
    for model in MODELS:
        assert _ids(second_db, model) == _ids(db, model)
    again = import_csv(second_db, as_user(second_db, "importer"), out)
    assert (again.total, again.skipped) == (0, first.total)
    assert _counts(second_db)[:4] == _counts(db)[:4]
    assert second_db.verify_audit().ok


def test_changed_rows_are_conflicts_and_nothing_is_stored(
    db: Database, tmp_path: Path
) -> None:
    made = seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    header, rows = _rows(out / "sessions.csv")
    ix = header.index
    target = str(made["session"].id)  # type: ignore[attr-defined]
    changed = next(r for r in rows if r[ix("session_id")] == target)
    changed[ix("duration_min")] = "13"
    changed[ix("plan")] = "edited elsewhere"
    fresh = list(changed)
    fresh[ix("session_id")] = ""  # a row without an id is new: it would be stored
    fresh[ix("performed_at")] = "2025-03-01T09:00:00+00:00"
    rows.append(fresh)
    before = _counts(db)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), _save(tmp_path / "sessions.csv", header, rows))
    (problem,) = caught.value.problems
    assert problem.field == "session_id" and problem.row == rows.index(changed) + 2
    assert f"session_id {target} is already stored with other values " \
           "(duration_min, plan differ)" in problem.message
    assert _counts(db) == before


def test_duplicate_ids_in_one_file_are_problems(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, ACTOR), out)
    before = _counts(db)
    for kind, column in (("patients", "patient_id"), ("tests", "test_id"),
                         ("episodes", "episode_id"), ("sessions", "session_id")):
        header, rows = _rows(out / f"{kind}.csv")
        twin = list(rows[0])
        if kind == "patients":  # otherwise the MRN twice would be reported first
            twin[header.index("mrn")] = "TWIN-1"
        rows.append(twin)
        with pytest.raises(ImportRejected) as caught:
            import_csv(db, as_user(db, "importer"), _save(tmp_path / f"{kind}.csv", header, rows))
        (problem,) = caught.value.problems
        assert (problem.row, problem.field) == (len(rows) + 1, column)
        assert "appears twice" in problem.message and "also row 2" in problem.message
        assert _counts(db) == before


def test_new_ids_are_kept_and_rows_without_one_get_one(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    new_id = "0b5f3f56-3c1d-4d7e-9a51-7f2f4c8e1a10"
    path = _save(tmp_path / "patients.csv", ["patient_id", "mrn", "family_name", "given_name",
                                             "date_of_birth"],
                 [[new_id, "ID-1", "Kept", "Id", "1990-01-01"],
                  ["", "ID-2", "New", "Id", "1990-01-01"]])
    assert import_csv(db, as_user(db, "importer"), path).patients == 2
    with db.unit_of_work(ACTOR) as uow:
        kept, fresh = uow.patients.by_mrn("ID-1"), uow.patients.by_mrn("ID-2")
    assert kept is not None and str(kept.id) == new_id
    assert fresh is not None and str(fresh.id) != new_id
    # the same file again: the row with an id is skipped, the one without is a new patient
    # whose MRN is already taken, which is reported
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), path)
    assert [(p.row, p.field) for p in caught.value.problems] == [(3, "mrn")]
