"""Move a whole clinic to another, empty database (SQLite <-> PostgreSQL, SQLCipher included).

Every table of :data:`Base.metadata` is copied in foreign-key order with its own keys,
versions, stamps, users and audit trail, so new tables and columns need no change here. The
target's schema is made by the Alembic migrations, and the schema, the rows and the "moved
from" audit event are written in ONE target transaction: a move that dies at any moment
leaves the target empty (or holding nothing a new move would refuse).

How the source is kept still while it is copied:

* SQLite: the mover holds the write lock (``BEGIN IMMEDIATE``) for the whole move and reads
  in that same transaction. Readers keep reading (WAL); a writer waits for the busy timeout
  and is then refused with :class:`~clinic_app.persistence.uow.DatabaseBusyError`.
* PostgreSQL: the mover holds an exclusive advisory lock (:data:`uow.MOVE_LOCK`) that every
  write transaction tries to take shared first (:func:`uow.refuse_if_moved`), so writes are
  refused at once with :class:`~clinic_app.persistence.uow.ClinicMovingError`; it reads in
  one REPEATABLE READ snapshot.

Both locks die with the mover's connection, so a killed move leaves the source as it was.
After the target has committed, the source gets a "moved to <URL>" audit event in the same
locked transaction; from then on every write there is refused with
:class:`~clinic_app.persistence.uow.ClinicMovedError`.

Before anything is committed every table is compared: row count and a SHA-256 of each row's
canonical form in primary-key order, with types normalised so both databases agree.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Uuid,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from clinic_app.domain.errors import DomainError
from clinic_app.persistence import cohort_summary, migrate
from clinic_app.persistence.audit import AuditRepository
from clinic_app.persistence.engine import make_engine, normalise_url, sqlite_path
from clinic_app.persistence.models import Base
from clinic_app.persistence.repositories import utc_now
from clinic_app.persistence.uow import (
    MOVE_ACTION,
    MOVE_LOCK,
    MOVED_FROM,
    MOVED_TO,
    Database,
    DatabaseBusyError,
    refuse_if_moved,
)

# (phase, table, rows done, rows in the table); phase is "copying" or "checking".
MoveProgress = Callable[[str, str, int, int], None]

# Plain words for the refusal of a target that is not empty.
ROW_NOUNS = {
    "patient": "patient(s)", "episode": "episode(s)", "walk_session": "session(s)",
    "test_result": "test result(s)", "app_user": "user(s)", "clinic": "letterhead row(s)",
    "audit_event": "audit event(s)",
}


class MoveError(DomainError):
    """The clinic could not be moved; the source is unchanged and nothing was committed."""


@dataclass(frozen=True)
class TableCheck:
    """One table compared between source and target."""

    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sha256) == (self.target_rows, self.target_sha256)


@dataclass(frozen=True)
class MoveResult:
    source: str  # URLs without passwords
    target: str
    tables: tuple[TableCheck, ...]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)


def display_url(url: str) -> str:
    """``url`` as it may be shown and stored: no password, ``sqlcipher`` kept short."""
    p = make_url(url)
    bare = URL.create(p.drivername, p.username, None, p.host, p.port, p.database, p.query)
    return bare.render_as_string(hide_password=False)


def check_table(checks: Sequence[TableCheck]) -> str:
    """The comparison as a fixed-width table for a terminal or a dialog."""
    lines = [f"{'table':<16} {'source rows':>12} {'target rows':>12}  {'checksum (SHA-256)':<18}"
             "  result"]
    for c in checks:
        same = "same" if c.ok else "DIFFERENT"
        lines.append(f"{c.table:<16} {c.source_rows:>12,} {c.target_rows:>12,}  "
                     f"{c.source_sha256[:16]:<18}  {same}")
    return "\n".join(lines)


# --- canonical rows -------------------------------------------------------------------------
#
# A row's canonical form is ``repr`` of its tuple of values as the column types return them.
# The types already make both databases agree on UUIDs (uuid.UUID), clinical stamps
# (UTCDateTime: aware, UTC), booleans, dates and floats (both store IEEE doubles), so only
# the values where they can still differ are converted first: JSON (key order), decimals
# (PostgreSQL keeps trailing zeros), plain DateTime columns (zone), UUIDs kept as text and
# binary (memoryview). Tables without such columns are hashed at C speed.


def _none_or(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value


def _converter(column: Any) -> Callable[[Any], Any] | None:
    """How one column's value is normalised before hashing (None: used as it is)."""
    kind = column.type
    if isinstance(kind, JSON):
        return _none_or(lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return _none_or(lambda v: format(Decimal(v).normalize(), "f"))
    if isinstance(kind, DateTime):  # (UTCDateTime is a TypeDecorator: already UTC)
        return _none_or(_utc)
    if isinstance(kind, Uuid) and not kind.as_uuid:
        return _none_or(lambda v: str(uuid.UUID(str(v))))
    if isinstance(kind, LargeBinary):
        return _none_or(bytes)
    return None


class _Digest:
    """Counts and hashes a table's rows (in primary-key order) in their canonical form."""

    def __init__(self, table: Table) -> None:
        self.convert = [(i, f) for i, c in enumerate(table.columns)
                        if (f := _converter(c)) is not None]
        self.sha = hashlib.sha256()
        self.rows = 0

    def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.convert:
            fixed = []
            for row in rows:
                values = list(row)
                for i, f in self.convert:
                    values[i] = f(values[i])
                fixed.append(tuple(values))
            rows = fixed
        if rows:
            self.sha.update(("\n".join(map(repr, rows)) + "\n").encode())
        self.rows += len(rows)

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def _ordered(table: Table, dialect: str) -> Any:
    keys = []
    for col in table.primary_key.columns:
        # Byte order on PostgreSQL, as SQLite sorts text, so both hash rows in one order.
        keys.append(col.collate("C") if dialect == "postgresql" and isinstance(col.type, String)
                    else col)
    return select(table).order_by(*keys)


def _batches(conn: Connection, table: Table, size: int) -> Iterator[Sequence[Any]]:
    """The table's rows in primary-key order, ``size`` at a time (server-side cursor)."""
    result = conn.execute(_ordered(table, conn.dialect.name),
                          execution_options={"stream_results": True, "yield_per": size})
    try:
        for part in result.partitions(size):
            yield [tuple(r) for r in part]
    finally:
        result.close()


def table_digests(conn: Connection, batch: int = 5000) -> dict[str, tuple[int, str]]:
    """Row count and checksum of every table, read in ``conn``'s transaction."""
    out: dict[str, tuple[int, str]] = {}
    for table in Base.metadata.sorted_tables:
        digest = _Digest(table)
        for rows in _batches(conn, table, batch):
            digest.add(rows)
        out[table.name] = (digest.rows, digest.hexdigest())
    return out


# --- writing ------------------------------------------------------------------------------

def _write(conn: Connection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (tuples in column order) in the target's transaction."""
    dialect = conn.dialect
    names = [c.key for c in table.columns]
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        procs = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns]
        quote = dialect.identifier_preparer.quote
        sql = (f"COPY {dialect.identifier_preparer.format_table(table)} "
               f"({', '.join(quote(c.name) for c in table.columns)}) FROM STDIN")
        raw: Any = conn.connection.dbapi_connection  # the same transaction: rolled back with it
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([v if p is None or v is None else p(v)
                                for p, v in zip(procs, row, strict=True)])
    else:
        conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: serial keys continue after the copied ids (they were given explicitly)."""
    if conn.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        for col in table.primary_key.columns:
            if not isinstance(col.type, Integer):
                continue
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": table.name, "c": col.name}).scalar()
            if seq is None:
                continue
            top = conn.execute(select(func.max(col))).scalar()
            conn.execute(text("SELECT setval(:s, :v, :called)"),
                         {"s": seq, "v": top or 1, "called": top is not None})


# --- the move -----------------------------------------------------------------------------

def _same_database(a: str, b: str) -> bool:
    pa, pb = sqlite_path(a), sqlite_path(b)
    if pa is not None and pb is not None:
        return pa.resolve() == pb.resolve()
    ua, ub = normalise_url(a), normalise_url(b)
    return (ua.drivername.split("+")[0], ua.host, ua.port, ua.database) == (
        ub.drivername.split("+")[0], ub.host, ub.port, ub.database)


def _refuse_unless_empty(conn: Connection) -> None:
    """Raise unless the target is empty (an empty Backstep schema is fine: it is migrated)."""
    names = set(inspect(conn).get_table_names())
    # The derived summary is Backstep's too; it is rebuilt after the copy whatever it holds.
    ours = {t.name for t in [*Base.metadata.sorted_tables, *cohort_summary.DERIVED.sorted_tables]}
    foreign = sorted(names - ours - {"alembic_version"})
    if foreign:
        raise MoveError(
            f"The target database already holds tables that are not Backstep's "
            f"({', '.join(foreign[:5])}{', …' if len(foreign) > 5 else ''}). Nothing was "
            "copied: choose an empty database.")
    held = []
    # Patients first: the counts a user recognises.
    order = list(ROW_NOUNS)
    for table in sorted(Base.metadata.sorted_tables,
                        key=lambda t: order.index(t.name) if t.name in order else len(order)):
        if table.name in names:
            n = conn.execute(select(func.count()).select_from(table)).scalar() or 0
            if n:
                held.append(f"{n:,} {ROW_NOUNS.get(table.name, f'row(s) in {table.name}')}")
    if held:
        raise MoveError(
            f"The target already holds {', '.join(held)}. Nothing was copied: a clinic is "
            "only moved into an empty database.")


def _append_event(conn: Connection, db: Database, actor: str, detail: str) -> None:
    """Append one audit event in ``conn``'s open transaction."""
    session = Session(bind=conn)
    try:
        audit = AuditRepository(session, actor, utc_now, db.audit_key, db.workstation)
        audit.record(MOVE_ACTION, "database", detail=detail)
        session.flush()
    finally:
        session.close()


def _anchor(db: Database) -> None:
    """Anchor this workstation at ``db``'s trail head (the move's own event)."""
    checkpoint = db.checkpoint()
    if checkpoint is not None:
        db._remember_head(checkpoint)


def _lock_source(source: Database) -> Connection:
    """A connection whose open transaction keeps every other writer out (see module doc)."""
    conn = source.engine.connect()
    try:
        if source.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MOVE_LOCK})
            conn.commit()
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        conn.begin()  # SQLite: BEGIN IMMEDIATE (engine.py), i.e. the write lock
        # Under the lock, so that two movers cannot both pass this check.
        refuse_if_moved(conn, shared_lock=False)
    except BaseException:
        conn.close()
        raise
    return conn


