"""The database handle and the unit of work: one transaction per use case."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from clinic_app import config
from clinic_app.domain.errors import ConflictError, DomainError, PermissionDeniedError
from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Patient, PatientPage
from clinic_app.persistence import anchor, changes, cohort_summary, migrate, record_facts, rowmac
from clinic_app.persistence.audit import AuditRepository, ChainReport, verify_chain
from clinic_app.persistence.bulk import BulkRepository
from clinic_app.persistence.cohorts import CohortRepository
from clinic_app.persistence.engine import (
    MAX_WAIT_MS,
    READ_ONLY,
    connection_label,
    make_engine,
    sqlcipher_key,
    sqlite_path,
)
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.outfiles import (
    PARTS_REGISTRY,
    remove_registered_parts,
    remove_stale_parts,
)
from clinic_app.persistence.plan_repo import PlanRepository
from clinic_app.persistence.record_facts import PatientFacts, RecordFacts
from clinic_app.persistence.repositories import (
    ClinicRepository,
    ClinicSettingRepository,
    EpisodeRepository,
    PatientList,
    PatientRepository,
    SessionRepository,
    TestResultRepository,
    UserRepository,
    row_intact,
    utc_now,
)

if TYPE_CHECKING:
    from clinic_app.persistence.view_log import ViewLog


class DatabaseDamagedError(DomainError):
    """SQLite's quick_check found damage; the app must not write to the file."""


# Taken shared by every writing transaction on PostgreSQL, exclusively by a restore
# (see clinic_app.persistence.backup).
RESTORE_LOCK = 0x52737472  # "Rstr"


def refuse_emptied_file(url: str, data_folder: Path, backup_folder: Path | None = None) -> None:
    """Refuse a SQLite file that exists but is empty when this data folder has served a
    clinic before: a truncated file must not silently become a new, empty clinic.

    Only a missing file starts a new clinic. (A non-empty file that is not a database is
    refused by the integrity check.)
    """
    path = sqlite_path(url)
    try:
        if path is None or path.stat().st_size > 0:
            return
    except FileNotFoundError:
        return
    backups = _backups(data_folder, backup_folder)
    traces = _clinic_traces(data_folder, backups)
    if not traces:
        return
    where = ("; backups are in " + " and ".join(str(f) for f in dict.fromkeys(
        p.parent for p in backups))) if backups else ""
    raise DatabaseDamagedError(
        f"The database file {path} is empty (0 bytes), but this data folder has held a clinic "
        f"({', '.join(traces)}): the file was probably cut short. Nothing was changed. "
        f"Restore the latest good backup with `clinic-app restore FILE`{where}. Only to "
        "start a new, empty clinic on purpose, delete the empty file."
    )


def _backups(data_folder: Path, backup_folder: Path | None) -> list[Path]:
    found: list[Path] = []
    for folder in dict.fromkeys(f for f in (data_folder / "backups", backup_folder) if f):
        with contextlib.suppress(OSError):
            found += [p for p in folder.iterdir()
                      if p.is_file() and not p.name.endswith(".part")]
    return found


def _clinic_traces(data_folder: Path, backups: list[Path]) -> list[str]:
    """What shows that ``data_folder`` has been used by a clinic (empty when nothing does)."""
    found = ["backups"] if backups else []
    if any(data_folder.glob("audit-head-*.json")):
        found.append("audit records")
    for name, what in (("settings.json", "settings"), ("audit.key", "an audit key"),
                       ("restore-journal.log", "a restore journal")):
        if (data_folder / name).exists():
            found.append(what)
    return found


class DatabaseClosedError(DomainError):
    """A unit of work was asked of a database that has been closed."""


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
        in text or "lock timeout" in text


