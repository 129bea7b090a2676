"""The CSV export's cells made by the database, so that Python only moves them to the files.

The files' format belongs to ``interop/csv_io.py``; what the database needs of it (the
columns in order, which are free text guarded against spreadsheet formulas, each measure's
unit) comes in a :class:`CsvRules`. Every cell is the exact text ``csv_io._cell`` writes
for the value the column types would give Python, and the tests compare the files byte for
byte with the chart-based writer on both databases:

- PostgreSQL formats every cell and writes the CSV itself (``COPY (SELECT ...) TO STDOUT
  WITH (FORMAT csv)``): the server's shortest round-trip float text equals Python's
  ``repr`` below 1e15 once ``.0`` is added to integral values (:func:`_pg_float`;
  :func:`pg_cells_exact` checks no stored float is larger); empty text is sent as
  NULL because COPY quotes an empty string and the ``csv`` module does not; COPY ends rows
  with LF, which the writer turns into CRLF outside quoted cells.
- SQLite cannot print a float as ``repr`` does (it keeps 15 digits), so numbers reach Python
  as they are stored and the ``csv`` module prints them; every other cell is text made by
  SQLite, read on the session's DB-API connection without SQLAlchemy's row processing.
  :func:`sqlite_cells_exact` checks first that the stored instants and questionnaire items
  have the shapes these expressions assume (SQLAlchemy writes no other).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from clinic_app.domain.errors import NotFoundError
from clinic_app.persistence.export_rows import _id_text, _statements
from clinic_app.persistence.models import EpisodeRow, PatientRow, TestResultRow, WalkSessionRow
from clinic_app.persistence.types import UTCDateTime


@dataclass(frozen=True)
class CsvRules:
    """What the CSV format asks of each cell (given by ``interop.csv_io``)."""

    columns: Mapping[str, Sequence[str]]
    """File kind -> its columns in file order."""
    text_columns: frozenset[str]
    """Free-text columns: a value starting with one of ``formula_start`` gets a ``'``."""
    formula_start: tuple[str, ...]
    units: Mapping[str, str]
    """Measure id -> unit (the ``unit`` column; empty for an unknown measure)."""


@dataclass
class CsvPart:
    """One file's rows of one page: ``rows`` (values the ``csv`` module writes as they are:
    text, numbers, None) or ``lines`` (CSV text with LF row ends, from the database).
    ``count`` holds the number of rows once ``lines`` has been read to its end."""

    kind: str
    rows: Sequence[Sequence[Any]] | None = None
    lines: Iterator[bytes] | None = None
    count: int = 0


@dataclass
class CsvPage:
    """A page of patients: their ids (for the export's audit events), their episodes as
    ``(episode id text, MRN, start date)`` in file order (for the plan of care), and the
    page's part of each file, to be consumed in order."""

    patient_ids: list[uuid.UUID]
    episode_keys: Sequence[Sequence[Any]]
    parts: Callable[[], Iterator[CsvPart]] = field(repr=False)


# --- cells -------------------------------------------------------------------------------


def _text_col(col: Any) -> Any:
    return type_coerce(col, String)


def _bool_cell(col: Any, dialect: str) -> Any:
    # SQLite keeps 0/1 and SQLAlchemy reads any non-zero as true.
    true = col if dialect == "postgresql" else type_coerce(col, Integer) != 0
    return case((col.is_(None), None), (true, "true"), else_="false")


def _formula_guard(value: Any, rules: CsvRules, dialect: str) -> Any:
    first = func.substr(value, 1, 1)
    return case((first.in_(list(rules.formula_start)), literal("'", String) + value),
                else_=value)


PG_FLOAT_LIMIT = 1e15
"""Floats whose size is below this print alike: see :func:`_pg_float`."""


def _pg_float(col: Any) -> Any:
    """``repr(value)`` of a float8 whose size is below :data:`PG_FLOAT_LIMIT`.

    PostgreSQL prints the shortest text that reads back as the same double, as Python
    does; the two differ only when a shorter text lies exactly halfway between two doubles
    (Python takes it, PostgreSQL does not), which needs an integer above 2**53. Below
    1e15 both print fixed notation, except PostgreSQL leaves ``.0`` off integral values;
    both print tiny values as ``1e-07``. Larger values, NaN and infinities are left to
    Python (:func:`pg_cells_exact`).
    """
    t = cast(col, String)
    return case((col == func.trunc(col), t + ".0"), else_=t)


