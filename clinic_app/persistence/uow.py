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

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from clinic_app import config
from clinic_app.domain.errors import ConflictError, DomainError, PermissionDeniedError
from clinic_app.domain.permissions import Principal
from clinic_app.persistence import migrate
from clinic_app.persistence.audit import AuditRepository, ChainReport, verify_chain
from clinic_app.persistence.engine import READ_ONLY, make_engine, sqlcipher_key, sqlite_path
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
    """Another program held the database locked for longer than the busy timeout."""


class SimultaneousWriteError(DomainError):
    """Two workstations stored the same unique value at once; the later one was refused."""


class ReferenceMissingError(DomainError):
    """A row refers to one that does not exist (e.g. removed by a restore meanwhile)."""


class AccountInactiveError(PermissionDeniedError):
    """The signed-in account was deactivated, removed or given another role meanwhile."""


SQLITE_HEADER = b"SQLite format 3\x00"


def _is_busy(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database is busy" in text or "locking protocol" \
        in text


def _is_dbapi_integrity_error(exc: BaseException) -> bool:
    """A driver's own IntegrityError (e.g. from PostgreSQL's COPY on the raw connection),
    recognised by the DB-API 2 class name so that no driver needs importing here."""
    return any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__)


def _integrity_error(exc: BaseException) -> DomainError:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).lower()
    state = getattr(orig, "sqlstate", None)
    if state == "23505" or "unique" in text:
        return SimultaneousWriteError(
            "Another user or workstation stored the same record at the same moment, so "
            "nothing was stored. Reload and try again."
        )
    if state == "23503" or "foreign key" in text:
        return ReferenceMissingError(
            "A record this change refers to does not exist (any more), so nothing was "
            "stored. Reload and try again."
        )
    return DomainError("The database refused the change as inconsistent, so nothing was "
                       "stored. Reload and try again.")


def busy_message(where: object) -> str:
    """The advice for a database another program keeps locked (never "restore a backup")."""
    return (f"The database {where} is busy: another program has held it locked for more than "
            "10 seconds. Nothing was changed. Close the other program (or wait for it to "
            "finish) and try again.")


def _looks_encrypted(path: Path | None) -> bool:
    """No SQLite header and random-looking bytes from the start: a SQLCipher file.

    (A damaged or foreign file rarely uses more than a few dozen byte values in its first
    page; ciphertext uses nearly all 256.)
    """
    if path is None:
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return (len(head) == 4096 and not head.startswith(SQLITE_HEADER)
            and len(set(head)) > 200)


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
        except (DatabaseDamagedError, DatabaseBusyError) as exc:
            # Unverified (busy) is treated as damaged: nothing is written to the file, but the
            # message says to try again rather than to restore.
            self._damage = exc if isinstance(exc, DatabaseDamagedError) else \
                DatabaseDamagedError(str(exc))
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
            if _is_busy(exc):
                raise DatabaseBusyError(busy_message(self.sqlite_file)) from None
            if self.sqlite_key is not None and "not a database" in verdict:
                raise DatabaseDamagedError(
                    f"The encrypted database {self.sqlite_file} cannot be opened: the passphrase "
                    "is wrong, or the file is damaged. Nothing was changed."
                ) from None
            if "not a database" in verdict and _looks_encrypted(self.sqlite_file):
                raise DatabaseDamagedError(
                    f"The file {self.sqlite_file} looks encrypted: open it with "
                    f"--db sqlcipher:///{self.sqlite_file} and set CLINIC_APP_DB_PASSPHRASE to "
                    "its passphrase. Nothing was changed. (If it was never encrypted, it is "
                    "damaged: then restore the latest backup.)"
                ) from None
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
        self, actor: Principal | str, now: Callable[[], datetime] = utc_now,
        read_only: bool = False,
    ) -> Iterator[UnitOfWork]:
        """One transaction: commits if the block succeeds, rolls back on any exception.

        ``actor`` is the signed-in :class:`Principal` for every use case: its account is read
        inside the transaction and a deactivated (or re-roled) account is refused at once. A
        bare name is only for the sign-in itself and the persistence layer's own tests.

        A concurrent edit detected at flush/commit surfaces as :class:`ConflictError`, two
        workstations storing the same unique value as :class:`SimultaneousWriteError`, a lock
        held too long by another program as :class:`DatabaseBusyError`.
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
                name = actor.username if isinstance(actor, Principal) else actor
                uow = UnitOfWork(session, name, now, self.audit_key)
                if isinstance(actor, Principal):
                    self._require_active(uow, actor, lock=not read_only)
                yield uow
            if uow.audit.appended:
                self._remember_head(uow.audit.appended[-1])
        except StaleDataError as exc:
            raise ConflictError("The record", -1) from exc
        except IntegrityError as exc:
            # The driver's message names the clashing value (e.g. an MRN): never pass it on.
            raise _integrity_error(exc) from None
        except OperationalError as exc:
            if "could not serialize" in str(exc) or "deadlock" in str(exc):
                raise ConflictError("The record", -1) from exc
            if _is_busy(exc):
                raise DatabaseBusyError(busy_message(self.sqlite_file or "")) from None
            raise
        except Exception as exc:
            if _is_dbapi_integrity_error(exc):
                raise _integrity_error(exc) from None
            raise
        finally:
            session.close()

    def _require_active(self, uow: UnitOfWork, principal: Principal, lock: bool) -> None:
        # PostgreSQL: FOR SHARE queues behind a deactivation in progress (it locks FOR UPDATE);
        # a read-only transaction cannot take row locks, and SQLite writers are serialised.
        row = uow.users.row(principal.username,
                            share_lock=lock and self.dialect == "postgresql")
        if row is None or not row.active or row.role != str(principal.role):
            raise self._inactive(principal)

    @staticmethod
    def _inactive(principal: Principal) -> AccountInactiveError:
        return AccountInactiveError(
            f"The account {principal.username!r} is no longer active with the role "
            f"{principal.role.value.replace('_', ' ')}: sign in again. Nothing was changed."
        )

    @contextmanager
    def dbapi_read(self, principal: Principal | None = None) -> Iterator[Any]:
        """A pooled DB-API connection for one lean SELECT that needs no snapshot across
        statements (the patient list, queried on every keystroke; see
        :class:`~clinic_app.persistence.repositories.PatientList`).

        SQLite connections are in autocommit mode (a lone SELECT is atomic); PostgreSQL's
        implicit transaction is rolled back when the connection returns to the pool.
        ``principal``'s account is checked first, as in :meth:`unit_of_work`.
        """
        if self._damage is not None:
            raise self._damage
        conn = self.engine.raw_connection()
        try:
            if principal is not None:
                mark = "?" if self.dialect == "sqlite" else "%s"
                cur = conn.cursor()
                cur.execute(f"SELECT active, role FROM app_user WHERE username = {mark}",
                            (principal.username,))
                row = cur.fetchone()
                cur.close()
                if row is None or not row[0] or row[1] != str(principal.role):
                    raise self._inactive(principal)
            yield conn
        finally:
            conn.close()

    def _remember_head(self, head: tuple[int, str]) -> None:
        tmp = self.head_file.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner-only
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps({"seq": head[0], "mac": head[1]}))
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
