"""Backups and restore.

SQLite uses the online backup API (consistent copy while the app runs) and checks the
copy with ``PRAGMA integrity_check``. PostgreSQL gets a portable, gzip-compressed JSON
dump of every table written in one REPEATABLE READ snapshot. Every backup gets a signature
file beside it (``FILE.sig``: its SHA-256 and a checkpoint of the audit trail, HMAC'd with
the audit key). Restore refuses a file whose signature is missing or does not match, then
verifies the file and takes a safety backup of the current data before replacing anything,
while no one else can write (see the restore section below).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    LargeBinary,
    Uuid,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from clinic_app.config import data_dir
from clinic_app.domain.errors import DomainError
from clinic_app.persistence import cohort_summary, migrate, pacing
from clinic_app.persistence.anchor import Checkpoint, document_mac, document_signed
from clinic_app.persistence.audit import AuditRepository
from clinic_app.persistence.engine import READ_ONLY
from clinic_app.persistence.models import AuditRow, Base
from clinic_app.persistence.outfiles import (
    PARTS_REGISTRY,
    part_file,
    publish,
    refuse_existing,
    target_in,
)
from clinic_app.persistence.repositories import utc_now
from clinic_app.persistence.uow import RESTORE_LOCK, Database

PG_MAGIC = "backstep-pg-dump"
FORMAT_VERSION = 1  # one JSON document: still restored, no longer written
STREAM_FORMAT_VERSION = 2  # one JSON value per line, written and read as a stream
GZIP_LEVEL = 6
# SQLite pages copied per step of the online backup (4 KiB pages: 4 MiB a step), so
# progress is reported often and a paced backup's slices of work stay short.
SQLITE_STEP_PAGES = 1024
# SQLite virtual machine steps between two calls of a paced integrity check's pacer.
PACE_VM_STEPS = 20_000
# Rows inserted per statement when a PostgreSQL backup is restored.
RESTORE_BATCH = 2000

Progress = Callable[[int, int], None]
"""``progress(done, total)``: pages (SQLite) or rows (PostgreSQL) copied so far."""


class BackupError(DomainError):
    """A backup could not be written, or a file to restore is not a sound backup."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    kind: str  # "sqlite" or "postgresql-json"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def connect_file(path: Path, key: str | None = None, readonly: bool = False) -> Any:
    """A raw DB-API connection to a SQLite file; SQLCipher (keyed) when ``key`` is given."""
    if key is None:
        if readonly:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        return sqlite3.connect(str(path), timeout=30)
    import sqlcipher3

    conn = sqlcipher3.connect(str(path), timeout=30)
    conn.execute(f"PRAGMA key = '{_quote(key)}'")
    return conn


def _quote(text_: str) -> str:
    return text_.replace("'", "''")