def _instant(col: Any, dialect: str) -> Any:
    """``value.astimezone(UTC).isoformat()`` of a stored instant."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", col)
        micro = func.to_char(utc, "US")
        return (func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
                + case((micro == "000000", ""), else_="." + micro) + "+00:00")
    # SQLAlchemy keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) on SQLite.
    raw = _text_col(col)
    micro = func.substr(raw, 21, 6)
    return (func.substr(raw, 1, 10) + "T" + func.substr(raw, 12, 8)
            + case((micro == "000000", ""), else_="." + micro) + "+00:00")


def _items(col: Any, dialect: str) -> Any:
    """Questionnaire items ``[1, null, 3]`` as ``1;;3``; none (or JSON null) as empty."""
    if dialect == "postgresql":
        elements = func.json_array_elements(col).table_valued(
            "value", with_ordinality="n").render_derived()
        item = case((func.json_typeof(elements.c.value) == "null", ""),
                    else_=cast(elements.c.value, String))
        joined = (select(func.string_agg(item, aggregate_order_by(literal(";"), elements.c.n)))
                  .select_from(elements).scalar_subquery())
        return case((col.is_(None), None), (func.json_typeof(col) != "array", None),
                    else_=joined)
    raw = _text_col(col)
    each = func.json_each(raw).table_valued("value", "type")
    joined = (select(func.group_concat(case((each.c.type == "null", ""),
                                            else_=each.c.value), ";"))
              .select_from(each).scalar_subquery())
    return case((raw.is_(None), ""), (raw == "null", ""), else_=func.coalesce(joined, ""))


def _unit(measure: Any, rules: CsvRules) -> Any:
    if not rules.units:
        return literal("", String)
    return case(*((measure == m, unit) for m, unit in rules.units.items()), else_="")


def _cells(rules: CsvRules, dialect: str) -> dict[str, list[Any]]:
    """Each file's cell expressions in the files' column order."""
    p, e, s, t = PatientRow, EpisodeRow, WalkSessionRow, TestResultRow
    pg = dialect == "postgresql"
    sources: dict[str, dict[str, Any]] = {
        "patients": {"patient_id": p.id, "mrn": p.mrn, "family_name": p.family_name,
                     "given_name": p.given_name, "date_of_birth": p.date_of_birth,
                     "sex": p.sex, "phone": p.phone, "email": p.email, "notes": p.notes,
                     "entered_in_error": p.entered_in_error, "error_reason": p.error_reason},
        "episodes": {"episode_id": e.id, "patient_id": e.patient_id, "mrn": p.mrn,
                     "diagnosis": e.diagnosis, "affected_side": e.affected_side,
                     "start_date": e.start_date, "surgery_date": e.surgery_date,
                     "end_date": e.end_date, "referring_doctor": e.referring_doctor,
                     "notes": e.notes, "entered_in_error": e.entered_in_error,
                     "error_reason": e.error_reason, "surgery_type": e.surgery_type,
                     "treating_therapist": func.coalesce(e.treating_therapist, e.created_by)},
        "sessions": {"session_id": s.id, "episode_id": s.episode_id, "mrn": p.mrn,
                     "episode_start": e.start_date,
                     **{c.key: c for c in s.__table__.c if c.key not in ("id",)}},
        "tests": {"test_id": t.id, "episode_id": t.episode_id, "session_id": t.session_id,
                  "mrn": p.mrn, "episode_start": e.start_date,
                  **{c.key: c for c in t.__table__.c if c.key not in ("id",)}},
    }
    out: dict[str, list[Any]] = {}
    for kind, names in rules.columns.items():
        cells = []
        for name in names:
            numeric = False
            if kind == "tests" and name == "unit":
                cell = _unit(t.measure_id, rules)
            elif kind == "tests" and name == "items":
                cell = _items(t.items, dialect)
            else:
                col = sources[kind][name]
                cell = _cell(col, name, rules, dialect)
                numeric = isinstance(getattr(col, "type", None), Float | Integer)
            if pg and not numeric:
                cell = func.nullif(cell, "")  # COPY would quote an empty string
            cells.append(type_coerce(cell, NullType()).label(name))
        out[kind] = cells
    return out


def _cell(col: Any, name: str, rules: CsvRules, dialect: str) -> Any:
    kind = getattr(col, "type", NullType())
    if name.endswith("_id") and name not in ("measure_id",):
        return _id_text(col, dialect)
    if isinstance(kind, Boolean):
        return _bool_cell(col, dialect)
    if isinstance(kind, UTCDateTime):
        return _instant(col, dialect)
    if isinstance(kind, Float):  # never empty text: no NULLIF needed on PostgreSQL
        return _pg_float(col) if dialect == "postgresql" else type_coerce(col, NullType())
    if isinstance(kind, Integer):
        return cast(col, String) if dialect == "postgresql" else type_coerce(col, NullType())
    if dialect == "postgresql" and not isinstance(kind, String):
        value = cast(col, String)  # dates: ISO with DateStyle ISO (set for the export)
    else:
        value = _text_col(col)
    if name in rules.text_columns:
        return _formula_guard(value, rules, dialect)
    return value


# --- pages -------------------------------------------------------------------------------


def sqlite_cells_exact(s: Session) -> bool:
    """Whether every stored instant and questionnaire-item list has the shape the SQLite
    cell expressions assume (what SQLAlchemy writes): else the export formats in Python."""
    w, t = WalkSessionRow, TestResultRow
    raw = _text_col(w.performed_at)
    odd_instant = exists().where(or_(
        func.length(raw) != 26,
        not_(raw.op("GLOB", return_type=Boolean)(
            "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:"
            "[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]"))))
    items = _text_col(t.items)
    each = func.json_each(items).table_valued("type")
    odd_items = exists().where(
        items.is_not(None), items != "null",
        or_(func.json_valid(items) == 0, func.json_type(items) != "array",
            exists(select(each.c.type).select_from(each)
                   .where(each.c.type.not_in(["integer", "null"])))))
    conn = s.connection()
    return not conn.execute(select(odd_instant)).scalar() and not conn.execute(
        select(odd_items)).scalar()


def pg_cells_exact(s: Session) -> bool:
    """Whether every stored float is one :func:`_pg_float` prints as Python does (NaN
    and infinities count as too large here, as PostgreSQL orders them)."""
    w, t = WalkSessionRow, TestResultRow
    floats = [c for c in w.__table__.c if isinstance(c.type, Float)]
    large = [exists().where(or_(*(func.abs(c) >= PG_FLOAT_LIMIT for c in floats))),
             exists().where(func.abs(t.value) >= PG_FLOAT_LIMIT)]
    conn = s.connection()
    return not any(conn.execute(select(q)).scalar() for q in large)


def csv_pages(s: Session, rules: CsvRules, mrn: str | None, size: int) -> Iterator[CsvPage]:
    """The CSV export of every patient (or the one ``mrn``, which must exist), ``size``
    patients by MRN at a time, in the order the chart-based writer writes them. Run inside
    one snapshot; consume each page's parts before asking for the next page."""
    conn = s.connection()
    dialect = str(conn.dialect.name)
    if dialect == "postgresql":
        conn.exec_driver_sql("SET LOCAL DateStyle = 'ISO, YMD'")
        conn.exec_driver_sql("SET LOCAL extra_float_digits = 1")  # shortest round trip
        conn.exec_driver_sql("SET LOCAL client_encoding = 'UTF8'")
    cells = _cells(rules, dialect)
    p, e = PatientRow, EpisodeRow
    if mrn is not None:
        mrn = mrn.strip().upper()
        if conn.execute(select(p.id).where(p.mrn == mrn)).first() is None:
            raise NotFoundError(f"No patient with MRN {mrn!r}: nothing was exported.")
    key_cols = (_id_text(e.id, dialect), p.mrn,
                type_coerce(e.start_date, String) if dialect == "sqlite" else e.start_date)

    def page(ids: list[uuid.UUID] | None) -> CsvPage:
        plain = _statements(ids, mrn if ids is None else None, dialect)
        if ids is not None:
            # The patients again by id: without it PostgreSQL reads the whole patient
            # table for every page to join the page's episodes.
            plain = {kind: q if kind == "patients" else q.where(p.id.in_(ids))
                     for kind, q in plain.items()}
        queries = {kind: plain[kind].with_only_columns(*cells[kind], maintain_column_froms=True)
                   for kind in rules.columns}
        keys = conn.execute(plain["episodes"].with_only_columns(
            *key_cols, maintain_column_froms=True)).all()
        patient_ids = ids if ids is not None else [
            row[0] for row in conn.execute(
                plain["patients"].with_only_columns(p.id, maintain_column_froms=True))]
        return CsvPage(list(patient_ids), keys,
                       lambda: _parts(conn, queries, dialect))

    if mrn is not None:
        yield page(None)
        return
    after: str | None = None
    while True:
        q = select(p.id, p.mrn).order_by(p.mrn).limit(size)
        if after is not None:
            q = q.where(p.mrn > after)
        found = conn.execute(q).all()
        if not found:
            return
        after = found[-1][1]
        yield page([row[0] for row in found])


def _parts(conn: Any, queries: dict[str, Any], dialect: str) -> Iterator[CsvPart]:
    raw: Any = conn.connection.dbapi_connection  # the snapshot's own transaction
    # The page's ids are written into the statements (COPY takes no parameters), by a
    # dialect that leaves '%' single: the drivers send a statement without parameters
    # as it is. On SQLite the DB-API rows go to the csv module as they are, which saves
    # building a Core row for each of two million.
    literal = psycopg_dialect(paramstyle="named") if dialect == "postgresql" else conn.dialect
    for kind, q in queries.items():
        sql = str(q.compile(dialect=literal, compile_kwargs={"literal_binds": True}))
        if dialect != "postgresql":
            rows = raw.execute(sql).fetchall()
            yield CsvPart(kind, rows=rows, count=len(rows))
            continue
        part = CsvPart(kind)
        part.lines = _copy_lines(raw, f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", part)
        yield part


def _copy_lines(raw: Any, sql: str, part: CsvPart) -> Iterator[bytes]:
    with raw.cursor() as cursor:
        with cursor.copy(sql) as copy:
            for chunk in copy:
                yield bytes(chunk)
        part.count = max(cursor.rowcount, 0)