def _yield_to_other_threads() -> None:
    """Lower the calling thread's CPU priority to the least (Linux; elsewhere nothing).

    For the start-up integrity check: it reads the whole file for seconds (minutes at a
    million patients) while the user signs in and searches, and on a busy machine it would
    take half of what the process gets from the cores the window and the list's queries
    need. It still runs whenever they wait. On Linux ``setpriority`` with a thread id
    applies to that thread alone, and a thread given no I/O priority of its own takes one
    from its nice value (best effort, lowest), so where the disk's scheduler honours
    priorities its reads also wait behind theirs."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


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


# Audit seqs of its own saves a Database remembers for its SQLite watcher (see own_events).
OWN_SEQS_KEPT = 10_000


class UnitOfWork:
    """Repositories bound to one transaction. Commit happens when the block ends cleanly."""

    def __init__(
        self, session: Session, actor: str, now: Callable[[], datetime], audit_key: bytes,
        workstation: str | None = None,
    ) -> None:
        self.session = session
        self.actor = actor
        self.audit_key = audit_key
        # Rows written in this transaction are signed with the key (persistence/rowmac.py).
        session.info[rowmac.ROW_KEY] = audit_key
        args = (session, actor, now)
        self.patients = PatientRepository(*args)
        self.episodes = EpisodeRepository(*args)
        self.sessions = SessionRepository(*args)
        self.tests = TestResultRepository(*args)
        self.clinic = ClinicRepository(*args)
        self.settings = ClinicSettingRepository(*args)
        self.users = UserRepository(*args)
        self.plan = PlanRepository(*args)
        self.audit = AuditRepository(session, actor, now, audit_key, workstation)
        self.bulk = BulkRepository(*args)
        self.cohorts = CohortRepository(session)

    def patient_facts(self, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, PatientFacts]:
        """Name and MRN of each patient in ``ids`` that exists (for the audit viewer)."""
        return record_facts.patient_facts(self.session, ids)

    def record_facts(
        self, refs: Iterable[tuple[str, str | None]]
    ) -> dict[tuple[str, str], RecordFacts]:
        """What the audit viewer shows of each ``(entity, entity_id)`` still stored."""
        return record_facts.record_facts(self.session, refs)

    def row_intact(self, row: Any) -> bool:
        """True when a loaded signed row (e.g. a user account) still carries its valid MAC."""
        return row_intact(self.session, row)


class Database:
    """An engine plus the session factory; create with :meth:`open`."""

    def __init__(
        self, url: str, engine: Engine, audit_key: bytes | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.url = url
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Every write keeps the cohorts' weekly summary right in its own transaction.
        cohort_summary.maintain(self._sessions)
        self._read_sessions = sessionmaker(engine.execution_options(**{READ_ONLY: True}),
                                           expire_on_commit=False, autoflush=False)
        self.patient_list = PatientList(engine.dialect)
        self.migration: migrate.MigrationResult | None = None
        self._audit_key = audit_key if audit_key is not None else config.load_audit_key()
        self._workstation: str | None = None
        self._key_lock = threading.Lock()
        self._anchor_lock = threading.Lock()
        # This workstation's signed checkpoint of the last audit event it wrote (anchor.py).
        where = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.head_file = (state_dir or config.data_dir()) / f"audit-head-{where}.json"
        self.backup_dir: Path | None = None  # also searched for backup checkpoints
        # The start-up integrity check when it runs in the background (see ``open``).
        self._checked = threading.Event()
        self._checked.set()
        # Writes accepted while the check runs (a sign-in's own record), stored by the check's
        # thread as soon as it passed and before any other write proceeds.
        self._deferred: list[Callable[[], None]] = []
        self._deferred_lock = threading.Lock()
        self._deferred_done = threading.Event()
        self._deferred_done.set()
        self._damage: DatabaseDamagedError | None = None
        self._check_thread: threading.Thread | None = None
        self._check_conn: Any = None
        self._views: ViewLog | None = None
        self._views_lock = threading.Lock()
        self._closing = False
        self._label = ""  # see name_connections
        # Live updates (persistence/changes.py): this object's notices carry ``origin``, and
        # the audit seqs it wrote let the SQLite watcher skip this workstation's own saves.
        self.origin = uuid.uuid4().hex
        self._own_seqs: set[int] = set()
        self._own_lock = threading.Lock()

    @classmethod
    def open(
        cls, url: str, backup_dir: Path | None = None, upgrade: bool = True,
        audit_key: bytes | None = None, state_dir: Path | None = None,
        check_in_background: bool = False, app_user: str | None = None,
    ) -> Database:
        """Connect, check SQLite for damage, refuse a newer schema, migrate to head.

        ``check_in_background`` (the desktop app): when the schema is already current, SQLite's
        quick_check (seconds on a large clinic) runs in a thread while the app shows its data;
        every write waits for it, and once damage is found every unit of work refuses with
        :class:`DatabaseDamagedError`. Pending migrations always check first, synchronously.
        (Restoring over a damaged file bypasses all this: it builds ``Database(url, engine)``.)
        An emptied SQLite file where a clinic has been is refused (:func:`refuse_emptied_file`).
        ``app_user`` names the workstation's connections on PostgreSQL.
        """
        folder = state_dir or config.data_dir()
        refuse_emptied_file(url, folder, backup_dir)
        # Copies of the whole database left by a backup that was killed while writing.
        for stale_folder in dict.fromkeys(f for f in (folder / "backups", backup_dir) if f):
            remove_stale_parts(stale_folder)
        remove_registered_parts(folder / PARTS_REGISTRY)  # e.g. from `backup --out ELSEWHERE`
        db = cls(url, make_engine(url, app_user), audit_key, state_dir)
        db.backup_dir = backup_dir
        try:
            if check_in_background and db.dialect == "sqlite" and db._schema_current():
                db._start_background_check()
                db.audit_key  # noqa: B018 - a missing key is refused now, not at sign-in
                return db
            db.quick_check()
            if upgrade:
                db.migration = migrate.upgrade(db.engine, backup_dir, db.sqlite_key,
                                               audit_key=db.audit_key)
            else:
                migrate.check_schema(db.engine)
        except BaseException:
            db.close()
            raise
        return db

    @property
    def audit_key(self) -> bytes:
        """The audit key; created on first use, but never for a database with signed events.

        Raises :class:`config.AuditKeyError` when this workstation has no key and the database
        already holds audit events: a new key would make every one of them look forged.
        """
        if self._audit_key is None:
            with self._key_lock:
                if self._audit_key is None:
                    events = self._signed_events()
                    if events:
                        raise config.AuditKeyError(
                            f"This workstation has no audit key, but the database holds "
                            f"{events:,} audit events signed with one. A new key is not "
                            f"created, as every earlier event would then look forged. "
                            f"{config.missing_key_advice()}")
                    self._audit_key = config.create_audit_key()
        return self._audit_key

    @property
    def workstation(self) -> str:
        """This workstation's keyed id, recorded in the audit events it writes."""
        if self._workstation is None:
            self._workstation = config.workstation_id(self.audit_key)
        return self._workstation

    def _signed_events(self) -> int:
        """How many audit events the database holds (0 when it has no trail yet)."""
        try:
            with self.engine.connect() as conn:
                if conn.execute(text("SELECT 1 FROM audit_event LIMIT 1")).first() is None:
                    return 0
                return int(conn.execute(text("SELECT count(*) FROM audit_event")).scalar() or 0)
        except DBAPIError:  # no audit table yet: a new database
            return 0

    def _schema_current(self) -> bool:
        try:
            return migrate.is_current(self.engine)
        except DBAPIError:  # e.g. a wrong SQLCipher passphrase: quick_check says it clearly
            return False

    def _start_background_check(self) -> None:
        self._deferred_done.clear()
        self._checked.clear()
        self._check_thread = threading.Thread(
            target=self._background_check, name="sqlite-quick-check", daemon=True)
        self._check_thread.start()

    def _background_check(self) -> None:
        _yield_to_other_threads()
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
            self._run_deferred()

    def when_checked(self, write: Callable[[], None]) -> bool:
        """Run ``write`` (one unit of work of its own) once the background integrity check
        has passed, before any other write; at once, in this thread, if no check is running.

        Returns ``True`` when it was deferred. A deferred write runs in the check's thread;
        :meth:`close` waits for it rather than interrupting the check. If the check finds
        damage nothing is written to the file, and the write's own error is logged (one line,
        no values) by the caller's ``write``.
        """
        with self._deferred_lock:
            if not self._deferred_done.is_set():
                self._deferred.append(write)
                return True
        write()
        return False

    def _run_deferred(self) -> None:
        try:
            while True:
                with self._deferred_lock:
                    if not self._deferred:
                        self._deferred_done.set()
                        return
                    write = self._deferred.pop(0)
                with contextlib.suppress(Exception):  # each write reports its own failure
                    write()
        finally:
            self._deferred_done.set()

    def _wait_writable(self) -> None:
        """Writes wait for the integrity check and then for the writes deferred during it
        (so a sign-in is on record before anything that user does)."""
        self.require_intact()
        if threading.current_thread() is not self._check_thread:
            self._deferred_done.wait()

    def require_intact(self, timeout: float | None = None) -> None:
        """Wait for a background integrity check; raise if it found damage.

        Raises :class:`TimeoutError` if ``timeout`` seconds pass first.
        """
        if not self._checked.wait(timeout):
            raise TimeoutError("The database integrity check is still running.")
        if self._damage is not None:
            raise self._damage

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (every unit of work is refused from then on)."""
        return self._closing

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
        read_only: bool = False, max_wait_ms: int | None = None, snapshot: bool = False,
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
        ``max_wait_ms`` makes a writing transaction give up with :class:`DatabaseBusyError`
        after waiting that long for another writer (e.g. a running import). ``snapshot``
        (with ``read_only``) makes every statement see the same committed state, for reads
        made in many statements such as an export (SQLite's read transaction already does).
        """
        if self._closing:
            # A late background task must not quietly open new connections to a database
            # its window has closed (they would count as "another workstation" for a restore).
            raise DatabaseClosedError("This database has been closed; open it again.")
        if read_only:
            if self._damage is not None:
                raise self._damage
        else:
            self._wait_writable()  # no write to a file that may be damaged
        session = (self._read_sessions if read_only else self._sessions)()
        own: set[int] = set()
        committed = False
        try:
            with session.begin():
                if max_wait_ms is not None and not read_only:
                    session.connection(execution_options={MAX_WAIT_MS: max_wait_ms})
                    if self.dialect == "postgresql":
                        session.execute(text(f"SET LOCAL lock_timeout = {int(max_wait_ms)}"))
                if read_only and self.dialect == "postgresql":
                    session.execute(text(
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY" if snapshot
                        else "SET TRANSACTION READ ONLY"))
                elif not read_only:
                    if self.dialect == "postgresql":
                        # Shared with every other writer; a restore takes it exclusively
                        # so that no write lands between its safety backup and its swap.
                        session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"),
                                        {"k": RESTORE_LOCK})
                    refuse_if_moved(session)
                name = actor.username if isinstance(actor, Principal) else actor
                uow = UnitOfWork(session, name, now, self.audit_key,
                                 None if read_only else self.workstation)
                if isinstance(actor, Principal):
                    self._require_active(uow, actor, lock=not read_only)
                yield uow
                if not read_only and uow.audit.appended:
                    if self.dialect == "postgresql":
                        changes.notify(session, uow.audit, self.origin)
                    else:
                        # Before the commit: SQLite writers are serialised, so no other
                        # transaction can commit these seqs while this one holds them.
                        own = {seq for seq, *_rest in uow.audit.changed}
                        self._note_own(own)
                checkpoint = None
                if uow.audit.appended:
                    seq, mac = uow.audit.appended[-1]
                    first = mac if seq == 1 else session.scalar(
                        select(AuditRow.mac).where(AuditRow.seq == 1))
                    checkpoint = anchor.Checkpoint(seq, mac, first or "", anchor.now_iso(),
                                                   self.workstation)
            committed = True
            if checkpoint is not None:
                self._remember_head(checkpoint)
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
            if own and not committed:
                self._forget_own(own)
            session.close()

    def _note_own(self, seqs: set[int]) -> None:
        with self._own_lock:
            self._own_seqs |= seqs
            if len(self._own_seqs) > OWN_SEQS_KEPT:
                # Nobody is watching (a script, the command line): keep the newest only.
                self._own_seqs = set(sorted(self._own_seqs)[-OWN_SEQS_KEPT // 2:])

    def _forget_own(self, seqs: set[int]) -> None:
        with self._own_lock:
            self._own_seqs -= seqs

    def own_events(self, after: int, upto: int) -> set[int]:
        """The audit seqs in ``(after, upto]`` that this object wrote (and forgets them)."""
        with self._own_lock:
            found = {s for s in self._own_seqs if after < s <= upto}
            self._own_seqs -= {s for s in self._own_seqs if s <= upto}
        return found

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

    def patient_page(self, principal: Principal, text: str = "", offset: int = 0,
                     limit: int = 200, include_in_error: bool = False) -> list[Patient]:
        """One page of the patient list as ``principal`` (whose account is checked first):
        a single lean SELECT on a pooled DB-API connection (see :class:`PatientList`)."""
        with self.dbapi_read(principal) as conn:
            return self.patient_list.search(conn, text, offset, limit, include_in_error)

    def patient_keyset_page(self, principal: Principal, text: str = "",
                            after: tuple[str, str, uuid.UUID] | None = None, limit: int = 200,
                            include_in_error: bool = False) -> PatientPage:
        """One page of the patient list after the paging key ``after``, as
        :meth:`patient_page` (see :meth:`PatientList.page`)."""
        with self.dbapi_read(principal) as conn:
            return self.patient_list.page(conn, text, after, limit, include_in_error)

    def patient_count(self, principal: Principal, text: str = "",
                      include_in_error: bool = False, cap: int | None = None) -> int:
        """How many patients the list's search ``text`` matches (at most ``cap``), as
        :meth:`patient_page`."""
        with self.dbapi_read(principal) as conn:
            return self.patient_list.count(conn, text, include_in_error, cap)

    def patient_count_within(self, principal: Principal, text: str, cap: int,
                             budget_s: float, include_in_error: bool = False) -> int | None:
        """:meth:`patient_count` stopped after ``budget_s`` seconds (``None`` then; see
        :meth:`PatientList.count_within`)."""
        with self.dbapi_read(principal) as conn:
            return self.patient_list.count_within(conn, text, cap, budget_s, include_in_error)

    def name_connections(self, user: str) -> None:
        """PostgreSQL: show ``user`` (e.g. who signed in) as this workstation's
        application_name from now on, so a restore elsewhere can say who is connected.

        Each pooled connection is renamed when it is next taken from the pool.
        """
        if self.dialect != "postgresql":
            return
        self._label = connection_label(user)
        if not event.contains(self.engine, "checkout", self._rename_connection):
            event.listen(self.engine, "checkout", self._rename_connection)

    def _rename_connection(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("application_name") == self._label:
            return
        cur = dbapi_conn.cursor()
        try:
            cur.execute("SELECT set_config('application_name', %s, false)", (self._label,))
        finally:
            cur.close()
        dbapi_conn.commit()  # a session setting survives only a committed transaction
        record.info["application_name"] = self._label

    def _remember_head(self, checkpoint: anchor.Checkpoint) -> None:
        # Concurrent units of work may finish out of order: never move the anchor back.
        with self._anchor_lock:
            held = self._own_anchor()
            if isinstance(held, anchor.Checkpoint) and held.seq > checkpoint.seq:
                return
            anchor.write_file(self.head_file, self.audit_key, checkpoint)

    def _own_anchor(self) -> anchor.Checkpoint | tuple[int, str] | str | None:
        """This workstation's anchor: a checkpoint, a legacy unsigned (seq, mac), a problem
        text, or None when the file does not exist."""
        try:
            doc = json.loads(self.head_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return f"this workstation's anchor file {self.head_file.name} is unreadable"
        if isinstance(doc, dict) and "sig" not in doc and {"seq", "mac"} <= doc.keys():
            try:  # written by an earlier Backstep: unsigned, still worth comparing
                return int(doc["seq"]), str(doc["mac"])
            except (TypeError, ValueError):
                pass
        try:
            return anchor.parse(self.audit_key, doc)
        except anchor.BadCheckpoint as exc:
            return f"this workstation's anchor file {self.head_file.name} is {exc}"

    def checkpoint(self) -> anchor.Checkpoint | None:
        """A checkpoint of the trail's current head (None while the trail is empty)."""
        session = self._read_sessions()
        try:
            with session.begin():
                return anchor.current(session, self.audit_key, self.workstation)
        finally:
            session.close()

    def remembered_head(self) -> tuple[int, str] | None:
        """The last event this workstation wrote, as (seq, mac), if it is known."""
        held = self._own_anchor()
        if isinstance(held, anchor.Checkpoint):
            return held.seq, held.head
        return held if isinstance(held, tuple) else None

    def _backup_checkpoints(self) -> tuple[list[anchor.Anchor], list[str]]:
        """Checkpoints carried by the signatures of the backups in the backup folders."""
        folders = {config.backup_dir()}
        if self.backup_dir is not None:
            folders.add(self.backup_dir)
        found: list[anchor.Anchor] = []
        problems: list[str] = []
        for folder in sorted(folders):
            for sig in sorted(folder.glob("*.sig")) if folder.is_dir() else []:
                try:
                    doc = json.loads(sig.read_text())
                    if not anchor.document_signed(self.audit_key, doc):
                        raise anchor.BadCheckpoint("not signed with this audit key")
                    if doc.get("checkpoint") is None:
                        continue  # a backup of a database whose trail was still empty
                    cp = anchor.parse(self.audit_key, doc["checkpoint"])
                except (OSError, ValueError, KeyError, TypeError, anchor.BadCheckpoint):
                    problems.append(f"backup signature {sig.name} is not valid for this key")
                    continue
                found.append(anchor.Anchor(f"backup {sig.name[:-4]}", cp))
        return found, problems

    def verify_audit(self) -> ChainReport:
        """Check the audit chain, its anchors outside the database, and every signed row."""
        self.require_intact()
        held = self._own_anchor()
        session = self._sessions()
        try:
            with session.begin():
                report = verify_chain(session, self.audit_key,
                                      held if isinstance(held, tuple) else None)
                anchors, problems = self._backup_checkpoints()
                if isinstance(held, anchor.Checkpoint):
                    anchors.insert(0, anchor.Anchor("this workstation", held))
                elif isinstance(held, str):
                    problems.append(held)
                # An unsigned (pre-checkpoint) file must not stand in for a signed one once
                # this workstation has signed events: that would hide a cut.
                unanchored = ("missing" if held is None else
                              "not signed" if isinstance(held, tuple) else None)
                problems += anchor.check(session, self.audit_key, anchors, self.workstation,
                                         unanchored, self.head_file.name)
                rows = rowmac.verify_rows(session, self.audit_key)
            report.problems += problems + rows.problems
            report.rows_checked = rows.checked
            return report
        finally:
            session.close()

    def announced_job(self, job: str, actor: str) -> contextlib.AbstractContextManager[None]:
        """While the block runs, other writers wait for ``job`` (SQLite), naming it
        (see :mod:`clinic_app.persistence.jobs`)."""
        from clinic_app.persistence import jobs

        return jobs.announced(self.sqlite_file, job, actor, self.workstation)

    def running_job(self) -> str | None:
        """What another workstation's announced job is doing, e.g. "anna is importing"."""
        from clinic_app.persistence import jobs

        return jobs.running(self.sqlite_file)

    @property
    def views(self) -> ViewLog:
        """Where "view" audit events go: written at once, or queued while another writer
        holds the database (see :mod:`clinic_app.persistence.view_log`)."""
        with self._views_lock:
            if self._views is None:
                from clinic_app.persistence.view_log import ViewLog

                spool = self.head_file.with_name(
                    self.head_file.name.replace("audit-head-", "pending-views-")
                    .replace(".json", ".jsonl"))
                self._views = ViewLog(self, spool)
            return self._views

    def close(self) -> None:
        """Write queued view events, stop a running integrity check, release connections."""
        if self._views is not None and not self._closing:
            self._views.close()
        thread = self._check_thread
        with self._deferred_lock:
            pending = bool(self._deferred)
        if pending and thread is not None:
            # A sign-in waits to be recorded: let the check finish rather than lose it.
            thread.join()
        self._closing = True
        while thread is not None and thread.is_alive():
            conn = self._check_conn
            if conn is not None:
                # The check may have finished (and its connection closed) meanwhile.
                with contextlib.suppress(Exception):
                    conn.interrupt()
            thread.join(0.05)
        self.engine.dispose()