def integrity_check(path: Path, quick: bool = False, key: str | None = None,
                    pace: Callable[[], None] | None = None) -> str:
    """Return "ok" or SQLite's first complaint about the file; ``pace()`` is called every
    few thousand steps of SQLite's virtual machine (it may sleep, see ``pacing.py``)."""
    conn = connect_file(path, key, readonly=True)
    try:
        if pace is not None:
            def handler() -> int:
                pace()
                return 0  # go on

            conn.set_progress_handler(handler, PACE_VM_STEPS)
        pragma = "quick_check" if quick else "integrity_check"
        return str(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
    finally:
        conn.close()


def sqlite_online_backup(
    src: Path, dest: Path, key: str | None = None, force: bool = True,
    progress: Progress | None = None, pace: Callable[[], None] | None = None,
) -> Path:
    """Copy a live SQLite database in steps of pages, then verify the copy.

    The source connection holds one read transaction for the whole copy, so every step
    reads the same snapshot: in WAL mode other connections keep writing meanwhile, and
    their commits neither restart the copy nor wait for it. Memory stays at SQLite's page
    caches whatever the file's size. An encrypted (SQLCipher) database is copied into a
    backup encrypted with the same key. Without ``force`` an existing ``dest`` is refused
    rather than replaced. ``pace()`` is called between steps and during the integrity
    check (it may sleep, leaving the cores to others).
    """
    refuse_existing(dest, force)
    with part_file(dest, parts_registry()) as tmp:
        reader = connect_file(src, key)
        try:
            target = connect_file(tmp, key)
            try:
                reader.isolation_level = None  # the read transaction below is explicit
                reader.execute("BEGIN")
                reader.execute("SELECT count(*) FROM sqlite_master").fetchone()

                def step(_status: int, remaining: int, total: int) -> None:
                    if progress is not None:
                        progress(total - remaining, total)
                    if pace is not None:
                        pace()

                reader.backup(target, pages=SQLITE_STEP_PAGES, progress=step)
                reader.execute("COMMIT")
                # A single self-contained file: no WAL beside the backup.
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
        finally:
            reader.close()
        verdict = integrity_check(tmp, key=key, pace=pace)
        if verdict != "ok":
            raise BackupError(f"The backup copy failed its integrity check: {verdict}")
        _fsync(tmp)
        publish(tmp, dest, force)
    return dest


def parts_registry() -> Path:
    """Where unfinished backups are registered (cleaned at the next start, see uow.py)."""
    return data_dir() / PARTS_REGISTRY


def default_backup_name(db: Database) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S_%fZ")
    return f"backstep-{stamp}.sqlite3" if db.dialect == "sqlite" else f"backstep-{stamp}.json.gz"


def unused_path(path: Path) -> Path:
    """``path`` itself, or ``name-2.ext`` etc.: a backup never overwrites an existing file."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def backup(
    db: Database, out: Path, force: bool = False, progress: Progress | None = None,
    paced: bool = True,
) -> BackupResult:
    """Write a verified backup of the whole database to ``out``, signed in ``out.sig``.

    An existing ``out`` is replaced only with ``force``; a folder receives a time-stamped file.
    Streamed on both databases (bounded memory); ``progress(done, total)`` is called as it
    goes, from a thread of its own. Paced: the copy runs in that thread at a lowered
    priority and works at most ``pacing.SHARE`` of the time (in slices of
    ``pacing.SLICE_S``), so that charts opened meanwhile, here or on another workstation,
    and the window never wait behind it; it takes about 1 / SHARE times as long.
    """
    out = target_in(out, default_backup_name(db))
    refuse_existing(out, force)
    checkpoint = db.checkpoint()
    pace = pacing.Pacer() if paced else None
    if db.dialect == "sqlite":
        src = db.sqlite_file
        if src is None:
            raise BackupError("An in-memory database cannot be backed up.")
        pacing.run_lowered(
            lambda: sqlite_online_backup(src, out, db.sqlite_key, force, progress, pace),
            pacing.NICE if paced else 0)
        sign_file(out, db.audit_key, checkpoint)
        return BackupResult(out, out.stat().st_size, "sqlite")

    def dump() -> None:
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                _pg_dump(conn, out, force, progress, pace)

    pacing.run_lowered(dump, pacing.NICE if paced else 0)
    sign_file(out, db.audit_key, checkpoint)
    return BackupResult(out, out.stat().st_size, "postgresql-json")


# Held (session-level) by the one workstation taking the clinic's automatic backup of the day.
DAILY_BACKUP_LOCK = 0x44617931  # "Day1"
AUTOMATIC_NOTE = "automatic: "


@contextmanager
def daily_backup_turn(db: Database, marker: str) -> Iterator[bool]:
    """PostgreSQL: whether this workstation is the one to take the clinic's daily backup.

    Every workstation of a clinic shares the database, so the database decides: the
    workstation that gets the advisory lock looks in the audit trail for an automatic
    backup event of the last two days whose detail holds ``marker`` (the day's file name
    prefix; the event is committed by the backup's own audit write) and keeps the lock
    until its backup is audited; every other workstation gets False at once instead of
    writing a second copy. SQLite: always True (one file, one folder).
    """
    if db.dialect != "postgresql":
        yield True
        return
    since = datetime.now(UTC) - timedelta(days=2)
    with db.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": DAILY_BACKUP_LOCK}).scalar())
        conn.commit()
        if not got:
            yield False
            return
        try:
            done = conn.execute(
                select(AuditRow.seq).where(
                    AuditRow.action == "backup", AuditRow.at >= since,
                    AuditRow.detail.startswith(AUTOMATIC_NOTE),
                    AuditRow.detail.contains(marker, autoescape=True),
                ).limit(1)
            ).first()
            conn.commit()
            yield done is None
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": DAILY_BACKUP_LOCK})
            conn.commit()


SIG_FORMAT = "backstep-backup-signature"


def signature_path(path: Path) -> Path:
    """The signature file that goes with a backup: ``FILE.sig`` beside ``FILE``."""
    return path.with_name(path.name + ".sig")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sign_file(path: Path, key: bytes, checkpoint: Checkpoint | None = None) -> Path:
    """Write ``path.sig``: the file's SHA-256 and the trail's checkpoint, HMAC'd with the key.

    Without the key nobody can make a signature that matches an edited backup, so
    :func:`check_signature` refuses such a file before anything is restored.
    """
    doc: dict[str, Any] = {
        "format": SIG_FORMAT, "file": path.name, "sha256": _sha256(path),
        "size": path.stat().st_size,
        "checkpoint": checkpoint.to_json(key) if checkpoint is not None else None,
    }
    doc["sig"] = document_mac(key, doc)
    sig = signature_path(path)
    tmp = sig.with_name(sig.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, sig)
    return sig


def check_signature(path: Path, key: bytes) -> None:
    """Refuse (:class:`BackupError`) a backup whose signature is missing or does not match."""
    sig = signature_path(path)
    try:
        doc = json.loads(sig.read_text())
    except FileNotFoundError:
        raise BackupError(
            f"{path} has no signature file ({sig.name}), so it cannot be shown to be an "
            "unaltered Backstep backup. Nothing was restored.") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"The signature file {sig} is unreadable ({exc}). Nothing was "
                          "restored.") from None
    if not document_signed(key, doc) or doc.get("format") != SIG_FORMAT:
        raise BackupError(
            f"The signature {sig.name} was not made with this clinic's audit key (or was "
            "edited). Nothing was restored.")
    if doc.get("sha256") != _sha256(path):
        raise BackupError(
            f"{path} was changed after it was backed up (its SHA-256 does not match its "
            "signature). Nothing was restored.")


def _decode(column: Any, value: Any, version: int = FORMAT_VERSION) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, Uuid):
        return uuid.UUID(value)
    if isinstance(kind, DateTime) or getattr(kind, "impl", None) is not None and isinstance(
        kind.impl, DateTime
    ):
        return datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if isinstance(kind, LargeBinary):
        if version >= STREAM_FORMAT_VERSION:  # row_to_json writes bytea as "\\x<hex>"
            return bytes.fromhex(value[2:])
        return base64.b64decode(value)
    return value


def _pg_dump(
    conn: Connection, out: Path, force: bool, progress: Progress | None = None,
    pace: Callable[[], None] | None = None,
) -> None:
    """Stream every table as seen by ``conn``'s transaction into ``out``, then verify it.

    Rows leave the server as JSON text through ``COPY ... TO STDOUT`` and go straight into
    the gzip stream, so memory stays flat whatever the database's size (the old format
    built the whole document in memory first). The file holds one JSON value per line:
    a header object, then per table a ``["table", name]`` marker followed by one object
    per row, and an ``["end", {table: rows}]`` trailer that lets a reader see the file is
    complete.
    """
    revision = migrate.current_revision(conn)
    conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    tables = Base.metadata.sorted_tables
    quote = conn.dialect.identifier_preparer.quote
    expected = {t.name: int(conn.exec_driver_sql(
        f"SELECT count(*) FROM {quote(t.name)}").scalar_one()) for t in tables}
    total = sum(expected.values())
    header = {"format": PG_MAGIC, "format_version": STREAM_FORMAT_VERSION,
              "revision": revision, "written_at": datetime.now(UTC).isoformat(),
              "tables": [t.name for t in tables]}
    raw: Any = conn.connection.dbapi_connection  # psycopg: the snapshot's own transaction
    assert raw is not None
    done = 0
    report_every = max(1, total // 200)
    next_report = 0
    counts: dict[str, int] = {}
    with part_file(out, parts_registry()) as tmp:
        with gzip.open(tmp, "wb", compresslevel=GZIP_LEVEL) as fh:
            fh.write(_line(header))
            for table in tables:
                fh.write(_line(["table", table.name]))
                # CSV with control characters as quote and delimiter: JSON text never holds
                # them raw, so each row arrives exactly as its JSON text plus a newline.
                sql = (f"COPY (SELECT row_to_json(t) FROM {quote(table.name)} t) TO STDOUT "
                       "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')")
                rows = 0
                with raw.cursor() as cursor, cursor.copy(sql) as copy:
                    for chunk in copy:
                        if pace is not None:
                            pace()  # while nothing is read, the server's COPY waits too
                        fh.write(chunk)
                        step = bytes(chunk).count(b"\n")
                        rows += step
                        done += step
                        # COPY hands over about a row per chunk: report every 1/200th.
                        if progress is not None and done >= next_report:
                            progress(done, total)
                            next_report = done + report_every
                counts[table.name] = rows
            fh.write(_line(["end", counts]))
        _fsync(tmp)
        verify_pg_dump(tmp, pace)
        publish(tmp, out, force)
    if progress is not None:
        progress(total, total)


def _line(value: Any) -> bytes:
    return (json.dumps(value, separators=(",", ":")) + "\n").encode()


@dataclass(frozen=True)
class PgDump:
    """What :func:`verify_pg_dump` found in a PostgreSQL backup."""

    path: Path
    revision: str | None
    format_version: int
    counts: dict[str, int]


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt", encoding="utf-8")


def verify_pg_dump(path: Path, pace: Callable[[], None] | None = None) -> PgDump:
    """Check a PostgreSQL backup is complete, readable and from a known schema.

    Reads the file as a stream (a line at a time), so a backup of any size is checked in
    bounded memory; every row line must be a JSON object and every table's row count must
    match the trailer written after the last row. ``pace()`` is called for every line.
    """
    try:
        with _open_text(path) as fh:
            first = fh.readline()
            try:
                head = json.loads(first)
            except ValueError:
                # The first format was one JSON document, not a line per value.
                if not first.lstrip().startswith("{"):
                    raise
                fh.seek(0)
                return _verify_whole_document(path, json.load(fh))
            if not isinstance(head, dict) or head.get("format") != PG_MAGIC:
                raise BackupError(f"{path} is not a Backstep PostgreSQL backup.")
            if head.get("format_version") != STREAM_FORMAT_VERSION:
                if head.get("format_version") == FORMAT_VERSION and "tables" in head:
                    return _verify_whole_document(path, head)
                raise BackupError(f"{path} has an unknown backup format version "
                                  f"({head.get('format_version')}).")
            counts, trailer = _scan_rows(fh, path, pace)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise BackupError(f"{path} is not a readable Backstep backup: {exc}") from exc
    revision = head.get("revision")
    _check_revision(revision)
    if trailer is None:
        raise BackupError(f"{path} is incomplete: it ends before its last table.")
    missing = {t.name for t in Base.metadata.sorted_tables} - set(counts)
    if missing:
        raise BackupError(f"{path} is incomplete: tables missing: {', '.join(sorted(missing))}")
    if trailer != counts:
        raise BackupError(f"{path} is incomplete: its row counts do not match its trailer.")
    return PgDump(path, revision, STREAM_FORMAT_VERSION, counts)


def _scan_rows(fh: Any, path: Path, pace: Callable[[], None] | None = None,
               ) -> tuple[dict[str, int], dict[str, int] | None]:
    counts: dict[str, int] = {}
    current: str | None = None
    for line in fh:
        if pace is not None:
            pace()
        if line.startswith("{"):
            if current is None or not isinstance(json.loads(line), dict):
                raise BackupError(f"{path} holds a row outside any table.")
            counts[current] += 1
            continue
        marker = json.loads(line)
        if marker[0] == "table":
            current = str(marker[1])
            counts[current] = 0
        elif marker[0] == "end":
            return counts, {str(k): int(v) for k, v in marker[1].items()}
        else:
            raise BackupError(f"{path} holds an unknown line.")
    return counts, None


def _check_revision(revision: Any) -> None:
    try:
        migrate._check_known(revision)
    except migrate.DatabaseTooNewError as exc:
        raise BackupError(str(exc)) from exc


def _verify_whole_document(path: Path, doc: Any) -> PgDump:
    """A backup written by earlier versions: one JSON document holding every table."""
    if not isinstance(doc, dict) or doc.get("format") != PG_MAGIC:
        raise BackupError(f"{path} is not a Backstep PostgreSQL backup.")
    _check_revision(doc.get("revision"))
    tables = doc.get("tables", {})
    missing = {t.name for t in Base.metadata.sorted_tables} - set(tables)
    if missing:
        raise BackupError(f"{path} is incomplete: tables missing: {', '.join(sorted(missing))}")
    return PgDump(path, doc.get("revision"), FORMAT_VERSION,
                  {name: len(rows) for name, rows in tables.items()})


def pg_dump_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``(table name, row)`` of a PostgreSQL backup, as JSON values, in file order.

    Streams the current format; a backup in the first (whole-document) format is loaded.
    """
    with _open_text(path) as fh:
        first = fh.readline()
        try:
            head = json.loads(first)
        except ValueError:
            fh.seek(0)
            head = json.load(fh)
        if head.get("format_version") != STREAM_FORMAT_VERSION:
            for name, rows in head["tables"].items():
                for row in rows:
                    yield name, row
            return
        current = ""
        for line in fh:
            if line.startswith("{"):
                yield current, json.loads(line)
                continue
            marker = json.loads(line)
            if marker[0] == "table":
                current = str(marker[1])


def verify_sqlite_backup(path: Path, key: str | None = None) -> str | None:
    """A SQLite backup must pass integrity_check and carry a schema this app knows.

    Returns the backup's schema revision.
    """
    try:
        verdict = integrity_check(path, key=key)
    except _db_errors() as exc:
        hint = " (or it is encrypted with another passphrase)" if key else ""
        raise BackupError(f"{path} is not a SQLite database{hint}: {exc}") from exc
    if verdict != "ok":
        raise BackupError(f"{path} failed its integrity check: {verdict}")
    conn = connect_file(path, key, readonly=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except _db_errors() as exc:
        raise BackupError(f"{path} is not a Backstep database: {exc}") from exc
    finally:
        conn.close()
    revision = row[0] if row else None
    try:
        migrate._check_known(revision)
    except migrate.DatabaseTooNewError as exc:
        raise BackupError(str(exc)) from exc
    return revision


# --- restore ----------------------------------------------------------------------------
#
# A restore must not lose a write that another workstation or process had acknowledged.
# So the safety backup of the current data and the swap happen while no one else can write:
# SQLite: inside one BEGIN IMMEDIATE transaction of the live file (other writers queue on
# the write lock); PostgreSQL: inside one transaction holding RESTORE_LOCK exclusively
# (every writing unit of work takes it shared, see uow.py). On PostgreSQL a restore is also
# refused while anyone else is connected, naming them. Each restore is written down before
# it starts (the data folder's journal and a "restore started" audit event) and after it.

JOURNAL_NAME = "restore-journal.log"


class RestoreRefusedError(BackupError):
    """Someone else is connected to the database, so a restore could lose their work."""


def journal(folder: Path, line: str) -> None:
    """Append one time-stamped line to the data folder's restore journal, durably.

    The file is only ever appended to, so it outlives anything a killed restore leaves.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / JOURNAL_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        os.write(fd, f"{stamp} {line}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def other_sessions(db: Database) -> list[str]:
    """PostgreSQL: everyone else connected to this database, e.g.
    ``"Backstep alice@ws2 (database user backstep, from 192.168.1.5)"``. SQLite cannot tell: []."""
    if db.dialect != "postgresql":
        return []
    db.engine.dispose()  # this process's own idle connections are nobody else
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT application_name, usename, host(client_addr) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' ORDER BY backend_start"
        )).all()
    return [f"{app or 'an unnamed program'} (database user {user}, "
            f"from {addr or 'the server itself'})" for app, user, addr in rows]


def restore(
    db: Database, source: Path, safety_dir: Path, actor: str, refuse_connected: bool = True,
) -> BackupResult:
    """Verify ``source``, keep the current data as a safety backup, then restore ``source``.

    Every write acknowledged before the restore is in the safety backup or in the restored
    database. ``refuse_connected=False`` skips the PostgreSQL "who is connected" refusal
    (the locks still keep writers out). Returns the safety backup.
    """
    if not source.is_file():
        raise BackupError(f"{source} does not exist.")
    source = source.resolve()  # the journal and audit trail must say which file it was
    check_signature(source, db.audit_key)  # an edited backup is refused before anything else
    dump: PgDump | None = None
    if db.dialect == "sqlite":
        revision = verify_sqlite_backup(source, db.sqlite_key)
    else:
        dump = verify_pg_dump(source)
        revision = dump.revision
    folder = db.head_file.parent
    where = db.engine.url.render_as_string(hide_password=True)
    if refuse_connected:
        others = other_sessions(db)
        if others:
            journal(folder, f"restore of {source} into {where} by {actor} refused: "
                            f"{len(others)} other connection(s)")
            raise RestoreRefusedError(
                f"Not restored: {len(others)} other connection(s) to this database are open: "
                + "; ".join(others) + ". Close Backstep on those workstations, then restore "
                "again. Nothing was changed."
            )
    started = datetime.now(UTC)
    journal(folder, f"restore started: {source} into {where} by {actor}")
    _record_started(db, actor, source, folder)
    safety_path = unused_path(safety_dir / f"before-restore-{default_backup_name(db)}")
    detail = (f"restored from {source} (restore started at "
              f"{started.strftime('%Y-%m-%d %H:%M:%S')} UTC); previous data kept in ")
    try:
        if db.dialect == "sqlite":
            with db.announced_job("restore", actor):
                safety = _sqlite_restore(db, source, revision, safety_path, actor, detail)
        else:
            assert dump is not None
            safety = _pg_restore(db, dump, safety_path, actor, detail)
    except BaseException as exc:
        journal(folder, f"restore of {source} failed ({type(exc).__name__})")
        raise
    journal(folder, f"restore finished: {source} into {where}; previous data kept in "
                    f"{safety.path}")
    return safety


def _record_started(db: Database, actor: str, source: Path, folder: Path) -> None:
    """The "restore started" audit event, committed on its own before anything changes."""
    try:
        with db.unit_of_work(actor) as uow:
            uow.audit.record("restore", "database", detail=f"restore started from {source}")
    except (DomainError, DBAPIError) as exc:
        # A damaged or empty database cannot take it; the journal has the record.
        journal(folder, f"the start could not be recorded in the database ({type(exc).__name__})")


def _audit_in(conn: Connection, db: Database, actor: str, detail: str) -> None:
    """Append an audit event in ``conn``'s open transaction (committed with it)."""
    session = Session(bind=conn)  # joins the connection's transaction, never commits it
    try:
        repo = AuditRepository(session, actor, utc_now, db.audit_key, db.workstation)
        repo.record("restore", "database", detail=detail)
    finally:
        session.close()


def _forget_head(db: Database) -> None:
    """Drop this workstation's remembered audit head just before the swap commits.

    It names an event of the chain being replaced; if the restore is killed between its
    commit and writing the new head, a stale head would make ``audit verify`` report
    tampering that never happened. Rewritten right after the commit.
    """
    db.head_file.unlink(missing_ok=True)


def _anchor_restored(db: Database) -> None:
    """Anchor this workstation at the restored trail's head (its event about the restore)."""
    checkpoint = db.checkpoint()
    if checkpoint is not None:
        db._remember_head(checkpoint)


def _sqlite_restore(
    db: Database, source: Path, revision: str | None, safety_path: Path, actor: str,
    detail: str,
) -> BackupResult:
    target = db.sqlite_file
    if target is None:
        raise BackupError("An in-memory database cannot be restored.")
    key = db.sqlite_key
    if _sqlite_swappable(db, revision):
        with db.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            try:
                # ATTACH is refused inside a transaction, so before BEGIN.
                if key is None:
                    raw.execute("ATTACH DATABASE ? AS restore_src", (str(source),))
                else:
                    raw.execute("ATTACH DATABASE ? AS restore_src KEY ?", (str(source), key))
                with conn.begin():  # BEGIN IMMEDIATE: every other writer waits from here on
                    # The copy reads through its own connection: a WAL reader sees every
                    # committed write, and none can commit while this transaction holds
                    # the write lock.
                    sqlite_online_backup(target, safety_path, key, force=False)
                    sign_file(safety_path, db.audit_key, db.checkpoint())
                    safety = BackupResult(safety_path, safety_path.stat().st_size, "sqlite")
                    _copy_tables(conn)
                    cohort_summary.rebuild(conn, exclusive=True)  # readers keep their snapshot
                    _audit_in(conn, db, actor, detail + str(safety_path))
                    _forget_head(db)
            finally:
                conn.invalidate()  # never return a connection with the backup attached
        _anchor_restored(db)
        return safety
    # The live file is damaged or has another schema: replace it as a file.
    unreadable: tuple[type[Exception], ...] = (BackupError, DBAPIError, *_db_errors())
    try:
        safety = backup(db, safety_path)
    except unreadable:
        # A damaged database cannot pass the check: keep its raw bytes instead.
        safety = _raw_copy(target, safety_path.with_name("damaged-" + safety_path.name))
    db.engine.dispose()
    try:
        _copy_into_live_file(source, target, key)
    except _db_errors():
        # The live file is too damaged to write into page by page: replace it whole.
        _replace_file(source, target)
    migrate.upgrade(db.engine, key=key, audit_key=db.audit_key)
    with db.unit_of_work(actor) as uow:
        uow.audit.record("restore", "database", detail=detail + str(safety.path))
    return safety


def _sqlite_swappable(db: Database, revision: str | None) -> bool:
    """True when the live file is sound and has the backup's (current) schema, so the
    restore can run as one transaction inside it."""
    try:
        # A read transaction: it must not queue behind (or time out on) other writers.
        with db.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            live = migrate.current_revision(conn)
            verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
            conn.rollback()
    except OperationalError:
        raise  # e.g. locked: not a reason to fall back to replacing the file
    except DBAPIError:  # "file is not a database" and the like: damaged
        return False
    return verdict == "ok" and live is not None and live == revision == migrate.HEAD_REVISION


def _copy_tables(conn: Connection) -> None:
    tables = Base.metadata.sorted_tables
    for table in reversed(tables):
        conn.exec_driver_sql(f'DELETE FROM main."{table.name}"')
    for table in tables:
        cols = ", ".join(f'"{c.name}"' for c in table.columns)
        conn.exec_driver_sql(f'INSERT INTO main."{table.name}" ({cols}) '
                             f'SELECT {cols} FROM restore_src."{table.name}"')


def _pg_restore(
    db: Database, dump: PgDump, safety_path: Path, actor: str, detail: str
) -> BackupResult:
    with db.engine.connect() as conn, conn.begin():
        # Waits for every writing transaction to end and holds back new ones until
        # commit, so the safety dump below holds every acknowledged write.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RESTORE_LOCK})
        _pg_dump(conn, safety_path, force=False)
        sign_file(safety_path, db.audit_key, db.checkpoint())
        safety = BackupResult(safety_path, safety_path.stat().st_size, "postgresql-json")
        _pg_load(conn, dump)
        cohort_summary.rebuild(conn)
        _audit_in(conn, db, actor, detail + str(safety_path))
        _forget_head(db)
    _anchor_restored(db)
    migrate.upgrade(db.engine, audit_key=db.audit_key)
    return safety


def _db_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [sqlite3.DatabaseError]
    try:
        import sqlcipher3
    except ImportError:
        pass
    else:
        errors.append(sqlcipher3.DatabaseError)
    return tuple(errors)


def _copy_into_live_file(source: Path, target: Path, key: str | None = None) -> None:
    src = connect_file(source, key, readonly=key is None)
    try:
        dest = connect_file(target, key)
        try:
            # The backup API writes into the live file as one transaction.
            src.backup(dest)
            dest.execute("PRAGMA journal_mode = WAL")
        finally:
            dest.close()
    finally:
        src.close()


def _replace_file(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".restore")
    shutil.copyfile(source, tmp)
    _fsync(tmp)
    for stale in (Path(str(target) + "-wal"), Path(str(target) + "-shm")):
        stale.unlink(missing_ok=True)
    os.replace(tmp, target)


def _raw_copy(src: Path, dest: Path) -> BackupResult:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest = unused_path(dest)
    shutil.copyfile(src, dest)
    wal = Path(str(src) + "-wal")
    if wal.exists():
        shutil.copyfile(wal, Path(str(dest) + "-wal"))
    _fsync(dest)
    return BackupResult(dest, dest.stat().st_size, "sqlite-raw")


def _pg_load(conn: Connection, dump: PgDump) -> None:
    """Replace every table with the backup's rows, read as a stream and inserted in batches."""
    tables = Base.metadata.sorted_tables
    by_name = {t.name: t for t in tables}
    for table in reversed(tables):
        conn.execute(delete(table))
    batch: list[dict[str, Any]] = []
    current: Any = None

    def flush() -> None:
        if batch:
            conn.execute(insert(current), batch)
            batch.clear()

    for name, row in pg_dump_rows(dump.path):
        table = by_name[name]
        if table is not current:
            flush()
            current = table
        batch.append({c.name: _decode(c, row.get(c.name), dump.format_version)
                      for c in table.columns})
        if len(batch) >= RESTORE_BATCH:
            flush()
    flush()
    conn.execute(text("DELETE FROM alembic_version"))
    conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                 {"v": dump.revision})
