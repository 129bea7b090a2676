"""Bulk reads and writes of whole tables: the CSV import's lookups and writer, the export's
chart loader.

The import service decides *what* to store (links, checks, duplicates); this module is how
it asks the database and how the rows get in: lookups in chunks of ids, a large SQLite page
cache for the transaction, and batched writes (SQLite: one DB-API executemany; PostgreSQL
with psycopg: ``COPY ... FROM STDIN``), each row signed like any row Backstep writes
(``rowmac``). Everything runs on the unit of work's own transaction, so it commits or rolls
back with the rest of the use case.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from clinic_app.domain.charts import EpisodeChart, PatientChart
from clinic_app.domain.errors import NotFoundError
from clinic_app.domain.imports import give_way
from clinic_app.domain.records import Patient
from clinic_app.persistence import cohort_summary, mapping, rowmac
from clinic_app.persistence.binds import converted_rows
from clinic_app.persistence.models import EpisodeRow, PatientRow, TestResultRow, WalkSessionRow

log = logging.getLogger(__name__)

CHUNK = 900  # ids per IN (...) list: below SQLite's default 999 host-parameter limit
CHART_PAGE = CHUNK  # patients per page of an export (their ids make one IN list)
SQLITE_IMPORT_CACHE_KIB = 64 * 1024
"""SQLite page cache while an import writes (default 2 MiB): a large import otherwise
spills pages to the WAL and re-reads index pages over and over."""

_MODELS: dict[str, Any] = {"patient": PatientRow, "episode": EpisodeRow,
                           "session": WalkSessionRow, "test": TestResultRow}

COLUMNS: dict[str, tuple[str, ...]] = {
    "patient": ("id", "entered_in_error", "error_reason", "mrn", "family_name", "given_name",
                "family_key", "given_key", "date_of_birth", "sex", "phone", "email", "notes"),
    "episode": ("id", "entered_in_error", "error_reason", "patient_id", "diagnosis",
                "affected_side", "start_date", "surgery_date", "end_date", "referring_doctor",
                "notes", "surgery_type", "treating_therapist"),
    "session": ("id", "entered_in_error", "error_reason", "episode_id", "performed_at",
                "mode", "surface", "assistance", *mapping.SESSION_FIELDS),
    "test": ("id", "entered_in_error", "error_reason", "episode_id", "session_id",
             "measure_id", "performed_on", "side", "value", "items", "notes"),
}
"""The values of one new row of each kind, in the order the import writer takes them."""

EpisodeFacts = tuple[uuid.UUID, uuid.UUID, str, date]
"""An episode an import row may link to: (episode id, patient id, MRN, start date)."""


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``items`` in slices short enough for one ``IN (...)`` list on every database; a
    waiting thread is let in between them (``give_way``)."""
    for i in range(0, len(items), CHUNK):
        give_way()
        yield items[i:i + CHUNK]


