"""Clinical and user rows changed directly in the database are detected, on both databases.

Each test is an attack an adversarial tester made with plain SQL (the way ``sqlite3`` or
``psql`` would), followed by what Backstep must do about it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import select, text

from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence.models import PatientRow, UserRow
from clinic_app.persistence.rowmac import TamperedRowError
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.charting import ChartingService
from clinic_app.services.demo import seed_demo
from clinic_app.services.interop import export_csv, import_csv

PASSWORD = "correct horse battery"


def _chart(db: Database) -> tuple[ChartingService, dict[str, object]]:
    svc = ChartingService(db, as_user(db, "alice"))
    patient = svc.register_patient(PatientDraft("TMP-1", "Jensen", "Freya", date(1990, 1, 1)))
    episode = svc.open_episode(patient.id, EpisodeDraft(
        Diagnosis.ACL_RECONSTRUCTION, Side.LEFT, date(2025, 1, 6), date(2024, 12, 20)))
    session, tests = svc.record_session(
        episode.id,
        WalkSessionDraft(performed_at=datetime(2025, 1, 8, 9, 30, 15, 123456, tzinfo=UTC),
                         duration_min=12.5, distance_m=390.0, speed_m_s=0.52, pain_before=3),
        [TestResultDraft("knee_flexion_rom", date(2025, 1, 8), 95.0, side=Side.LEFT)])
    return svc, {"patient": patient, "episode": episode, "session": session, "test": tests[0]}


def _sql(db: Database, *statements: str) -> None:
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_rows_written_by_backstep_verify(db: Database) -> None:
    """Every way Backstep writes a row re-signs it: creates, updates, "entered in error",
    sign-in counters and lockout, password resets, the letterhead."""
    from clinic_app.domain.records import ClinicInfo
    from clinic_app.services.clinic import save_clinic

    svc, chart = _chart(db)
    test = chart["test"]
    with db.unit_of_work(as_user(db, "alice")) as uow:  # corrected in place (repository)
        uow.tests.update(test.id, 1, TestResultDraft(
            "knee_flexion_rom", date(2025, 1, 8), 97.0, side=Side.LEFT), 97.0)
    svc.mark_session_in_error(chart["session"].id, 1, "wrong patient")  # type: ignore[attr-defined]
    svc.update_episode(chart["episode"].id, 1, EpisodeDraft(  # type: ignore[attr-defined]
        Diagnosis.ACL_RECONSTRUCTION, Side.RIGHT, date(2025, 1, 6), date(2024, 12, 20)))
    seed_demo(db, as_user(db, "alice"), patients=2, seed=3, today=date(2025, 6, 1))
    admin = as_user(db, "alice")  # an administrator: accounts made through the service are signed
    security.create_user(db, admin, "thera", "T", Role.THERAPIST, PASSWORD)
    for _ in range(security.MAX_FAILURES):
        with pytest.raises(security.AuthenticationError):
            security.authenticate(db, "thera", "wrong password!")
    security.reset_password(db, admin, "thera", PASSWORD + "2")
    assert security.authenticate(db, "thera", PASSWORD + "2").username == "thera"
    saved = save_clinic(db, admin, ClinicInfo("Knee Clinic", "Straße 1"))
    save_clinic(db, admin, ClinicInfo("Knee Clinic", "Straße 2", version=saved.version))
    report = db.verify_audit()
    assert report.ok, report.problems
    assert report.rows_checked > 10


def test_patient_renamed_in_sql_is_detected(db: Database) -> None:
    _, chart = _chart(db)
    _sql(db, "UPDATE patient SET family_name = 'Hacked'")
    report = db.verify_audit()
    assert not report.ok
    patient_id = chart["patient"].id  # type: ignore[attr-defined]
    assert report.problems == [f"patient {patient_id}: changed outside Backstep "
                               "(its signature does not match)"]
    assert "Hacked" not in " ".join(report.problems)  # no patient values in the report


def test_session_and_test_edits_in_sql_are_detected(db: Database) -> None:
    _, chart = _chart(db)
    _sql(db, "UPDATE walk_session SET distance_m = 1200, pain_before = 0",
         "UPDATE test_result SET value = 130")
    problems = db.verify_audit().problems
    assert any(p.startswith(f"session {chart['session'].id}:") for p in problems)  # type: ignore[attr-defined]
    assert any(p.startswith(f"test result {chart['test'].id}:") for p in problems)  # type: ignore[attr-defined]


def test_row_inserted_in_sql_is_detected(db: Database) -> None:
    _chart(db)
    with db.engine.begin() as conn:
        row = dict(conn.execute(select(PatientRow.__table__)).mappings().one())
    row.update(id=uuid.UUID("00000000-0000-4000-8000-000000000001"), mrn="FAKE-9",
               row_mac=None)
    with db.engine.begin() as conn:
        conn.execute(PatientRow.__table__.insert(), [row])
    problems = db.verify_audit().problems
    assert problems == ["patient 00000000-0000-4000-8000-000000000001: has no signature "
                        "(inserted outside Backstep)"]


def test_deleting_every_patient_is_detected(db: Database) -> None:
    _, chart = _chart(db)
    _sql(db, "DELETE FROM test_result", "DELETE FROM walk_session", "DELETE FROM episode",
         "DELETE FROM patient")
    problems = db.verify_audit().problems
    patient_id = chart["patient"].id  # type: ignore[attr-defined]
    assert any(p.startswith(f"patient {patient_id}: recorded in audit event 1 but missing")
               for p in problems), problems
    assert len([p for p in problems if "missing from the database" in p]) == 4


def test_an_older_signed_copy_put_back_is_detected(db: Database) -> None:
    """Replaying a row's earlier (validly signed) state is caught by the audit trail."""
    svc, chart = _chart(db)
    patient = chart["patient"]
    table = PatientRow.__table__
    with db.engine.begin() as conn:
        old = dict(conn.execute(select(table)).mappings().one())
    svc.update_patient(patient.id, 1,  # type: ignore[attr-defined]
                       PatientDraft("TMP-1", "Jensen", "Freja", date(1990, 1, 1)))
    assert db.verify_audit().ok
    with db.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == old["id"]).values(**old))
    problems = db.verify_audit().problems
    assert problems == [f"patient {patient.id}: version 1 is older than version 2 written in "  # type: ignore[attr-defined]
                        "audit event 5 (an old copy was put back)"]