def move_clinic(
    source: Database, target_url: str, actor: str, progress: MoveProgress | None = None,
    batch: int = 5000,
) -> MoveResult:
    """Copy the whole clinic from ``source`` into the empty database at ``target_url``.

    Raises :class:`MoveError` (nothing committed anywhere) when the target is the source,
    is not empty, or the copy does not compare equal. See the module docstring.
    """
    started = time.monotonic()
    report = progress or (lambda *_: None)
    if _same_database(source.url, target_url):
        raise MoveError("The target is the database in use: choose another one.")
    source.require_intact()
    if not migrate.is_current(source.engine):
        raise MoveError("Upgrade this database first (clinic-app db upgrade), then move it.")
    target = Database(target_url, make_engine(target_url), source.audit_key,
                      source.head_file.parent)
    src_text, dst_text = display_url(source.url), display_url(target_url)
    try:
        try:
            src = _lock_source(source)
        except DBAPIError as exc:
            if "locked" in str(exc.orig):
                raise DatabaseBusyError(
                    "The database is busy (another program is writing to it): nothing was "
                    "moved. Try again in a moment.") from exc
            raise
        try:
            try:
                opened = target.engine.connect()
            except DBAPIError as exc:
                raise MoveError(f"The target database {dst_text} cannot be opened: "
                                f"{_first_line(exc.orig)}. Nothing was moved.") from exc
            try:
                with opened as dst, dst.begin():
                    checks = _copy_into(src, dst, target, actor, src_text,
                                                     report, batch)
            except DBAPIError as exc:
                # Only the error's kind: a driver message may quote row values.
                raise MoveError(
                    f"The move failed in the database ({type(exc.orig).__name__}). Nothing was "
                    "committed to the target, and this database is unchanged.") from exc
            # The target is committed: mark the source, still under its lock, and release it.
            try:
                _append_event(src, source, actor, f"{MOVED_TO}{dst_text}")
                src.commit()
            except Exception as exc:
                raise MoveError(
                    f"The clinic was copied to {dst_text} and verified there, but this database "
                    f"could not be marked as moved ({type(exc).__name__}). Stop using it: point "
                    "every workstation at the new database.") from exc
        finally:
            if source.dialect == "postgresql" and not src.closed:
                src.rollback()
                src.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MOVE_LOCK})
                src.commit()
            src.close()
        _anchor(source)
        _anchor(target)
    finally:
        target.close()
    return MoveResult(src_text, dst_text, tuple(checks), time.monotonic() - started)


