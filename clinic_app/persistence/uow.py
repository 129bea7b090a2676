"""The database handle and the unit of work: one transaction per use case."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from clinic_app import config
from clinic_app.domain.errors import ConflictError, DomainError
from clinic_app.persistence import migrate
from clinic_app.persistence.audit import AuditRepository, ChainReport, verify_chain
from clinic_app.persistence.engine import READ_ONLY, make_engine, sqlcipher_key, sqlite_path
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.repositories import (
    ClinicRepository,
    EpisodeRepository,
    PatientList,
    PatientRepository,
    SessionRepository,
    TestResultRepository,
    UserRepository,
    utc_now,
)


class DatabaseDamagedError(DomainError):
    """SQLite's quick_check found damage; the app must not write to the file."""


class DatabaseBusyError(DomainError):
    """SQLite: another connection kept the write lock past the busy timeout."""


class ClinicMovingError(DomainError):
    """The clinic is being moved to another database; writes wait until it is done."""


class ClinicMovedError(DomainError):
    """The clinic was moved to another database; this copy takes no more writes."""


# The clinic move (persistence/move.py): every write transaction takes this advisory lock
# shared on PostgreSQL, the mover takes it exclusive; and the source's last audit event,
# "moved to <URL>", retires it for good.
MOVE_LOCK = 0x4D6F7665  # "Move"
MOVE_ACTION = "move"
MOVED_TO = "moved to "
MOVED_FROM = "moved from "


def refuse_if_moved(conn: Connection | Session, shared_lock: bool = True) -> None:
    """Refuse a write while the clinic is being moved, or after it moved elsewhere.

    Called at the start of every write transaction. ``shared_lock`` (PostgreSQL) tries the
    move lock shared for the rest of the transaction, so a mover waits for running writes
    and later writes are refused instead of being lost in the old database.
    """
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    if shared_lock and dialect == "postgresql":
        free = conn.execute(text("SELECT pg_try_advisory_xact_lock_shared(:k)"),
                            {"k": MOVE_LOCK}).scalar()
        if not free:
            raise ClinicMovingError(
                "This clinic is being moved to another database right now: nothing was "
                "saved. Try again when the move has finished.")
    last = conn.execute(
        select(AuditRow.action, AuditRow.detail).order_by(AuditRow.seq.desc()).limit(1)
    ).first()
    if last is not None and last[0] == MOVE_ACTION and last[1].startswith(MOVED_TO):
        raise ClinicMovedError(
            f"This clinic {last[1]}: nothing was saved here. Open that database instead "
            "(File ▸ Settings ▸ Database, or --db URL).")


class UnitOfWork:
    """Repositories bound to one transaction. Commit happens when the block ends cleanly."""

    def __init__(
        self, session: Session, actor: str, now: Callable[[], datetime], audit_key: bytes
    ) -> None:
        self.session = session
        self.actor = actor
        args = (session, actor, now)
        self.patients = PatientRepository(*args)
        self.episodes = EpisodeRepository(*args)
        self.sessions = SessionRepository(*args)
        self.tests = TestResultRepository(*args)
        self.clinic = ClinicRepository(*args)
        self.users = UserRepository(*args)
        self.audit = AuditRepository(session, actor, now, audit_key)