def test_saving_over_a_forged_row_is_refused_and_the_row_untouched(db: Database) -> None:
    """Saving would re-sign the forged content, so Backstep refuses to write over it."""
    svc, chart = _chart(db)
    patient = chart["patient"]
    _sql(db, "UPDATE patient SET family_name = 'Hacked'")
    with pytest.raises(TamperedRowError, match="changed outside Backstep"):
        svc.update_patient(patient.id, 1,  # type: ignore[attr-defined]
                           PatientDraft("TMP-1", "Jensen", "Freja", date(1990, 1, 1)))
    stored = svc.get_patient(patient.id)  # type: ignore[attr-defined]
    assert (stored.draft.family_name, stored.draft.given_name, stored.stamp.version) == (
        "Hacked", "Freya", 1)
    assert not db.verify_audit().ok


def test_imported_rows_are_signed(db: Database, tmp_path: Path) -> None:
    """Rows written by the bulk import (executemany on SQLite, COPY on PostgreSQL) verify."""
    seed_demo(db, as_user(db, "alice"), patients=2, seed=5, today=date(2025, 6, 1))
    export_csv(db, as_user(db, "alice"), tmp_path / "out")
    # The demo's plan-of-care rows are not part of the CSV export: cleared with the rest.
    _sql(db, "DELETE FROM session_safety", "DELETE FROM care_goal",
         "DELETE FROM care_prescription", "DELETE FROM test_result",
         "DELETE FROM walk_session", "DELETE FROM episode", "DELETE FROM patient",
         "DELETE FROM audit_event")
    (db.head_file).unlink()
    import_csv(db, as_user(db, "alice"), tmp_path / "out")
    report = db.verify_audit()
    assert report.ok, report.problems[:3]
    _sql(db, "UPDATE walk_session SET rpe = 1 WHERE rpe IS NOT NULL")
    assert not db.verify_audit().ok


def test_forged_administrator_cannot_sign_in(db: Database) -> None:
    """An administrator row added with SQL (known password) is refused at sign-in."""
    security.create_first_admin(db, "boss", "Boss", PASSWORD)
    hashed = security.HASHER.hash(PASSWORD)
    with db.engine.begin() as conn:
        conn.execute(UserRow.__table__.insert(), [{
            "id": uuid.uuid4(), "username": "mallory", "full_name": "M", "role": "admin",
            "password_hash": hashed, "active": True, "created_at": datetime.now(UTC),
            "failed_logins": 0, "version": 1}])
    # Refused like any wrong password (no hint which names exist); the trail says why.
    with pytest.raises(security.AuthenticationError, match="Wrong user name or password"):
        security.authenticate(db, "mallory", PASSWORD)
    with db.unit_of_work("check") as uow:
        assert uow.audit.latest(1)[0].detail == "account record changed outside Backstep"
    assert security.authenticate(db, "boss", PASSWORD).username == "boss"