class BulkRepository:
    """Whole-table reads and batched writes inside one unit of work's transaction."""

    def __init__(self, session: Session, actor: str, now: Callable[[], datetime]) -> None:
        self.s = session
        self.actor = actor
        self.now = now
        self._signers: dict[tuple[str, int], Callable[[Sequence[Any]], str]] = {}
        self._side: _SnapshotReader | None = None
        self._no_side = False  # the server gave no second connection

    # --- export ------------------------------------------------------------------------
    def charts(self, mrn: str | None = None) -> list[PatientChart]:
        """Whole charts (records entered in error included) of one patient or all, by MRN.

        Four queries in all, whatever the number of patients. Raises NotFoundError for an
        unknown MRN. Episodes, sessions and tests come oldest first.
        """
        pq = select(PatientRow).order_by(PatientRow.mrn)
        if mrn is not None:
            key = mrn.strip().upper()
            pq = pq.where(PatientRow.mrn == key)
        patients = [mapping.patient_of(r) for r in self.s.scalars(pq)]
        if mrn is not None and not patients:
            raise NotFoundError(
                f"No patient with MRN {mrn.strip().upper()!r}: nothing was exported.")
        return self._charts_of(patients, [p.id for p in patients] if mrn is not None else None)

    def chart_pages(
        self, mrn: str | None = None, size: int | None = None,
    ) -> Iterator[list[PatientChart]]:
        """:meth:`charts` in pages of ``size`` patients by MRN, so a whole clinic can be
        written out in bounded memory (read them inside one snapshot for a consistent copy).
        """
        if mrn is not None:
            yield self.charts(mrn)
            return
        size = size or CHART_PAGE
        after: str | None = None
        while True:
            pq = select(PatientRow).order_by(PatientRow.mrn).limit(size)
            if after is not None:
                pq = pq.where(PatientRow.mrn > after)
            patients = [mapping.patient_of(r) for r in self.s.scalars(pq)]
            self.s.expunge_all()  # the page's rows are mapped: keep the identity map small
            if not patients:
                return
            after = patients[-1].draft.mrn
            yield self._charts_of(patients, [p.id for p in patients])
            self.s.expunge_all()

    def export_pages(self, mrn: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record as plain rows for the CSV export, a page of patients at a time
        (``persistence/export_rows.py``: the columns are ``EXPORT_COLUMNS``)."""
        from clinic_app.persistence import export_rows

        return export_rows.export_pages(self.s, mrn, CHART_PAGE)

    def csv_pages(self, rules: Any, mrn: str | None = None) -> Iterator[Any]:
        """The CSV export's cells formatted by the database, a page of patients at a time
        (``persistence/export_csv.py``; ``rules`` is an ``export_csv.CsvRules``). On
        SQLite first ask :meth:`csv_cells_exact`."""
        from clinic_app.persistence import export_csv

        return export_csv.csv_pages(self.s, rules, mrn, CHART_PAGE)

    def csv_cells_exact(self) -> bool:
        """Whether :meth:`csv_pages` gives exactly the chart-based writer's cells for
        what is stored: on PostgreSQL when no float is 1e15 or larger (or NaN), on SQLite
        when the stored instants and questionnaire items have SQLAlchemy's shapes; else
        the export formats its cells in Python."""
        from clinic_app.persistence import export_csv

        if self.s.connection().dialect.name == "postgresql":
            return export_csv.pg_cells_exact(self.s)
        return export_csv.sqlite_cells_exact(self.s)

    def patient_count(self, mrn: str | None = None) -> int:
        """How many patients :meth:`chart_pages` will yield."""
        q = select(func.count()).select_from(PatientRow)
        if mrn is not None:
            q = q.where(PatientRow.mrn == mrn.strip().upper())
        return int(self.s.scalar(q) or 0)

    def _charts_of(
        self, patients: list[Patient], ids: list[uuid.UUID] | None,
    ) -> list[PatientChart]:
        """The charts of ``patients``; ``ids`` None reads every episode (all patients).

        Plain rows (Core), not ORM objects: the mapping reads them by column name, and
        skipping the identity map halves the time an export of a whole clinic takes.
        """
        s = self.s
        eq = select(EpisodeRow.__table__).order_by(
            EpisodeRow.start_date, EpisodeRow.created_at, EpisodeRow.id)
        sq = select(WalkSessionRow.__table__).order_by(
            WalkSessionRow.performed_at, WalkSessionRow.created_at, WalkSessionRow.id)
        tq = select(TestResultRow.__table__).order_by(
            TestResultRow.performed_on, TestResultRow.created_at, TestResultRow.measure_id,
            TestResultRow.side, TestResultRow.id)
        if ids is not None:
            eq = eq.where(EpisodeRow.patient_id.in_(ids))
            sq = sq.join(EpisodeRow, WalkSessionRow.episode_id == EpisodeRow.id).where(
                EpisodeRow.patient_id.in_(ids))
            tq = tq.join(EpisodeRow, TestResultRow.episode_id == EpisodeRow.id).where(
                EpisodeRow.patient_id.in_(ids))
        episodes = [mapping.episode_of(r) for r in s.execute(eq)]  # type: ignore[arg-type]
        sessions = defaultdict(list)
        for r in s.execute(sq):
            sessions[r.episode_id].append(mapping.session_of(r))  # type: ignore[arg-type]
        tests = defaultdict(list)
        for t in s.execute(tq):
            tests[t.episode_id].append(mapping.test_result_of(t))  # type: ignore[arg-type]
        by_patient = defaultdict(list)
        for ep in episodes:
            by_patient[ep.patient_id].append(
                EpisodeChart(ep, tuple(sessions[ep.id]), tuple(tests[ep.id])))
        return [PatientChart(p, tuple(by_patient[p.id])) for p in patients]

    # --- import lookups ----------------------------------------------------------------
    def patient_ids(self, mrns: Sequence[str]) -> dict[str, uuid.UUID]:
        """MRN -> id of the stored patients with these MRNs."""
        found: dict[str, uuid.UUID] = {}
        for chunk in chunks(mrns):
            q = select(PatientRow.mrn, PatientRow.id).where(PatientRow.mrn.in_(chunk))
            found.update((mrn, pid) for mrn, pid in self.s.execute(q))
        return found

    def patients(self, mrns: Sequence[str]) -> Iterator[tuple[str, uuid.UUID, date]]:
        """(MRN, id, date of birth) of the stored patients with these MRNs."""
        for chunk in chunks(mrns):
            q = select(PatientRow.mrn, PatientRow.id, PatientRow.date_of_birth).where(
                PatientRow.mrn.in_(chunk))
            yield from self.s.execute(q)

    def episodes(self, ids: Sequence[uuid.UUID]) -> Iterator[EpisodeFacts]:
        """The stored episodes with these ids (entered in error included)."""
        for chunk in chunks(ids):
            yield from self._episodes(EpisodeRow.id.in_(chunk))

    def valid_episodes_of(self, patient_ids: Sequence[uuid.UUID]) -> Iterator[EpisodeFacts]:
        """The stored episodes, not entered in error, of these patients."""
        for chunk in chunks(patient_ids):
            yield from self._episodes(EpisodeRow.patient_id.in_(chunk),
                                      EpisodeRow.entered_in_error.is_(False))

    def _episodes(self, *where: Any) -> Iterator[EpisodeFacts]:
        q = (select(EpisodeRow.id, EpisodeRow.patient_id, PatientRow.mrn, EpisodeRow.start_date)
             .join(PatientRow, EpisodeRow.patient_id == PatientRow.id).where(*where))
        yield from self.s.execute(q)

    def session_episodes(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Session id -> episode id of the stored sessions with these ids."""
        found: dict[uuid.UUID, uuid.UUID] = {}
        for chunk in chunks(ids):
            q = select(WalkSessionRow.id, WalkSessionRow.episode_id).where(
                WalkSessionRow.id.in_(chunk))
            found.update((sid, eid) for sid, eid in self.s.execute(q))
        return found

    def stored(self, kind: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[Any, ...]]:
        """Stored rows of ``kind`` with these ids: id -> values in ``COLUMNS[kind][1:]``."""
        table = _MODELS[kind].__table__
        cols: list[Any] = [table.c[k] for k in COLUMNS[kind]]
        if kind == "episode":  # an empty therapist is the creator: compared as a name
            at = COLUMNS[kind].index("treating_therapist")
            cols[at] = func.coalesce(table.c.treating_therapist, table.c.created_by)
        found: dict[uuid.UUID, tuple[Any, ...]] = {}
        conn = self.s.connection()  # Core rows, fetched at once: no ORM result per row
        for chunk in chunks(ids):
            for row in conn.execute(select(*cols).where(table.c.id.in_(chunk))).all():
                found[row[0]] = tuple(row[1:])
        return found

    def stored_signatures(self, kind: str, ids: Sequence[str]) -> dict[str, Any]:
        """The stored rows of ``kind`` among these ids (canonical UUID texts): id -> its
        stamps (as the texts a signature covers) and ``row_mac``, for
        :meth:`same_as_stored`. Nothing else is read."""
        return self._stamps_and_macs(_MODELS[kind].__table__, ids) if ids else {}

    def stored_signatures_soon(self, kind: str, ids: Sequence[str],
                               in_snapshot: bool = False) -> PendingSignatures:
        """:meth:`stored_signatures`, answered while the caller goes on working where that
        pays: on PostgreSQL, when this unit of work is a read-only snapshot
        (``in_snapshot``), the query runs on a second connection in the very same snapshot,
        on a thread, so the server's time overlaps the caller's. Elsewhere (SQLite, whose
        queries are this process's own work, or a writing transaction, whose own rows
        another connection cannot see) it is read when asked for."""
        if not ids:
            return PendingSignatures(lambda: {})
        table = _MODELS[kind].__table__
        if in_snapshot and not self._no_side \
                and self.s.connection().dialect.name == "postgresql":
            if self._side is None:
                self._side = _SnapshotReader.open(self.s)
                self._no_side = self._side is None
            if self._side is not None:
                return PendingSignatures(self._side.submit(
                    lambda cursor: _pg_stamps_and_macs(cursor, table.name, ids)))
        return PendingSignatures(lambda: self.stored_signatures(kind, ids))

    def close_side_reader(self) -> None:
        """End the second connection of :meth:`stored_signatures_soon`, if one was opened."""
        side, self._side = self._side, None
        if side is not None:
            side.close()

    def same_as_stored(self, kind: str, names: Sequence[str],
                       rows: Sequence[tuple[str, ...]],
                       stored: dict[str, Any] | None = None) -> list[bool]:
        """For each row, given as the texts its signature covers (``rowmac.canonical``'s
        normalised values of ``names``: every signed column of ``kind`` but the stamps,
        ``id`` among them), whether the row with that id is stored with exactly these values.

        Only each stored row's stamps and ``row_mac`` are read (no value is converted): the
        row's text is completed with the stored stamps and signed, and the two signatures
        compared. A row changed outside Backstep, or stored with other values, is "not the
        same" here; the caller then compares values the slow way. ``stored``: what
        :meth:`stored_signatures` gave for these ids (read here when not given).
        """
        table = _MODELS[kind].__table__
        layout = rowmac.LAYOUTS[table.name]
        missing = set(layout.names) - set(names) - set(_STAMPS)
        if missing or not rows:
            if missing:
                raise ValueError(f"{kind}: the signed columns {sorted(missing)} are not given")
            return [False] * len(rows)
        template, order = rowmac.canonical_template(table.name, layout.names, {})
        given = {name: i for i, name in enumerate(names)}
        width = len(names)
        pick = [given[name] if name in given else width + _STAMPS.index(name)
                for name in order]
        reorder = itemgetter(*pick)
        at = names.index("id")
        inner, outer = rowmac.hmac_states(self.s.info[rowmac.ROW_KEY])
        if stored is None:
            stored = self._stamps_and_macs(table, [row[at] for row in rows])
        out: list[bool] = []
        append = out.append
        for row in rows:
            found = stored.get(row[at])
            if found is None:
                append(False)
                continue
            i = inner.copy()
            i.update((template % reorder(row + found[0])).encode())
            o = outer.copy()
            o.update(i.digest())
            append(o.hexdigest() == found[1])
        return out

    def _stamps_and_macs(self, table: Any,
                         ids: Sequence[str]) -> dict[str, tuple[tuple[str, ...], str]]:
        """id text -> (stamps in ``_STAMPS`` order as the texts a signature covers, row_mac)."""
        conn = self.s.connection()
        raw: Any = conn.connection.dbapi_connection  # this transaction's connection
        cursor = raw.cursor()
        try:
            if conn.dialect.name != "sqlite":
                return _pg_stamps_and_macs(cursor, table.name, ids)
            found: dict[str, tuple[tuple[str, ...], str]] = {}
            texts: dict[tuple[Any, ...], tuple[str, ...]] = {}  # many rows share stamps
            columns = ", ".join(_STAMPS)
            for chunk in chunks(ids):  # ids stored as 32 hex digits
                hexes = {ref.replace("-", ""): ref for ref in chunk}
                cursor.execute(
                    f"SELECT id, {columns}, row_mac FROM {table.name} WHERE id IN "
                    f"({', '.join('?' * len(hexes))})", list(hexes))
                for r in cursor.fetchall():
                    stamps = r[1:-1]
                    text = texts.get(stamps)
                    if text is None:
                        text = texts[stamps] = _stamp_texts(stamps)
                    found[hexes[r[0]]] = (text, r[-1])
            return found
        finally:
            cursor.close()

    # --- import writes -----------------------------------------------------------------
    @contextmanager
    def bulk_writing(self) -> Iterator[None]:
        """Settings for a transaction that writes millions of rows and looks rows up by id
        as it goes, the previous ones restored after.

        SQLite: a large page cache. PostgreSQL: every statement planned for its own values
        (``plan_cache_mode``). psycopg prepares a statement run five times, and the server
        then keeps one generic plan; one made while a new clinic's tables were still empty
        scans the whole table, and was kept for every later lookup while this transaction
        filled it (a full import into an empty clinic stalled at about a second a lookup).
        """
        conn = self.s.connection()
        if conn.dialect.name != "sqlite":  # for the rest of this transaction
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
            yield
            return
        before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB:d}")
        try:
            yield
        finally:  # dirty pages stay in the cache until the commit writes them
            conn.exec_driver_sql(f"PRAGMA cache_size = {before:d}")

    def stamps(self) -> dict[str, Any]:
        """The stamp columns every row of one import shares (created now, by the actor)."""
        now = self.now()
        return {"created_at": now, "created_by": self.actor, "updated_at": now,
                "updated_by": self.actor, "version": 1}

    def insert(self, kind: str, rows: Sequence[tuple[Any, ...]],
               stamps: dict[str, Any]) -> None:
        """Store new rows of ``kind`` (tuples in ``COLUMNS[kind]`` order) with ``stamps``,
        each signed like any row Backstep writes (persistence/rowmac.py)."""
        if not rows:
            return
        table = _MODELS[kind].__table__
        keys = COLUMNS[kind]
        sign = self._signers.get((kind, id(stamps)))
        if sign is None:  # generated once per table and import (rowmac.row_signer)
            sign = rowmac.row_signer(self.s.info[rowmac.ROW_KEY], table.name, keys, stamps)
            self._signers[(kind, id(stamps))] = sign
        signed = [(*row, sign(row)) for row in rows]
        _insert_many(self.s.connection(), table, (*keys, "row_mac"), signed, stamps)
        # Derived data written beside the rows, in the same transaction.
        cohort_summary.after_bulk_insert(self.s.connection(), kind, keys, rows)


