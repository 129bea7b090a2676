"""Errors that tell the truth without quoting patient values, and owner-only files."""

from __future__ import annotations

import logging
import os
import stat
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app import config
from clinic_app.domain.errors import ConflictError
from clinic_app.domain.records import PatientDraft
from clinic_app.persistence.engine import DatabaseLocationError
from clinic_app.persistence.uow import Database, SimultaneousWriteError
from clinic_app.safe_log import SafeFormatter
from clinic_app.services import interop
from clinic_app.services.charting import ChartingService
from clinic_app.services.demo import seed_demo
from clinic_app.services.maintenance import backup_now
from clinic_app.services.reporting import generate_report

NAME = "Przybyszewska"


def _draft(mrn: str = "SECRET-77", family: str = NAME) -> PatientDraft:
    return PatientDraft(mrn, family, "Ola", date(1960, 1, 1))


def test_two_workstations_storing_one_mrn_get_a_message_without_it(db: Database) -> None:
    """The database's unique-key message names the MRN: it must not reach the user."""
    with db.unit_of_work("ws1") as uow:
        uow.patients.add(_draft())
    with pytest.raises(SimultaneousWriteError) as err, db.unit_of_work("ws2") as uow:
        uow.patients.add(_draft())  # as if the service's own check raced the other save
    text = str(err.value)
    assert "at the same moment" in text and "SECRET-77" not in text and NAME not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_engines_never_put_bound_values_in_errors(db: Database) -> None:
    assert db.engine.hide_parameters


def test_a_conflict_names_the_stored_version_and_who_saved_it(db: Database) -> None:
    kim, ann = as_user(db, "kim"), as_user(db, "ann")
    patient = ChartingService(db, kim).register_patient(_draft("C-1", "Meyer"))
    ChartingService(db, kim).update_patient(patient.id, 1, _draft("C-1", "Meier"))
    with pytest.raises(ConflictError) as err:
        ChartingService(db, ann).update_patient(patient.id, 1, _draft("C-1", "Maier"))
    text = str(err.value)
    assert "?" not in text and "by kim" in text and "stored version is now 2" in text


def test_the_log_keeps_exception_types_not_their_values() -> None:
    try:
        raise ValueError(f"duplicate key value (mrn)=(SECRET-77) for {NAME}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    text = SafeFormatter("%(message)s").format(record)
    assert "ValueError" in text and "test_honest_errors.py" in text
    assert "SECRET-77" not in text and NAME not in text


def test_a_passphrase_for_a_plain_sqlite_file_is_refused(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIC_APP_DB_PASSPHRASE", "a long passphrase")
    path = tmp_path / "plain.sqlite3"
    with pytest.raises(DatabaseLocationError, match="sqlcipher:///"):
        Database.open(f"sqlite:///{path}")
    assert not path.exists()  # nothing unencrypted was created


def test_unknown_database_kinds_are_refused_clearly() -> None:
    with pytest.raises(DatabaseLocationError, match="not one Backstep can use"):
        Database.open("mysql://root@localhost/clinic")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_services_write_patient_data_owner_only_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = os.umask(0o022)  # a script or test calling the services, not the CLI
    try:
        data = tmp_path / "fresh-data"
        monkeypatch.setenv(config.DATA_DIR_ENV, str(data))
        db = Database.open(f"sqlite:///{data / 'clinic.sqlite3'}")
        try:
            admin = as_user(db, "admin")
            seed_demo(db, admin, patients=1)
            backup = backup_now(db, admin, tmp_path / "out" / "b.sqlite3")
            pdf = generate_report(db, admin, "DEMO-00001", tmp_path / "out" / "r.pdf").path
            interop.export_csv(db, admin, tmp_path / "out" / "csv")
            fhir = tmp_path / "out" / "b.json"
            interop.export_fhir(db, admin, fhir)
        finally:
            db.close()
    finally:
        os.umask(old)
    files = [data / "clinic.sqlite3", backup.path, pdf, fhir,
             *(tmp_path / "out" / "csv").iterdir(), *data.glob("audit-head-*")]
    assert len(files) >= 8
    assert {str(p): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}
    assert _mode(data) == 0o700 and _mode(config.backup_dir()) == 0o700


def test_a_clash_raised_by_the_driver_itself_is_worded_the_same(clean_pg_url: str) -> None:
    """PostgreSQL imports write with COPY on the raw connection: its UniqueViolation is the
    driver's own exception, not SQLAlchemy's, and must not escape with the MRN in it."""
    db = Database.open(clean_pg_url)
    try:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE patient CASCADE")
        with db.unit_of_work("ws1") as uow:
            uow.patients.add(_draft())
        with pytest.raises(SimultaneousWriteError) as err, db.unit_of_work("ws2") as uow:
            raw = uow.session.connection().connection.dbapi_connection
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute("INSERT INTO patient SELECT * FROM patient")
        assert "SECRET-77" not in str(err.value)
    finally:
        db.close()