def test_role_raised_in_sql_cannot_sign_in(db: Database) -> None:
    admin = security.create_first_admin(db, "boss", "Boss", PASSWORD)
    security.create_user(db, admin, "desk", "Front", Role.FRONT_DESK, PASSWORD)
    _sql(db, "UPDATE app_user SET role = 'admin' WHERE username = 'desk'")
    with pytest.raises(security.AuthenticationError, match="Wrong user name or password"):
        security.authenticate(db, "desk", PASSWORD)
    problems = db.verify_audit().problems
    assert len(problems) == 1 and problems[0].startswith("user account ")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_signs_the_rows_that_already_exist(kind: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    """A database written before row signatures: the upgrade signs its rows with the key,
    so they verify and later SQL edits are caught."""
    from alembic import command

    from clinic_app.persistence import migrate
    from clinic_app.persistence.backup import check_signature
    from clinic_app.persistence.engine import make_engine

    url = (f"sqlite:///{tmp_path / 'old.sqlite3'}" if kind == "sqlite"
           else request.getfixturevalue("pg_server").create())
    engine = make_engine(url)
    now = datetime.now(UTC)
    stamps = {"created_at": now, "created_by": "old", "updated_at": now, "updated_by": "old",
              "version": 3, "entered_in_error": False}
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0001")
        conn.execute(PatientRow.__table__.insert(), [{
            "id": uuid.uuid4(), "mrn": "OLD-1", "family_name": "Æbelø", "given_name": "Åse",
            "family_key": "æbelø", "given_key": "åse", "date_of_birth": date(1950, 5, 6),
            "sex": "female", "phone": "", "email": "", "notes": "", **stamps}])
    engine.dispose()
    db = Database.open(url, backup_dir=tmp_path / "bk")
    try:
        assert db.migration is not None and db.migration.from_revision == "0001"
        if kind == "sqlite":  # the pre-migration backup is signed and restorable
            assert db.migration.backup_path is not None
            check_signature(db.migration.backup_path, db.audit_key)
        report = db.verify_audit()
        assert report.ok and report.rows_checked == 1, report.problems
        _sql(db, "UPDATE patient SET version = 4")
        assert not db.verify_audit().ok
    finally:
        db.close()


def test_bulk_signer_agrees_with_the_row_signature() -> None:
    """The generated fast signer of the import gives the same MAC for every value shape."""
    from datetime import timedelta, timezone

    from clinic_app.domain.records import Assistance, Surface, WalkMode
    from clinic_app.persistence import mapping, rowmac

    key = b"k" * 32
    keys = ("id", "entered_in_error", "error_reason", "episode_id", "performed_at", "mode",
            "surface", "assistance", *mapping.SESSION_FIELDS)
    stamps = {"created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "created_by": "imp",
              "updated_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "updated_by": "imp",
              "version": 1}
    sign = rowmac.row_signer(key, "walk_session", keys, stamps)
    plus_two = timezone(timedelta(hours=2))
    shapes = [
        (uuid.uuid4(), False, None, uuid.uuid4(), datetime(2025, 1, 8, 9, 30, tzinfo=UTC),
         "treadmill", "treadmill_belt", "independent"),
        (str(uuid.uuid4()), True, "typo", uuid.uuid4(), datetime(2025, 1, 8, 11, tzinfo=plus_two),
         WalkMode.OVERGROUND, Surface.TREADMILL_BELT, Assistance.HANDRAIL),
    ]
    fillers = [(12, 300, 0.5, -2, 3, 2.0, 4, 100, "a", "", "ü", "", "\x1e"),
               (None,) * len(mapping.SESSION_FIELDS)]
    for head in shapes:
        for tail in fillers:
            row = (*head, *tail[:len(mapping.SESSION_FIELDS)])
            row += ("",) * (len(keys) - len(row))
            values = {**dict(zip(keys, row, strict=True)), **stamps}
            assert sign(row) == rowmac.compute(key, "walk_session", values)


def test_audit_verify_command_reports_an_edited_record(db: Database,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    from clinic_app.cli import run as run_cli

    def run(argv: list[str]) -> int:
        """As a script signs in: ``echo "$PW" | clinic-app --user boss --password-stdin``."""
        sys.stdin = io.StringIO(PASSWORD + "\n")
        try:
            return run_cli(["--user", "boss", "--password-stdin", *argv])
        finally:
            sys.stdin = sys.__stdin__

    _, chart = _chart(db)
    security.create_user(db, as_user(db, "alice"), "boss", "Boss", Role.ADMIN, PASSWORD)
    assert run(["--db", db.url, "audit", "verify"]) == 0
    # The patient, episode, session and test, and the two accounts.
    assert "6 records match their signatures" in capsys.readouterr().out
    _sql(db, "UPDATE patient SET family_name = 'Hacked'")
    assert run(["--db", db.url, "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"patient {chart['patient'].id}: changed outside Backstep" in err  # type: ignore[attr-defined]
    assert "Hacked" not in err and "Traceback" not in err