_ID_ARRAY = re.compile(r"\{[0-9a-f-]+(?:,[0-9a-f-]+)*\}")
"""An array literal of UUID texts only (anything else goes as a list, item by item)."""
_STAMPS = ("created_at", "created_by", "updated_at", "updated_by", "version")
_STAMP_NORMS = tuple(rowmac.LAYOUTS["walk_session"].normalisers[
    rowmac.LAYOUTS["walk_session"].names.index(name)] for name in _STAMPS)


def _stamp_texts(raw: tuple[Any, ...]) -> tuple[str, ...]:
    """Stamps as the driver returns them, normalised as a signature covers them."""
    return tuple("\x00" if v is None else norm(v)
                 for v, norm in zip(raw, _STAMP_NORMS, strict=True))


_PG_INSTANT = ("to_char({} AT TIME ZONE 'UTC', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')")
_PG_STAMP_TEXTS = ", ".join((_PG_INSTANT.format("created_at"), "created_by",
                             _PG_INSTANT.format("updated_at"), "updated_by", "version::text"))
"""The stamps as the server's texts, already as a signature covers them (``rowmac``: UTC
ISO with microseconds): converting two instants a row in Python cost more than the query."""


def _pg_stamps_and_macs(cursor: Any, table: str,
                        ids: Sequence[str]) -> dict[str, tuple[tuple[str, ...], str]]:
    """PostgreSQL's half of :meth:`BulkRepository._stamps_and_macs`, on ``cursor``."""
    # One array literal, not a list: psycopg dumps a list's items one by one in Python.
    literal = "{" + ",".join(ids) + "}"
    cursor.execute(
        f"SELECT id::text, {_PG_STAMP_TEXTS}, row_mac FROM {table} "
        "WHERE id = ANY(%s::uuid[])",
        (literal if _ID_ARRAY.fullmatch(literal) else list(ids),))
    found: dict[str, tuple[tuple[str, ...], str]] = {}
    for r in cursor.fetchall():
        stamps = r[1:-1]
        if None in stamps:  # never updated: NUL, as a signature covers a missing value
            stamps = tuple("\x00" if v is None else v for v in stamps)
        found[r[0]] = (stamps, r[-1])
    return found


