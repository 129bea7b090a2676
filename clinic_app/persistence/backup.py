"""Backups and restore.

SQLite uses the online backup API (consistent copy while the app runs) and checks the
copy with ``PRAGMA integrity_check``. PostgreSQL gets a portable, gzip-compressed JSON
dump of every table written in one REPEATABLE READ snapshot. Every backup gets a signature
file beside it (``FILE.sig``: its SHA-256 and a checkpoint of the audit trail, HMAC'd with
the audit key). Restore refuses a file whose signature is missing or does not match, then
verifies the file and takes a safety backup of the current data before replacing anything.
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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, LargeBinary, Uuid, delete, insert, select, text

from clinic_app.domain.errors import DomainError
from clinic_app.persistence import migrate
from clinic_app.persistence.anchor import Checkpoint, document_mac, document_signed
from clinic_app.persistence.models import Base
from clinic_app.persistence.uow import Database

PG_MAGIC = "backstep-pg-dump"
FORMAT_VERSION = 1


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


def integrity_check(path: Path, quick: bool = False, key: str | None = None) -> str:
    """Return "ok" or SQLite's first complaint about the file."""
    conn = connect_file(path, key, readonly=True)
    try:
        pragma = "quick_check" if quick else "integrity_check"
        return str(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
    finally:
        conn.close()


def sqlite_online_backup(src: Path, dest: Path, key: str | None = None) -> Path:
    """Copy a live SQLite database page by page, then verify the copy.

    An encrypted (SQLCipher) database is copied into a backup encrypted with the same key.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    source = connect_file(src, key)
    try:
        target = connect_file(tmp, key)
        try:
            source.backup(target)
            # A single self-contained file: no WAL beside the backup.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    finally:
        source.close()
    verdict = integrity_check(tmp, key=key)
    if verdict != "ok":
        tmp.unlink(missing_ok=True)
        raise BackupError(f"The backup copy failed its integrity check: {verdict}")
    _fsync(tmp)
    os.replace(tmp, dest)
    return dest


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


def backup(db: Database, out: Path) -> BackupResult:
    """Write a verified backup of the whole database to ``out``, signed in ``out.sig``."""
    checkpoint = db.checkpoint()
    if db.dialect == "sqlite":
        src = db.sqlite_file
        if src is None:
            raise BackupError("An in-memory database cannot be backed up.")
        sqlite_online_backup(src, out, db.sqlite_key)
        sign_file(out, db.audit_key, checkpoint)
        return BackupResult(out, out.stat().st_size, "sqlite")
    _pg_dump(db, out)
    verify_pg_dump(out)
    sign_file(out, db.audit_key, checkpoint)
    return BackupResult(out, out.stat().st_size, "postgresql-json")


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


def _encode(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _decode(column: Any, value: Any) -> Any:
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
        return base64.b64decode(value)
    return value


def _pg_dump(db: Database, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            revision = migrate.current_revision(conn)
            tables: dict[str, list[dict[str, Any]]] = {}
            for table in Base.metadata.sorted_tables:
                rows = conn.execute(select(table)).mappings()
                tables[table.name] = [{k: _encode(v) for k, v in r.items()} for r in rows]
    doc = {"format": PG_MAGIC, "format_version": FORMAT_VERSION, "revision": revision,
           "written_at": datetime.now(UTC).isoformat(), "tables": tables}
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        json.dump(doc, fh)
    _fsync(tmp)
    os.replace(tmp, out)


def verify_pg_dump(path: Path) -> dict[str, Any]:
    """Parse a PostgreSQL dump and check it is complete and from a known schema."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} is not a readable Backstep backup: {exc}") from exc
    if doc.get("format") != PG_MAGIC:
        raise BackupError(f"{path} is not a Backstep PostgreSQL backup.")
    try:
        migrate._check_known(doc.get("revision"))
    except migrate.DatabaseTooNewError as exc:
        raise BackupError(str(exc)) from exc
    missing = {t.name for t in Base.metadata.sorted_tables} - set(doc.get("tables", {}))
    if missing:
        raise BackupError(f"{path} is incomplete: tables missing: {', '.join(sorted(missing))}")
    return doc


def verify_sqlite_backup(path: Path, key: str | None = None) -> None:
    """A SQLite backup must pass integrity_check and carry a schema this app knows."""
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
    try:
        migrate._check_known(row[0] if row else None)
    except migrate.DatabaseTooNewError as exc:
        raise BackupError(str(exc)) from exc


def restore(db: Database, source: Path, safety_dir: Path) -> BackupResult:
    """Verify ``source``, back up the current data into ``safety_dir``, then restore.

    Returns the safety backup so the user knows where the replaced data went.
    """
    if not source.is_file():
        raise BackupError(f"{source} does not exist.")
    check_signature(source, db.audit_key)  # an edited backup is refused before anything else
    if db.dialect == "sqlite":
        verify_sqlite_backup(source, db.sqlite_key)
        target = db.sqlite_file
        assert target is not None
        safety_path = unused_path(safety_dir / f"before-restore-{default_backup_name(db)}")
        try:
            safety = backup(db, safety_path)
        except (BackupError, *_db_errors()):
            # A damaged database cannot pass the check: keep its raw bytes instead.
            safety = _raw_copy(target, safety_path.with_name("damaged-" + safety_path.name))
        db.engine.dispose()
        try:
            _copy_into_live_file(source, target, db.sqlite_key)
        except _db_errors():
            # The live file is too damaged to write into page by page: replace it whole.
            _replace_file(source, target)
    else:
        doc = verify_pg_dump(source)
        safety = backup(db, unused_path(safety_dir / f"before-restore-{default_backup_name(db)}"))
        _pg_load(db, doc)
    migrate.upgrade(db.engine, key=db.sqlite_key, audit_key=db.audit_key)
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


def _pg_load(db: Database, doc: dict[str, Any]) -> None:
    tables = Base.metadata.sorted_tables
    with db.engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(delete(table))
        for table in tables:
            rows = [{c.name: _decode(c, r.get(c.name)) for c in table.columns}
                    for r in doc["tables"][table.name]]
            if rows:
                conn.execute(insert(table), rows)
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                     {"v": doc["revision"]})
