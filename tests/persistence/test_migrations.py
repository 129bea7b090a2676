"""Schema migrations: from empty, round trip, backup first, refusing a newer database."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from clinic_app.persistence import migrate
from clinic_app.persistence.backup import integrity_check
from clinic_app.persistence.cohort_summary import DERIVED
from clinic_app.persistence.engine import make_engine
from clinic_app.persistence.models import Base
from clinic_app.persistence.uow import Database

TABLES = {t.name for t in [*Base.metadata.sorted_tables, *DERIVED.sorted_tables]}


def _fresh_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'm.sqlite3'}"
    return request.getfixturevalue("pg_server").create()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_from_empty_creates_schema_matching_models(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db = Database.open(_fresh_url(kind, tmp_path, request))
    try:
        assert db.migration is not None and db.migration.from_revision is None
        assert db.migration.to_revision == migrate.head_revision()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        # The migration and the models agree: autogenerate finds nothing to do.
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn),
                                    [Base.metadata, DERIVED])  # type: ignore[arg-type]
        assert diff == []
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_round_trip_down_to_base_and_up_again(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _fresh_url(kind, tmp_path, request)
    Database.open(url).close()
    engine = make_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()
    db = Database.open(url, backup_dir=tmp_path / "bk")
    try:
        assert set(inspect(db.engine).get_table_names()) >= TABLES
    finally:
        db.close()


def test_sqlite_is_backed_up_before_a_pending_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    Database.open(url).close()
    engine = make_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    engine.dispose()
    db = Database.open(url, backup_dir=tmp_path / "bk")
    db.close()
    assert db.migration is not None and db.migration.backup_path is not None
    assert db.migration.backup_path.parent == tmp_path / "bk"
    assert integrity_check(db.migration.backup_path) == "ok"


def test_fresh_database_is_not_backed_up(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'm.sqlite3'}", backup_dir=tmp_path / "bk")
    db.close()
    assert db.migration is not None and db.migration.backup_path is None


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_database_newer_than_app_is_refused_untouched(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _fresh_url(kind, tmp_path, request)
    Database.open(url).close()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(migrate.DatabaseTooNewError, match="newer Backstep"):
        Database.open(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            "9999_future"
        )
    engine.dispose()


def test_two_workstations_migrating_at_once_on_postgresql(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_server").create()
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Database.open(url).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_sqlite_pragmas_are_applied(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        db.close()
    assert sqlite3.connect(tmp_path / "p.sqlite3").execute("PRAGMA quick_check").fetchone() == (
        "ok",
    )


def test_network_share_is_refused() -> None:
    from clinic_app.persistence.engine import DatabaseLocationError

    with pytest.raises(DatabaseLocationError, match="network share"):
        make_engine("sqlite:////" + "/server/share/clinic.sqlite3")


def test_known_revisions_match_the_migration_scripts() -> None:
    """Start-up recognises an up-to-date schema without Alembic: the list must be complete."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    in_order = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert list(migrate.KNOWN_REVISIONS) == in_order
    assert script.get_current_head() == migrate.HEAD_REVISION


def test_is_current_only_at_head(db: Database) -> None:
    assert migrate.is_current(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        assert not migrate.is_current(db.engine)
    finally:  # the PostgreSQL database is shared by the tests that follow
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"),
                         {"v": migrate.HEAD_REVISION})


def test_opening_an_up_to_date_database_does_not_import_alembic(tmp_path: Path) -> None:
    """Alembic (~100 ms of imports) is loaded only when there is something to migrate."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'current.sqlite3'}"
    Database.open(url).close()
    probe = (
        "import sys\n"
        "from clinic_app.persistence.uow import Database\n"
        f"Database.open({url!r}, check_in_background=True).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"
