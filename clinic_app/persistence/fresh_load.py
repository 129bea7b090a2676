"""Loading a whole new clinic into an empty, migrated database as fast as the database takes
it: what builds the synthetic benchmark clinics (``bench/synthetic.py``).

This is not the CSV import (``bulk.py``), which adds rows to a clinic in use. A fresh load
owns the database for its whole run, so it can do what would be unsafe next to other users:

- everything is **one transaction**: an error rolls the database back to empty (SQLite keeps
  its rollback journal in memory, which costs little because almost every page is new);
- the secondary indexes of the loaded tables are dropped first and rebuilt once at the end
  from their own definitions (a sort per index instead of a random insert per row);
- SQLite writes without syncing (``synchronous=OFF``) and with a large page cache, and
  sorts index builds on two threads; the file is back in WAL mode afterwards;
- PostgreSQL empties the tables in the transaction so that ``COPY ... (FREEZE)`` may write
  rows already frozen and visible to index-only scans, takes each block as one ``COPY``,
  checks the foreign keys of the loaded tables once at the end (``ADD CONSTRAINT``
  validates them in one join each) instead of per row, and analyses the tables.

The derived weekly cohort summary (``cohort_week``) is complete when the load commits, in
one of two ways. A caller that knows the summary rows of what it writes (the generator makes
every result and knows each episode's dates) hands them over like the other tables'
(``FreshLoad(url, summary=True)``): the summary's secondary indexes are then dropped and
rebuilt with the others, and nothing reads the loaded results again. Otherwise the summary is
filled last, still in the transaction, from the loaded rows by
``cohort_summary.fill_statements`` (one set-based insert, its indexes built after).

Blocks are written by one worker thread while the caller prepares the next one (SQLite's
and the network's waits release the GIL). The caller supplies values already in the form
the database stores (see ``bench/synthetic.py``, tested against the import's writer).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from clinic_app.domain.errors import DomainError
from clinic_app.persistence import cohort_summary
from clinic_app.persistence.engine import make_engine, sqlite_path
from clinic_app.persistence.models import Base

LOADED = ("patient", "episode", "walk_session", "test_result")
"""The tables a fresh load writes."""
SUMMARY = "cohort_week"
"""The derived table a caller may write too (``summary=True``)."""
EMPTIED = (*LOADED, "care_goal", "care_prescription", "session_safety", "cohort_week")
"""The tables that must be empty (PostgreSQL empties them again, as ``FREEZE`` requires)."""
SQLITE_CACHE_KIB = 512 * 1024
PG_MAINTENANCE_MEMORY = "512MB"
PENDING = 2  # blocks queued for the writer at most: bounded memory, the writer never idles


class NotEmptyError(DomainError):
    """The target database already holds clinical rows."""


def copy_text(value: Any) -> str:
    """``value`` as one field of PostgreSQL's ``COPY`` text format (``\\N`` for None)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) \
        else str(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


