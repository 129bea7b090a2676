"""Engine creation with the data-safety settings for each database."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from clinic_app.domain.errors import DomainError

# Network file systems break SQLite's locking and can corrupt the file.
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "afs", "ncpfs"}


class DatabaseLocationError(DomainError):
    """The SQLite file is somewhere it cannot be kept safely."""


SQLCIPHER = "sqlite+pysqlcipher"
PASSPHRASE_ENV = "CLINIC_APP_DB_PASSPHRASE"


SUPPORTED = "sqlite:///FILE, sqlcipher:///FILE or postgresql://USER@HOST/DATABASE"


def parse_url(url: str) -> URL:
    """Parse a database URL; anything Backstep cannot use is refused with one clear line."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.drivername.split("+")[0] not in (
        "sqlite", "sqlcipher", "postgresql"
    ):
        shown = parsed.render_as_string(hide_password=True) if parsed is not None else "it"
        raise DatabaseLocationError(
            f"Database URL {shown!s} is not one Backstep can use (allowed: {SUPPORTED})."
            if parsed is not None else
            f"The database URL is not a valid URL (allowed: {SUPPORTED})."
        )
    return parsed


def normalise_url(url: str) -> URL:
    """Accept ``sqlcipher:///file`` as short for SQLAlchemy's ``sqlite+pysqlcipher`` and take
    the passphrase from ``CLINIC_APP_DB_PASSPHRASE`` so it never sits in a command line.

    A passphrase set for a plain ``sqlite:`` file is refused: it would silently give an
    unencrypted database."""
    parsed = parse_url(url)
    if (parsed.drivername.split("+")[0] == "sqlite" and parsed.drivername != SQLCIPHER
            and parsed.database not in (None, "", ":memory:")
            and os.environ.get(PASSPHRASE_ENV)):
        raise DatabaseLocationError(
            f"{PASSPHRASE_ENV} is set, but the database URL starts with 'sqlite:', which "
            f"would not be encrypted. Use --db sqlcipher:///{parsed.database} for an encrypted "
            f"database, or unset {PASSPHRASE_ENV} for a plain one."
        )
    if parsed.drivername == "sqlcipher":
        parsed = parsed.set(drivername=SQLCIPHER)
    if parsed.drivername == SQLCIPHER and not parsed.password:
        phrase = os.environ.get(PASSPHRASE_ENV)
        if not phrase:
            raise DatabaseLocationError(
                f"An encrypted database needs its passphrase: set {PASSPHRASE_ENV}."
            )
        parsed = parsed.set(password=phrase)
    return parsed


def sqlcipher_key(url: str) -> str | None:
    """The passphrase of an encrypted SQLite URL, else None."""
    parsed = make_url(url)
    if parsed.drivername in (SQLCIPHER, "sqlcipher"):
        return normalise_url(url).password
    return None


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith(("sqlite", "sqlcipher")):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _filesystem_type(path: Path) -> str | None:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and target.startswith(parts[1]) and len(parts[1]) > len(best):
            best, fstype = parts[1], parts[2]
    return fstype


def check_sqlite_location(path: Path) -> None:
    """Refuse network shares: SQLite's locks are not reliable there."""
    text = str(path)
    if text.startswith(("//", "\\\\")):
        raise DatabaseLocationError(
            f"The database file {text} is on a network share. Keep SQLite on a local disk, "
            "or use a PostgreSQL server for several workstations."
        )
    fstype = _filesystem_type(path.parent if not path.exists() else path)
    if fstype in NETWORK_FS:
        raise DatabaseLocationError(
            f"The database file {text} is on a network file system ({fstype}). Keep SQLite on "
            "a local disk, or use a PostgreSQL server for several workstations."
        )