class Database:
    """An engine plus the session factory; create with :meth:`open`."""

    def __init__(
        self, url: str, engine: Engine, audit_key: bytes | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.url = url
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._read_sessions = sessionmaker(engine.execution_options(**{READ_ONLY: True}),
                                           expire_on_commit=False, autoflush=False)
        self.patient_list = PatientList(engine.dialect)
        self.migration: migrate.MigrationResult | None = None
        self.audit_key = audit_key if audit_key is not None else config.audit_key()
        # Where this workstation remembers the last audit event it wrote (see audit.py).
        where = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.head_file = (state_dir or config.data_dir()) / f"audit-head-{where}.json"
        # The start-up integrity check when it runs in the background (see ``open``).
        self._checked = threading.Event()
        self._checked.set()
        self._damage: DatabaseDamagedError | None = None
        self._check_thread: threading.Thread | None = None
        self._check_conn: Any = None
        self._closing = False

    @classmethod
    def open(
        cls, url: str, backup_dir: Path | None = None, upgrade: bool = True,
        audit_key: bytes | None = None, state_dir: Path | None = None,
        check_in_background: bool = False,
    ) -> Database:
        """Connect, check SQLite for damage, refuse a newer schema, migrate to head.

        ``check_in_background`` (the desktop app): when the schema is already current, SQLite's
        quick_check (seconds on a large clinic) runs in a thread while the app shows its data;
        every write waits for it, and once damage is found every unit of work refuses with
        :class:`DatabaseDamagedError`. Pending migrations always check first, synchronously.
        (Restoring over a damaged file bypasses all this: it builds ``Database(url, engine)``.)
        """
        db = cls(url, make_engine(url), audit_key, state_dir)
        try:
            if check_in_background and db.dialect == "sqlite" and db._schema_current():
                db._start_background_check()
                return db
            db.quick_check()
            if upgrade:
                db.migration = migrate.upgrade(db.engine, backup_dir, db.sqlite_key)
            else:
                migrate.check_schema(db.engine)
        except BaseException:
            db.close()
            raise
        return db

    def _schema_current(self) -> bool:
        try:
            return migrate.is_current(self.engine)
        except DBAPIError:  # e.g. a wrong SQLCipher passphrase: quick_check says it clearly
            return False

    def _start_background_check(self) -> None:
        self._checked.clear()
        self._check_thread = threading.Thread(
            target=self._background_check, name="sqlite-quick-check", daemon=True)
        self._check_thread.start()

    def _background_check(self) -> None:
        try:
            self.quick_check(remember_connection=True)
        except DatabaseDamagedError as exc:
            self._damage = exc
        except Exception as exc:  # noqa: BLE001 - reported through require_intact instead
            if not self._closing:  # (close() interrupts the check on purpose)
                # Unverified is treated as damaged: nothing is written to the file.
                self._damage = DatabaseDamagedError(
                    f"The database file {self.sqlite_file} could not be checked for damage "
                    f"({exc}). Nothing was changed. Restart Backstep; if this persists, "
                    "restore the latest backup with `clinic-app restore FILE`."
                )
        finally:
            self._check_conn = None
            self._checked.set()

    def require_intact(self, timeout: float | None = None) -> None:
        """Wait for a background integrity check; raise if it found damage.

        Raises :class:`TimeoutError` if ``timeout`` seconds pass first.
        """
        if not self._checked.wait(timeout):
            raise TimeoutError("The database integrity check is still running.")
        if self._damage is not None:
            raise self._damage

    @property
    def integrity_checked(self) -> bool:
        """False while a background integrity check is still running."""
        return self._checked.is_set()

    def quick_check(self, remember_connection: bool = False) -> None:
        """SQLite: refuse to work on a damaged file (PRAGMA quick_check at every start)."""
        if self.dialect != "sqlite":
            return
        try:
            with self.engine.connect() as conn:
                if remember_connection:  # so that close() can interrupt a long check
                    self._check_conn = conn.connection.dbapi_connection
                verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
        except DBAPIError as exc:
            verdict = str(exc.orig)
            if self.sqlite_key is not None and "not a database" in verdict:
                raise DatabaseDamagedError(
                    f"The encrypted database {self.sqlite_file} cannot be opened: the passphrase "
                    "is wrong, or the file is damaged. Nothing was changed."
                ) from exc
        if verdict != "ok":
            raise DatabaseDamagedError(
                f"The database file {self.sqlite_file} is damaged ({verdict}). Nothing was "
                "changed. Restore the latest backup with `clinic-app restore FILE`."
            )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_file(self) -> Path | None:
        return sqlite_path(self.url)

    @property
    def sqlite_key(self) -> str | None:
        """The SQLCipher passphrase of an encrypted SQLite database, else None."""
        return sqlcipher_key(self.url)

    @contextmanager
    def unit_of_work(
        self, actor: str, now: Callable[[], datetime] = utc_now, read_only: bool = False
    ) -> Iterator[UnitOfWork]:
        """One transaction: commits if the block succeeds, rolls back on any exception.

        A concurrent edit detected at flush/commit surfaces as :class:`ConflictError`.
        ``read_only`` transactions never wait for writers (SQLite: deferred BEGIN on a WAL
        snapshot; PostgreSQL: READ ONLY, so an accidental write fails loudly).
        """
        if read_only:
            if self._damage is not None:
                raise self._damage
        else:
            self.require_intact()  # no write to a file that may be damaged
        session = (self._read_sessions if read_only else self._sessions)()
        try:
            with session.begin():
                if read_only and self.dialect == "postgresql":
                    session.execute(text("SET TRANSACTION READ ONLY"))
                elif not read_only:
                    refuse_if_moved(session)
                uow = UnitOfWork(session, actor, now, self.audit_key)
                yield uow
            if uow.audit.appended:
                self._remember_head(uow.audit.appended[-1])
        except StaleDataError as exc:
            raise ConflictError("The record", -1) from exc
        except OperationalError as exc:
            if "could not serialize" in str(exc) or "deadlock" in str(exc):
                raise ConflictError("The record", -1) from exc
            if "database is locked" in str(exc):
                raise DatabaseBusyError(
                    "The database is busy: another program holds its write lock (for example "
                    "a move of this clinic to another database). Nothing was saved; try again "
                    "in a moment.") from exc
            raise
        finally:
            session.close()

    @contextmanager
    def dbapi_read(self) -> Iterator[Any]:
        """A pooled DB-API connection for one lean SELECT that needs no snapshot across
        statements (the patient list, queried on every keystroke; see
        :class:`~clinic_app.persistence.repositories.PatientList`).

        SQLite connections are in autocommit mode (a lone SELECT is atomic); PostgreSQL's
        implicit transaction is rolled back when the connection returns to the pool.
        """
        if self._damage is not None:
            raise self._damage
        conn = self.engine.raw_connection()
        try:
            yield conn
        finally:
            conn.close()

    def _remember_head(self, head: tuple[int, str]) -> None:
        tmp = self.head_file.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"seq": head[0], "mac": head[1]}))
        os.replace(tmp, self.head_file)

    def remembered_head(self) -> tuple[int, str] | None:
        try:
            doc = json.loads(self.head_file.read_text())
            return int(doc["seq"]), str(doc["mac"])
        except (OSError, ValueError, KeyError):
            return None

    def verify_audit(self) -> ChainReport:
        """Check the whole audit chain (and this workstation's last written event)."""
        self.require_intact()
        session = self._sessions()
        try:
            with session.begin():
                return verify_chain(session, self.audit_key, self.remembered_head())
        finally:
            session.close()

    def close(self) -> None:
        """Stop a running integrity check and release every connection."""
        self._closing = True
        thread = self._check_thread
        while thread is not None and thread.is_alive():
            conn = self._check_conn
            if conn is not None:
                # The check may have finished (and its connection closed) meanwhile.
                with contextlib.suppress(Exception):
                    conn.interrupt()
            thread.join(0.05)
        self.engine.dispose()