class FreshLoad:
    """One fresh load of ``url``: ``put`` blocks of rows, then leave the ``with`` block.

    SQLite takes a block as a list of tuples; PostgreSQL as ``COPY`` text (lines of
    tab-separated fields, see :func:`copy_text`). ``timings`` says how long the writes and
    the rebuild took.
    """

    def __init__(self, url: str, *, summary: bool = False) -> None:
        self.url = url
        # The caller puts the summary's rows itself (they must be what
        # cohort_summary.rebuild would store); otherwise they are computed at the end.
        self.summary = summary
        self.loaded = (*LOADED, SUMMARY) if summary else LOADED
        self.path = sqlite_path(url)
        self.dialect = "sqlite" if self.path is not None else "postgresql"
        self.timings: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fresh-load")
        self._pending: list[Future[None]] = []
        self._conn: Any = None
        self._engine: Any = None
        self._raw: Any = None
        self._rebuild: list[tuple[str, str]] = []  # (table, SQL) to run at the end
        self._summary: list[str] = []  # filling the derived cohort summary, at the end
        self._statements: dict[tuple[Any, ...], str] = {}
        self._defaults: list[str] = []  # PostgreSQL: the loading defaults to drop again
        self._started = 0.0

    # --- the caller's side --------------------------------------------------------------
    def __enter__(self) -> FreshLoad:
        self._started = time.perf_counter()
        try:
            self._run(self._begin_sqlite if self.dialect == "sqlite" else self._begin_pg)
        except BaseException:
            self._run(self._close)
            self._pool.shutdown()
            raise
        return self

    def put(self, table: str, columns: Sequence[str], block: list[tuple[Any, ...]] | str,
            same: Mapping[str, Any] | None = None) -> None:
        """Queue one block of new ``table`` rows with values for ``columns`` (waits while
        the writer is :data:`PENDING` blocks behind).

        ``same``: stored values of further columns, the same in every row of every block of
        this table (SQLite: DB-API values, PostgreSQL: their text), sent once instead of per
        row (SQLite: literals in the INSERT; PostgreSQL: the columns' defaults while loading).
        """
        statement = (table, tuple(columns), tuple((same or {}).items()))
        write = self._write_sqlite if self.dialect == "sqlite" else self._write_pg
        while len(self._pending) >= PENDING:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(write, statement, block))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            error: BaseException | None = None
            for job in self._pending:  # every queued block has finished before anything else
                try:
                    job.result()
                except BaseException as failure:  # noqa: BLE001 - raised below
                    error = error or failure
            self._pending.clear()
            self.timings["write_s"] = time.perf_counter() - self._started
            if kind is not None or error is not None:
                self._run(self._rollback)
                if kind is None and error is not None:
                    raise error
                return
            try:
                self._run(self._finish)
            except BaseException:
                self._run(self._rollback)
                raise
            self.timings["total_s"] = time.perf_counter() - self._started
        finally:
            self._run(self._close)
            self._pool.shutdown()

    def _run(self, fn: Callable[[], None]) -> None:
        self._pool.submit(fn).result()

    def _statement(self, table: str, columns: Sequence[str],
                   same: Sequence[tuple[str, Any]]) -> str:
        """The INSERT (SQLite) or COPY (PostgreSQL) of one kind of block, made once."""
        key = (table, tuple(columns), tuple(same))
        sql = self._statements.get(key)
        if sql is not None:
            return sql
        if table not in self.loaded:
            raise ValueError(f"a fresh load writes {', '.join(self.loaded)}, not {table!r}")
        known = (cohort_summary.cohort_week if table == SUMMARY
                 else Base.metadata.tables[table]).c
        for name in [*columns, *(name for name, _value in same)]:
            if name not in known:  # names become SQL text: only the table's own columns
                raise ValueError(f"{table} has no column {name!r}")
        names = ", ".join(f'"{name}"' for name in [*columns, *(n for n, _v in same)])
        if self.dialect == "sqlite":
            values = ["?"] * len(columns) + [self._sqlite_literal(v) for _n, v in same]
            sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join(values)})'
        else:
            from psycopg import sql as pgsql

            cur = self._conn.cursor()
            for name, value in same:
                cur.execute(pgsql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                    pgsql.Identifier(table), pgsql.Identifier(name), pgsql.Literal(value)))
                self._defaults.append(f'ALTER TABLE "{table}" ALTER COLUMN "{name}" DROP DEFAULT')
            listed = ", ".join(f'"{name}"' for name in columns)
            sql = f'COPY "{table}" ({listed}) FROM STDIN WITH (FREEZE true)'
        self._statements[key] = sql
        return sql

    def _sqlite_literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool | int):
            return str(int(value))
        if isinstance(value, float):
            text = repr(value)
            # SQLite parses the literal itself: use it only if it reads back exactly.
            if self._conn.execute(f"SELECT {text}").fetchone()[0] != value:
                raise ValueError(f"{text} does not read back exactly in SQLite")
            return text
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        raise TypeError(f"no SQLite literal for {type(value).__name__}")

    # --- on the writer thread -------------------------------------------------------------
    def _refuse_rows(self, count: Callable[[str], int]) -> None:
        for table in EMPTIED:
            rows = count(table)
            if rows:
                raise NotEmptyError(
                    f"The database already holds {rows:,} rows in {table}: a synthetic "
                    "clinic is only built into an empty database.")

    def _begin_sqlite(self) -> None:
        import sqlite3

        from sqlalchemy.dialects import sqlite

        conn = sqlite3.connect(str(self.path), isolation_level=None)
        self._conn = conn
        conn.execute("PRAGMA journal_mode = MEMORY")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB:d}")
        conn.execute("PRAGMA foreign_keys = ON")  # each row's parent: a lookup on a hot page
        conn.execute("PRAGMA threads = 2")  # helper threads for the index builds' sorts
        conn.execute("BEGIN IMMEDIATE")
        if not self.summary:
            self._summary = cohort_summary.fill_sql(sqlite.dialect())
        self._refuse_rows(lambda t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
        marks = ", ".join("?" * len(self.loaded))
        for name, table, sql in conn.execute(
                f"SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql "
                f"IS NOT NULL AND tbl_name IN ({marks}) ORDER BY name", self.loaded).fetchall():
            self._rebuild.append((table, sql))
            conn.execute(f'DROP INDEX "{name}"')

    def _begin_pg(self) -> None:
        self._engine = make_engine(self.url)
        self._raw = self._engine.raw_connection()
        conn = self._raw.dbapi_connection
        self._conn = conn
        if not self.summary:
            self._summary = cohort_summary.fill_sql(self._engine.dialect)
        cur = conn.cursor()
        cur.execute(f"SET maintenance_work_mem = '{PG_MAINTENANCE_MEMORY}'")
        cur.execute("SET synchronous_commit = off")

        def count(table: str) -> int:
            cur.execute(f'SELECT count(*) FROM "{table}"')
            return int(cur.fetchone()[0])

        self._refuse_rows(count)
        cur.execute(f"TRUNCATE {', '.join(EMPTIED)}")  # so that COPY may FREEZE
        cur.execute(
            "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.contype = 'f' "
            "AND c.conrelid::regclass::text = ANY(%s) ORDER BY c.conname", (list(self.loaded),))
        foreign = cur.fetchall()
        cur.execute(
            "SELECT i.indexname, i.tablename, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) "
            "ORDER BY i.indexname", (list(self.loaded),))
        indexes = cur.fetchall()
        for name, table, _definition in foreign:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, table, definition in indexes:
            cur.execute(f'DROP INDEX "{name}"')
            self._rebuild.append((table, definition))
        self._rebuild += [(table, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                          for name, table, definition in foreign]

    def _write_sqlite(self, statement: tuple[str, tuple[str, ...], tuple[tuple[str, Any], ...]],
                      rows: list[tuple[Any, ...]] | str) -> None:
        self._conn.executemany(self._statement(*statement), rows)

    def _write_pg(self, statement: tuple[str, tuple[str, ...], tuple[tuple[str, Any], ...]],
                  text: list[tuple[Any, ...]] | str) -> None:
        sql = self._statement(*statement)
        with self._conn.cursor() as cur, cur.copy(sql) as copy:
            copy.write(text)

    def _finish(self) -> None:
        started = time.perf_counter()
        conn = self._conn
        if self.dialect == "sqlite":
            self._rebuild_indexes(conn.execute)
            summary = time.perf_counter()
            for sql in self._summary:  # from the loaded rows, with their indexes built
                conn.execute(sql)
            self.timings["summary_s"] += time.perf_counter() - summary
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
        else:
            cur = conn.cursor()
            for sql in self._defaults:
                cur.execute(sql)
            self._rebuild_indexes(cur.execute)
            summary = time.perf_counter()
            for sql in self._summary:  # from the loaded rows, with their indexes built
                cur.execute(sql)
            self.timings["summary_s"] += time.perf_counter() - summary
            conn.commit()
            conn.autocommit = True
            for table in (*LOADED, "cohort_week"):  # the planner's statistics, as
                # autovacuum would gather them
                cur.execute(f'ANALYZE "{table}"')
            conn.autocommit = False
        self.timings["commit_s"] = (time.perf_counter() - started - self.timings["rebuild_s"]
                                    - self.timings["summary_s"])

    def _rebuild_indexes(self, execute: Callable[[str], Any]) -> None:
        """Build the dropped indexes and constraints again; the summary's time is counted
        with the summary's (``summary_s``), the records' as ``rebuild_s``."""
        self.timings["rebuild_s"] = self.timings["summary_s"] = 0.0
        for table, sql in self._rebuild:
            started = time.perf_counter()
            execute(sql)
            part = "summary_s" if table == SUMMARY else "rebuild_s"
            self.timings[part] += time.perf_counter() - started

    def _rollback(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            if self.dialect == "sqlite":
                self._conn.execute("ROLLBACK")
            else:
                self._conn.rollback()

    def _close(self) -> None:
        with contextlib.suppress(Exception):
            if self.dialect == "sqlite":
                if self._conn is not None:
                    self._conn.close()
            else:
                if self._raw is not None:
                    self._raw.close()
                if self._engine is not None:
                    self._engine.dispose()
        self._conn = None