class PendingSignatures:
    """The answer of :meth:`BulkRepository.stored_signatures_soon`."""

    def __init__(self, source: Future[dict[str, Any]] | Callable[[], dict[str, Any]]) -> None:
        self._source = source

    def running(self) -> bool:
        """Whether the answer is still being worked out elsewhere (the caller may go on)."""
        return isinstance(self._source, Future) and not self._source.done()

    def result(self) -> dict[str, Any]:
        """The answer, waited for (or read now)."""
        if isinstance(self._source, Future):
            return self._source.result()
        return self._source()


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(?:-[0-9]+)?")


def _second_connection(engine: Any) -> Any:
    """A pooled DB-API connection besides the one a unit of work holds."""
    return engine.raw_connection()


class _SnapshotReader:
    """A second PostgreSQL connection reading in the snapshot of ``session``'s REPEATABLE
    READ transaction (``pg_export_snapshot``), used by one worker thread, a query at a time:
    it sees exactly what the session sees, while the session's thread works on."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="import-signatures")

    @classmethod
    def open(cls, session: Session) -> _SnapshotReader | None:
        """A reader in ``session``'s snapshot, or None when the server gives no second
        connection (say, all its connections are taken): the caller then reads in turn,
        slower but the same. The snapshot is exported only once the connection is there,
        so a refusal leaves the session's transaction as it was."""
        conn = session.connection()
        try:
            raw: Any = _second_connection(conn.engine)
        except (DBAPIError, PoolTimeoutError):
            log.warning("import: no second database connection; reading stamps in turn")
            return None
        try:
            snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise RuntimeError("PostgreSQL gave a snapshot id of an unknown form")
            cursor = raw.cursor()
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            cursor.close()
        except BaseException:
            raw.close()
            raise
        return cls(raw)

    def submit(self, work: Callable[[Any], dict[str, Any]]) -> Future[dict[str, Any]]:
        def run() -> dict[str, Any]:
            cursor = self._raw.cursor()
            try:
                return work(cursor)
            finally:
                cursor.close()

        return self._worker.submit(run)

    def close(self) -> None:
        """Wait for a query still running, then end the transaction and the connection."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        try:
            self._raw.rollback()
        finally:
            self._raw.close()


def _insert_many(conn: Any, table: Any, keys: Sequence[str], rows: Sequence[tuple[Any, ...]],
                 same: dict[str, Any]) -> None:
    """``INSERT`` ``rows`` (tuples in ``keys`` order, plus the ``same`` values in every row).

    SQLite: one DB-API executemany of the SQL that ``insert(table)`` compiles to.
    PostgreSQL (psycopg): ``COPY ... FROM STDIN`` on the transaction's own connection, about
    three times faster than multi-row INSERTs for a large import. Both convert values with
    :func:`~clinic_app.persistence.binds.converted_rows`; Core's per-row parameter handling
    was about half the write time. Other drivers: Core's executemany.
    """
    dialect = conn.dialect
    if dialect.name == "sqlite":
        compiled = insert(table).compile(dialect=dialect, column_keys=[*keys, *same])
        order = list(compiled.positiontup or [*keys, *same])
        conn.exec_driver_sql(compiled.string,
                             converted_rows(dialect, table, order, keys, rows, same))
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        order = [*keys, *same]
        quote = dialect.identifier_preparer.quote
        sql = (f"COPY {dialect.identifier_preparer.format_table(table)} "
               f"({', '.join(quote(name) for name in order)}) FROM STDIN")
        raw = conn.connection.dbapi_connection  # the same transaction: rolled back with it
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in converted_rows(dialect, table, order, keys, rows, same):
                copy.write_row(row)
    else:
        conn.execute(insert(table), [{**same, **dict(zip(keys, row, strict=True))}
                                     for row in rows])
