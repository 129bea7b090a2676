"""CSV export and all-or-nothing import, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import func, select

from clinic_app.domain.errors import PermissionDeniedError
from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Role
from clinic_app.interop.csv_io import COLUMNS
from clinic_app.persistence.models import AuditRow, PatientRow, TestResultRow, WalkSessionRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import PatientChart
from clinic_app.services.interop import ImportRejected, export_csv, import_csv, load_charts
from tests.interop.conftest import ACTOR, seed_charts

IMPORTER = "importer"


def _charts(db: Database) -> list[PatientChart]:
    with db.unit_of_work(ACTOR) as uow:
        return load_charts(uow)


def _comparable(charts: list[PatientChart]) -> list[tuple]:
    """Everything but ids and stamps (who/when/version); sessions linked by their time."""
    out = []
    for c in charts:
        eps = []
        for ec in c.episodes:
            when = {s.id: s.draft.performed_at for s in ec.sessions}
            eps.append((
                ec.episode.draft, ec.episode.stamp.entered_in_error,
                ec.episode.stamp.error_reason,
                [(s.draft, s.stamp.entered_in_error, s.stamp.error_reason) for s in ec.sessions],
                sorted(((t.draft.measure_id, t.draft.performed_on, str(t.draft.side), t.value,
                         t.draft.value, t.draft.items, t.draft.notes,
                         when.get(t.draft.session_id), t.stamp.entered_in_error,
                         t.stamp.error_reason) for t in ec.tests), key=repr),
            ))
        out.append((c.patient.draft, c.patient.stamp.entered_in_error,
                    c.patient.stamp.error_reason, eps))
    return out


def _count(db: Database, model: type) -> int:
    with db.unit_of_work(ACTOR) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def _write(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8",
           delimiter: str = ",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_export_files_columns_and_encoding(db: Database, tmp_path: Path) -> None:
    made = seed_charts(db)
    summary = export_csv(db, as_user(db, ACTOR), tmp_path / "out")
    assert (summary.patients, summary.episodes) == (5, 5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "episodes.csv", "goals.csv", "patients.csv", "prescriptions.csv",
        "session_safety.csv", "sessions.csv", "tests.csv"]
    raw = (tmp_path / "out" / "patients.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM so Excel reads UTF-8
    with open(tmp_path / "out" / "patients.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS["patients"])
    x = next(r for r in rows if r["mrn"] == "X-100")
    assert x["family_name"] == "Ó Súilleabháin" and x["date_of_birth"] == "1980-02-29"
    assert x["notes"].startswith("'=HYPERLINK")  # a spreadsheet must not run it
    with open(tmp_path / "out" / "sessions.csv", encoding="utf-8-sig", newline="") as fh:
        sessions = {r["session_id"]: r for r in csv.DictReader(fh)}
    s = sessions[str(made["session"].id)]
    assert s["performed_at"] == "2025-01-08T09:30:15.123456+00:00"
    assert (s["speed_m_s"], s["duration_min"], s["heart_rate"]) == ("0.52", "12.5", "101")
    assert sessions[str(made["wrong_session"].id)]["entered_in_error"] == "true"
    assert sessions[str(made["wrong_session"].id)]["error_reason"] == "duplicate entry"


def test_round_trip_into_empty_database(db: Database, second_db: Database,
                                        tmp_path: Path) -> None:
    seed_charts(db)
    export_csv(db, as_user(db, ACTOR), tmp_path / "out")
    before = _charts(db)
    summary = import_csv(second_db, as_user(second_db, IMPORTER), tmp_path / "out")
    after = _charts(second_db)
    assert summary.patients == len(before) == 5
    assert summary.tests == sum(len(e.tests) for c in before for e in c.episodes)
    assert _comparable(after) == _comparable(before)
    # the same ids, new stamps: created by the importer, version 1
    assert {c.patient.id for c in after} == {c.patient.id for c in before}
    assert ({s.id for c in after for e in c.episodes for s in e.sessions}
            == {s.id for c in before for e in c.episodes for s in e.sessions})
    assert all(c.patient.stamp.created_by == IMPORTER and c.patient.stamp.version == 1
               for c in after)
    with second_db.unit_of_work(ACTOR) as uow:
        x = uow.patients.by_mrn("X-100")
        assert x is not None
        events = [e for e in uow.audit.for_patient(x.id) if e.action == "import"]
        assert len(events) == 1 and "session(s)" in events[0].detail
    assert second_db.verify_audit().ok


def _session_rows(n: int, mrn: str, start: date) -> list[list[object]]:
    base = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    return [[mrn, start.isoformat(), (base + timedelta(hours=i)).isoformat(), "overground",
             "flat", 10, 300, 0.5, 0, 3, 2, 4, 100] for i in range(n)]


SESSION_HEADER = ["mrn", "episode_start", "performed_at", "mode", "surface", "duration_min",
                  "distance_m", "speed_m_s", "incline_pct", "pain_before", "pain_after", "rpe",
                  "heart_rate"]


def test_one_bad_row_among_many_imports_nothing(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    rows = _session_rows(400, "X-100", date(2025, 1, 6))
    rows[57][7] = 5  # speed (allowed 0-3 m/s)
    rows[120][10] = 11  # pain after (0-10)
    rows[121][2] = "2025-02-06T08:00:00"  # no UTC offset
    rows[300][0] = "NOBODY-1"  # unknown patient
    rows[301][1] = "2025-01-07"  # the patient has no episode starting then
    rows[302][3] = "sideways"  # mode
    rows[303][12] = "fast"  # heart rate not a number
    path = _write(tmp_path / "sessions.csv", SESSION_HEADER, rows)
    sessions_before, audit_before = _count(db, WalkSessionRow), _count(db, AuditRow)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, IMPORTER), path)
    found = {(p.row, p.field) for p in caught.value.problems}
    # spreadsheet rows: header is row 1, so list index i is row i + 2
    assert found == {(59, "speed_m_s"), (122, "pain_after"), (123, "performed_at"),
                     (302, "mrn"), (303, "episode_start"), (304, "mode"), (305, "heart_rate")}
    text = str(caught.value)
    assert "Nothing was imported: 7 problem(s) in 7 row(s)" in text
    assert "sessions.csv row 59, column speed_m_s: Speed: 5 m/s is out of range " \
           "(allowed: 0 to 3 m/s)" in text
    assert "(allowed: 0 to 10 NPRS, whole numbers)" in text
    assert "overground, treadmill" in text
    assert _count(db, WalkSessionRow) == sessions_before
    assert _count(db, AuditRow) == audit_before

    rows = _session_rows(400, "X-100", date(2025, 1, 6))  # all good now
    summary = import_csv(db, as_user(db, IMPORTER),
                         _write(tmp_path / "sessions.csv", SESSION_HEADER, rows))
    assert summary.sessions == 400
    assert _count(db, WalkSessionRow) == sessions_before + 400


def test_tests_file_checks_sides_items_units_and_links(db: Database, tmp_path: Path) -> None:
    made = seed_charts(db)
    sid = str(made["session"].id)
    header = ["mrn", "episode_start", "session_id", "measure_id", "performed_on", "side",
              "value", "unit", "items"]
    start = "2025-01-06"
    rows = [
        ["X-100", start, sid, "knee_flexion_rom", "2025-01-08", "left", 100, "°", ""],
        ["X-100", start, "", "knee_flexion_rom", "2025-01-08", "", 100, "", ""],  # no side
        ["X-100", start, "", "koos_qol", "2025-01-08", "", "", "", "2;5;;1"],  # item 5
        ["X-100", start, "", "lefs", "2025-01-08", "", "", "", "4;4"],  # 2 of 20 items
        ["X-100", start, "", "walk_10m", "2025-01-08", "", 1.2, "km/h", ""],  # unit
        ["X-100", start, "", "step_count", "2025-01-08", "", 10, "", ""],  # unknown measure
        ["X-100", start, "not-a-session", "tug", "2025-01-08", "", 9.5, "s", ""],
        ["X-100", start, "", "tug", "08/01/2025", "", 9.5, "s", ""],  # date format
    ]
    path = _write(tmp_path / "tests.csv", header, rows)
    before = _count(db, TestResultRow)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, IMPORTER), path)
    found = {(p.row, p.field) for p in caught.value.problems}
    assert found == {(3, "side"), (4, "items"), (5, "items"), (6, "unit"), (7, "measure_id"),
                     (8, "session_id"), (9, "performed_on")}
    assert _count(db, TestResultRow) == before
    good = _write(tmp_path / "tests.csv", header, [rows[0]])
    assert import_csv(db, as_user(db, IMPORTER), good).tests == 1
    with db.unit_of_work(ACTOR) as uow:
        linked = uow.tests.for_session(made["session"].id)
    assert any(t.draft.side == "left" and t.value == 100 for t in linked)


def test_semicolons_and_decimal_commas_are_read(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    rows = [["X-100", "2025-01-06", "2025-02-01T08:00:00+01:00", "treadmill",
             "treadmill_belt", "10", "300", "0,5", "-1,5", "3", "2", "4,5", "100"]]
    path = _write(tmp_path / "sessions.csv", SESSION_HEADER, rows, delimiter=";")
    assert import_csv(db, as_user(db, IMPORTER), path).sessions == 1
    with db.unit_of_work(ACTOR) as uow:
        patient = uow.patients.by_mrn("X-100")
        assert patient is not None
        (episode,) = uow.episodes.for_patient(patient.id)
        sessions = uow.sessions.for_episode(episode.id)
    new = [s for s in sessions if s.draft.performed_at == datetime(2025, 2, 1, 7, tzinfo=UTC)]
    assert len(new) == 1
    assert (new[0].draft.speed_m_s, new[0].draft.incline_pct, new[0].draft.rpe) == (
        0.5, -1.5, 4.5)


def test_bad_encoding_and_columns_are_clear_errors(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    latin = tmp_path / "patients.csv"
    latin.write_bytes("mrn,family_name,given_name,date_of_birth\nP-9,Müller,Jörg,1970-01-01\n"
                      .encode("cp1252"))
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, IMPORTER), latin)
    (problem,) = caught.value.problems
    assert (problem.row, problem.field) == (0, "file")
    assert "not UTF-8" in problem.message and "line 2" in problem.message

    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("mrn,family_name\n", encoding="utf-16")
    with pytest.raises(ImportRejected, match="UTF-16"):
        import_csv(db, as_user(db, IMPORTER), utf16)

    missing = _write(tmp_path / "sessions.csv", ["mrn", "speed_kmh", "mode"], [["X-100", 2, ""]])
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, IMPORTER), missing)
    found = {(p.row, p.field) for p in caught.value.problems}
    assert found == {(1, "speed_kmh"), (1, "performed_at"), (1, "episode_id")}
    assert "unknown column for sessions.csv" in str(caught.value)

    unknown = _write(tmp_path / "stuff.csv", ["a", "b"], [[1, 2]])
    with pytest.raises(ImportRejected, match="cannot tell what this file holds"):
        import_csv(db, as_user(db, IMPORTER), unknown)
    empty = tmp_path / "tests.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportRejected, match="is empty"):
        import_csv(db, as_user(db, IMPORTER), empty)
    with pytest.raises(ImportRejected, match="does not exist"):
        import_csv(db, as_user(db, IMPORTER), tmp_path / "nope.csv")


def test_patients_duplicates_and_permissions(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    header = ["mrn", "family_name", "given_name", "date_of_birth", "sex", "email"]
    rows = [["x-100", "Dup", "Licate", "1990-01-01", "female", ""],  # MRN in the database
            ["NEW-1", "New", "One", "1990-01-01", "female", ""],
            ["NEW-1", "New", "Again", "1991-01-01", "male", ""],  # twice in the file
            ["NEW-2", "", "Nameless", "1990-01-01", "female", "not-an-email"],
            ["NEW-3", "Future", "Born", "2999-01-01", "x", ""]]
    path = _write(tmp_path / "patients.csv", header, rows)
    before = _count(db, PatientRow)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, IMPORTER), path)
    found = {(p.row, p.field) for p in caught.value.problems}
    assert found == {(2, "mrn"), (4, "mrn"), (5, "family_name"), (6, "date_of_birth")}
    assert _count(db, PatientRow) == before
    desk = Principal("desk", Role.FRONT_DESK)
    with pytest.raises(PermissionDeniedError):
        import_csv(db, desk, _write(tmp_path / "patients.csv", header, [rows[1]]))
    assert _count(db, PatientRow) == before
    assert import_csv(db, as_user(db, IMPORTER), tmp_path / "patients.csv").patients == 1