def _private_parent(path: Path) -> None:
    """Create the folder of a new database owner-only (0700 on POSIX)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.name == "posix":
            path.parent.chmod(0o700)


def _private_file(path: Path) -> None:
    """Create an empty database file owner-only (0600) so SQLite never makes it 0644.

    (SQLite creates the -wal and -shm files with the main file's permissions.)
    """
    if os.name != "posix" or path.exists():
        return
    with contextlib.suppress(FileExistsError):  # another process created it meanwhile
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, key: str | None = None) -> None:
    # Take control of transactions so BEGIN is issued by SQLAlchemy, not pysqlite's guesswork.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    if key is not None:
        cur.execute("PRAGMA key = '{}'".format(key.replace("'", "''")))
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = FULL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


READ_ONLY = "backstep_read_only"
# Execution option: a writing transaction that gives up (busy) after this many milliseconds
# instead of the usual timeout, for writes that must never hold up what the user waits for.
MAX_WAIT_MS = "backstep_max_wait_ms"
BUSY_TIMEOUT_MS = 10_000


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get(READ_ONLY):
        # A deferred transaction reads a WAL snapshot without waiting for any writer.
        conn.exec_driver_sql("BEGIN")
    elif (wait := conn.get_execution_options().get(MAX_WAIT_MS)) is not None:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait)}")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    else:
        # IMMEDIATE takes the write lock up front so two writers queue instead of deadlocking.
        _begin_immediate_behind_jobs(conn)


def _begin_immediate_behind_jobs(conn: Any) -> None:
    """BEGIN IMMEDIATE; while another workstation's announced job (an import, a restore)
    holds the lock, keep waiting for it instead of failing after the busy timeout."""
    from clinic_app.persistence import jobs

    path = sqlite_path(conn.engine.url.render_as_string(hide_password=False))
    deadline = time.monotonic() + jobs.JOB_WAIT_S
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            busy = "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower()
            if not busy or jobs.running(path) is None or time.monotonic() > deadline:
                raise
            jobs.waits += 1


def make_engine(url: str, app_user: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, synchronous=FULL, foreign keys and a busy timeout.

    ``sqlcipher:///file`` (or ``sqlite+pysqlcipher``) encrypts the file at rest with SQLCipher,
    keyed from the passphrase (SQLCipher derives the key with PBKDF2). PostgreSQL
    connections carry :func:`connection_label` of ``app_user`` as their application_name.
    """
    parsed = normalise_url(url)
    key: str | None = None
    if parsed.drivername == SQLCIPHER:
        try:
            from sqlcipher3 import dbapi2
        except ImportError as exc:
            raise DatabaseLocationError(
                "Encryption at rest needs the sqlcipher3 package: "
                "pip install 'backstep[encryption]'."
            ) from exc
        # The plain pysqlite dialect over SQLCipher's driver, so the key is set first of all.
        key = parsed.password
        # (URL.set cannot clear a field: build the plain file URL afresh, without the key.)
        parsed = URL.create("sqlite", database=parsed.database, query=parsed.query)
        kwargs["module"] = dbapi2
    url = parsed.render_as_string(hide_password=False)
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    # Bound values (names, MRNs, notes) never appear in error messages or logs.
    kwargs.setdefault("hide_parameters", True)
    if parsed.drivername.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            check_sqlite_location(path)
            _private_parent(path)
            _private_file(path)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", partial(_sqlite_pragmas, key=key))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"application_name": connection_label(app_user)})
    return create_engine(url, **kwargs)


def connection_label(user: str | None = None) -> str:
    """``Backstep <user>@<host>``: how this workstation shows in PostgreSQL's
    ``pg_stat_activity``, so a restore can say who is still connected."""
    if not user:
        user = os.environ.get("CLINIC_APP_USER") or os.environ.get("USER")
        if not user:
            import getpass

            try:
                user = getpass.getuser()
            except (ImportError, KeyError, OSError):
                user = "unknown"
    # PostgreSQL keeps 63 bytes of it; printable ASCII keeps it readable in every client.
    label = f"Backstep {user}@{socket.gethostname()}"
    return label.encode("ascii", "replace").decode()[:63]
