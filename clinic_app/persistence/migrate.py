"""Schema migrations at start-up: back up first, refuse a newer database, one migrator at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

from clinic_app.domain.errors import DomainError
from clinic_app.persistence.engine import sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Every revision in migrations/versions, oldest first. Kept here so that an up-to-date
# database is recognised at start-up without importing Alembic (~100 ms of the start-up);
# a test checks this list against Alembic's script directory.
KNOWN_REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007",
                                    "0008", "0009")
HEAD_REVISION = KNOWN_REVISIONS[-1]
# Arbitrary constant key: every Backstep workstation takes the same advisory lock.
PG_MIGRATION_LOCK = 0x4261636B  # "Back"


class DatabaseTooNewError(DomainError):
    """The database was migrated by a newer Backstep than this one."""


@dataclass(frozen=True)
class MigrationResult:
    from_revision: str | None
    to_revision: str
    backup_path: Path | None


def alembic_config(connection: Connection | None = None,
                   audit_key: bytes | None = None) -> Config:
    """Alembic's configuration for the bundled migrations (imports Alembic).

    ``audit_key`` reaches migrations that sign existing rows (0002).
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    cfg.attributes["audit_key"] = audit_key
    return cfg


def head_revision() -> str:
    """The newest schema revision this Backstep knows."""
    return HEAD_REVISION


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, or None for an empty (never migrated) one.

    Plain SQL rather than Alembic's MigrationContext, so a start-up on an up-to-date
    database needs no Alembic import. Runs in the caller's transaction (the PostgreSQL dump
    reads it in its snapshot).
    """
    if connection.dialect.name == "postgresql":
        exists = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    else:
        exists = connection.execute(text(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        )).scalar()
    revision = None
    if exists is not None:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return revision


def _check_known(revision: str | None) -> None:
    if revision is None or revision in KNOWN_REVISIONS:
        return
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    script = ScriptDirectory.from_config(alembic_config())
    try:
        known = script.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise DatabaseTooNewError(
            f"This database has schema revision {revision}, which this version of Backstep "
            "does not know: it was upgraded by a newer Backstep. Install the newer version; "
            "nothing was changed."
        )


def upgrade(
    engine: Engine, backup_dir: Path | None = None, key: str | None = None,
    audit_key: bytes | None = None,
) -> MigrationResult:
    """Bring the schema to head.

    SQLite: when a migration is pending on a database that holds tables, the file is first copied
    with the online backup API into ``backup_dir``. PostgreSQL: an advisory lock makes
    concurrent workstations wait for one migrator. ``key`` is the SQLCipher passphrase of an
    encrypted file, so the pre-migration backup is encrypted too. ``audit_key`` signs the
    rows that exist before row signatures were introduced, and the pre-migration backup.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            conn.commit()
        try:
            before = current_revision(conn)
            conn.rollback()
            _check_known(before)
            head = head_revision()
            backup_path = None
            if before != head:
                path = sqlite_path(str(engine.url))
                if path is not None and backup_dir is not None and _has_tables(conn):
                    from clinic_app.persistence.backup import sign_file, sqlite_online_backup

                    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                    backup_path = backup_dir / f"pre-migration-{before or 'base'}-{stamp}.sqlite3"
                    sqlite_online_backup(path, backup_path, key)
                    if audit_key is not None:
                        sign_file(backup_path, audit_key)
                from alembic import command

                with conn.begin():
                    command.upgrade(alembic_config(conn, audit_key), "head")
            return MigrationResult(before, head, backup_path)
        finally:
            if conn.dialect.name == "postgresql":
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK})
                conn.commit()


def _has_tables(conn: Connection) -> bool:
    found = conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'table'")).scalar()
    conn.rollback()
    return bool(found)


def is_current(engine: Engine) -> bool:
    """True when the database is at this Backstep's head revision (nothing to migrate)."""
    with engine.connect() as conn:
        return current_revision(conn) == HEAD_REVISION


def check_schema(engine: Engine) -> str | None:
    """Return the database revision; raise if it is newer than this app."""
    with engine.connect() as conn:
        rev = current_revision(conn)
    _check_known(rev)
    return rev
