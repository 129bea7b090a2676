"""Shared fixtures: a real SQLite file and a real PostgreSQL database for every storage test."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from clinic_app.persistence.cohort_summary import DERIVED
from clinic_app.persistence.models import Base
from clinic_app.persistence.uow import Database

# Before anything imports Qt: tests never need a display. The offscreen platform's own
# screen is 800x800; windows are fitted to their screen, so give it a desktop monitor's size.
OFFSCREEN_SCREEN = Path(__file__).with_name("offscreen_screen.json")
if os.environ.setdefault("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={OFFSCREEN_SCREEN}"

PG_ADMIN_URL = os.environ.get("CLINIC_APP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real user data folder or a configured database from tests."""
    monkeypatch.setenv("CLINIC_APP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CLINIC_APP_DB", raising=False)
    monkeypatch.delenv("CLINIC_APP_AUDIT_KEY", raising=False)


@pytest.fixture(autouse=True)
def _no_system_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Audit keys of tests never reach the developer's real keyring: no backend by default
    (as on CI), in this process and in the command-line processes tests start; a test that
    wants one sets its own with ``keyring.set_keyring``."""
    import keyring
    from keyring.backends import fail

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def _admin_engine():  # type: ignore[no-untyped-def]
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


class PgServer:
    """Creates throw-away databases on the real server and drops them afterwards."""

    def __init__(self) -> None:
        self.engine = _admin_engine()
        self.created: list[str] = []

    def create(self) -> str:
        name = f"backstep_test_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()


def _start_local_postgres() -> None:
    """Start the machine's PostgreSQL cluster when it is installed but stopped."""
    ctl = shutil.which("pg_ctlcluster")
    if ctl is None:
        return
    for conf in glob.glob("/etc/postgresql/*/main"):
        version = conf.split("/")[3]
        subprocess.run([ctl, "--skip-systemctl-redirect", version, "main", "start"],
                       capture_output=True, timeout=120, check=False)


def _ping(server: PgServer) -> None:
    with server.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        try:
            _ping(server)
        except Exception:
            _start_local_postgres()
            _ping(server)
    except Exception as exc:  # the suite must not silently skip PostgreSQL
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
            "or set CLINIC_APP_TEST_PG."
        )
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """One migrated PostgreSQL database shared by the run; tests empty it before use."""
    url = pg_server.create()
    Database.open(url).close()
    return url


def _truncate(url: str) -> None:
    """Empty the shared PostgreSQL test database (before opening it: a database holding
    audit events signed with another test's key is refused, as a real one would be)."""
    names = ", ".join(t.name for t in [*Base.metadata.sorted_tables,
                                       *DERIVED.sorted_tables])
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def clean_pg_url(pg_url: str) -> str:
    """The shared PostgreSQL test database, emptied for this test."""
    _truncate(pg_url)
    return pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: a real SQLite file, then the real PostgreSQL server."""
    if request.param == "sqlite":
        database = Database.open(f"sqlite:///{tmp_path / 'clinic.sqlite3'}", tmp_path / "bk")
    else:
        url = request.getfixturevalue("pg_url")
        _truncate(url)
        database = Database.open(url)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(f"sqlite:///{tmp_path / 'clinic.sqlite3'}", tmp_path / "bk")
    try:
        yield database
    finally:
        database.close()