def _first_line(exc: BaseException | None) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _copy_into(src: Connection, dst: Connection, target: Database, actor: str,
               src_text: str, report: MoveProgress,
               batch: int) -> list[TableCheck]:
    """Schema, rows, comparison and the "moved from" event, in ``dst``'s transaction."""
    if target.dialect == "postgresql":
        # Workstations starting on the new server wait until the move is done.
        dst.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": migrate.PG_MIGRATION_LOCK})
    _refuse_unless_empty(dst)
    from alembic import command

    # In this transaction (DDL is transactional on both databases).
    command.upgrade(migrate.alembic_config(dst), "head")
    checks = _copy_all(src, dst, report, batch)
    # The summary is derived from the rows just compared: recomputed, not copied.
    cohort_summary.rebuild(dst, exclusive=True)  # a new database, held by this move
    bad = [c.table for c in checks if not c.ok]
    if bad:
        raise MoveError("The copy did not compare equal to the source in "
                        f"{', '.join(bad)}; nothing was committed.\n" + check_table(checks))
    _append_event(dst, target, actor, f"{MOVED_FROM}{src_text}")
    return checks


def _copy_all(src: Connection, dst: Connection, report: MoveProgress,
              batch: int) -> list[TableCheck]:
    """Stream every table from ``src`` into ``dst``, then compare both sides."""
    sources: dict[str, _Digest] = {}
    for table in Base.metadata.sorted_tables:
        total = src.execute(select(func.count()).select_from(table)).scalar() or 0
        digest = sources[table.name] = _Digest(table)
        report("copying", table.name, 0, total)
        for rows in _batches(src, table, batch):
            digest.add(rows)
            _write(dst, table, rows)
            report("copying", table.name, digest.rows, total)
    _reset_sequences(dst)
    checks = []
    for table in Base.metadata.sorted_tables:
        mine = sources[table.name]
        theirs = _Digest(table)
        report("checking", table.name, 0, mine.rows)
        for rows in _batches(dst, table, batch):
            theirs.add(rows)
            report("checking", table.name, theirs.rows, mine.rows)
        checks.append(TableCheck(table.name, mine.rows, theirs.rows, mine.hexdigest(),
                                 theirs.hexdigest()))
    return checks
