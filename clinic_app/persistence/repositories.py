"""Repositories: the only place that builds queries. They return frozen dataclasses."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.orm import Session

from clinic_app.domain.errors import ConflictError, EnteredInErrorError, NotFoundError
from clinic_app.domain.records import (
    Account,
    ClinicInfo,
    Episode,
    EpisodeDraft,
    Patient,
    PatientDraft,
    PatientPage,
    Role,
    TestResult,
    TestResultDraft,
    User,
    WalkSession,
    WalkSessionDraft,
)
from clinic_app.persistence import mapping, rowmac
from clinic_app.persistence.binds import bind_processor, result_processor
from clinic_app.persistence.models import (
    ClinicRow,
    ClinicSettingRow,
    EpisodeRow,
    PatientRow,
    TestResultRow,
    Tracked,
    UserRow,
    WalkSessionRow,
)

R = TypeVar("R", bound=Tracked)
# Highest code point: key >= "abc" AND key < "abc" + TOP is a prefix match that uses the index.
TOP = "\U0010ffff"


class _Repo:
    def __init__(self, session: Session, actor: str, now: Callable[[], datetime]) -> None:
        self.s = session
        self.actor = actor
        self.now = now

    def _stamp_new(self, row: Tracked) -> None:
        t = self.now()
        row.id = uuid.uuid4()
        row.created_at = row.updated_at = t
        row.created_by = row.updated_by = self.actor
        row.version = 1
        row.entered_in_error = False

    def _load(self, model: type[R], id_: uuid.UUID, what: str) -> R:
        row = self.s.get(model, id_)
        if row is None:
            raise NotFoundError(f"{what} {id_} does not exist")
        return row

    def _load_for_update(
        self, model: type[R], id_: uuid.UUID, expected_version: int, what: str,
        to_record: Callable[[R], Any],
    ) -> R:
        # FOR UPDATE holds the row on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises.
        row = self.s.get(model, id_, with_for_update=True, populate_existing=True)
        if row is None:
            raise NotFoundError(f"{what} {id_} does not exist")
        if row.entered_in_error:  # read-only for good, whatever version the caller saw
            raise EnteredInErrorError(what, row.updated_by, row.updated_at, row.error_reason,
                                      to_record(row))
        if row.version != expected_version:
            raise ConflictError(what, expected_version, to_record(row))
        row.updated_at = self.now()
        row.updated_by = self.actor
        return row

    def _mark_error(
        self, model: type[R], id_: uuid.UUID, expected_version: int, reason: str, what: str,
        to_record: Callable[[R], Any],
    ) -> R:
        row = self._load_for_update(model, id_, expected_version, what, to_record)
        row.entered_in_error = True
        row.error_reason = reason
        return row


_DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$"), (3, 2, 1)),
)


def parse_search_date(token: str) -> date | None:
    """A date typed in the search box: 1961-04-23 or 23.04.1961 / 23/04/1961 (day first)."""
    for pattern, (y, m, d) in _DATE_PATTERNS:
        match = pattern.match(token)
        if match:
            try:
                return date(int(match.group(y)), int(match.group(m)), int(match.group(d)))
            except ValueError:
                return None
    return None


# --- patient search: Core statements built once per query shape -------------------------
# The search box runs on every keystroke (debounced). Building the expression, ORM-loading
# full PatientRow objects and their identity map cost several times the SQL itself, so the
# list reads the columns with one Core SELECT per *shape* of query (which words are dates),
# cached, with the typed words as bound parameters, and maps rows straight to dataclasses.

_PATIENT = PatientRow.__table__
_PATIENT_COLS = [_PATIENT.c[name] for name in mapping.PATIENT_COLUMNS]
_SEARCH_CACHE: dict[tuple[tuple[bool, ...], bool, bool], Select[Any]] = {}


def _search_words(text: str) -> tuple[tuple[bool, ...], dict[str, Any]]:
    """(is-a-date flag per word, bound values) for the words typed in the search box."""
    shape: list[bool] = []
    params: dict[str, Any] = {}
    for i, raw in enumerate(text.replace(",", " ").split()):
        when = parse_search_date(raw)
        shape.append(when is not None)
        if when is not None:
            params[f"d{i}"] = when
            continue
        key = mapping.search_key(raw)
        mrn = raw.upper()
        params.update({f"k{i}": key, f"kt{i}": key + TOP, f"m{i}": mrn, f"mt{i}": mrn + TOP})
    return tuple(shape), params


def _prefix_range(c: Any, column: str, word: int) -> ColumnElement[bool]:
    """Word ``word``'s prefix range on ``column`` of ``c``: ``family_key`` / ``given_key``
    between ``k{word}`` and ``kt{word}``, ``mrn`` between ``m{word}`` and ``mt{word}``."""
    low = "m" if column == "mrn" else "k"
    kind = _PATIENT.c[column].type
    return and_(c[column] >= bindparam(f"{low}{word}", type_=kind),
                c[column] < bindparam(f"{low}t{word}", type_=kind))


def _search_conditions(shape: tuple[bool, ...], include_in_error: bool, cols: Any = None,
                       branch: tuple[int, str | None] | None = None, names: bool = True,
                       ) -> list[ColumnElement[bool]]:
    """The search's WHERE terms on ``cols`` (the patient table's columns by default).

    ``branch`` ``(i, name)`` keeps only one of word ``i``'s three matches: the prefix of the
    ``family_key``, ``given_key`` or ``mrn`` column; none of them when ``name`` is ``None``
    (the caller's bounds imply the word's match). Without ``names``, no name word is tested
    (entered in error and birth dates only)."""
    c = _PATIENT.c if cols is None else cols
    conds: list[ColumnElement[bool]] = []
    if not include_in_error:
        conds.append(c.entered_in_error.is_(False))
    for i, is_date in enumerate(shape):
        if is_date:
            conds.append(c.date_of_birth == bindparam(f"d{i}", type_=_PATIENT.c.date_of_birth.type))
            continue
        if not names:
            continue
        ranges = {column: _prefix_range(c, column, i)
                  for column in ("family_key", "given_key", "mrn")}
        if branch is not None and branch[0] == i:
            if branch[1] is not None:
                conds.append(ranges[branch[1]])
        else:
            conds.append(or_(*ranges.values()))
    return conds


# The list's order, which is also its paging key: (family key, given key, id) is unique and
# leads ix_patient_family_key, so "the next page" is one index range scan from the last row
# shown, whatever its depth (OFFSET would read every row before it). The index goes on with
# the other columns a search matches (MRN, in error, birth date), so a walk of the list that
# tests each patient against the typed words reads the index alone.
_PAGE_KEY_COLS = [_PATIENT.c.family_key, _PATIENT.c.given_key, _PATIENT.c.id]
_PAGE_CACHE: dict[tuple[tuple[bool, ...], bool, bool], Select[Any]] = {}


def _page_statement(shape: tuple[bool, ...], include_in_error: bool, after: bool) -> Select[Any]:
    """The list's keyset page: matches ordered by the paging key, from just after the bound
    key ``(af, ag, aid)`` when ``after``, ``limit`` rows, with the key columns appended."""
    cache_key = (shape, include_in_error, after)
    stmt = _PAGE_CACHE.get(cache_key)
    if stmt is not None:
        return stmt
    c = _PATIENT.c
    conds = _search_conditions(shape, include_in_error)
    if after:
        conds.append(tuple_(*_PAGE_KEY_COLS) > tuple_(
            bindparam("af", type_=c.family_key.type), bindparam("ag", type_=c.given_key.type),
            bindparam("aid", type_=c.id.type)))
    built: Select[Any] = (select(*_PATIENT_COLS, c.family_key, c.given_key).where(*conds)
                          .order_by(*_PAGE_KEY_COLS)
                          .limit(bindparam("limit", type_=Integer())))
    if len(_PAGE_CACHE) < 256:
        _PAGE_CACHE[cache_key] = built
    return built


def _capped_count_statement(shape: tuple[bool, ...], include_in_error: bool) -> Select[Any]:
    """COUNT of the matches, reading at most ``cap`` of them (bound): a first letter at a
    million patients would otherwise count a hundred thousand index entries per keystroke."""
    inner = (select(_PATIENT.c.id).where(*_search_conditions(shape, include_in_error))
             .limit(bindparam("cap", type_=Integer())).subquery())
    return select(func.count()).select_from(inner)


def _capped_union_statement(shape: tuple[bool, ...], include_in_error: bool,
                            word: int) -> Select[Any]:
    """The capped count as the UNION of word ``word``'s three prefix ranges, each with the
    other words as filters.

    For PostgreSQL and two or more words: its plan for the OR of three ranges fetches every
    row of the first word's range from the table to test the other words (a common family
    name at a million patients: 100-300 ms). Per range, the family-key index holds every
    column the other words test, so that branch is read from the index alone (20-40 ms)."""
    c = _PATIENT.c
    branches = [select(c.id).where(*_search_conditions(shape, include_in_error,
                                                       branch=(word, column)))
                for column in ("family_key", "given_key", "mrn")]
    matches = union(*branches).subquery()
    inner = (select(matches.c.id).limit(bindparam("cap", type_=Integer())).subquery())
    return select(func.count()).select_from(inner)


def _capped_disjoint_statement(shape: tuple[bool, ...], include_in_error: bool,
                               word: int) -> Select[Any]:
    """The capped count as word ``word``'s three prefix ranges one after the other, each
    without the matches of the ranges before it (so no patient counts twice and nothing
    needs collecting to remove duplicates), with the other words as filters.

    Each range is read in its own index and the count stops at the cap wherever it is
    reached; as one OR, PostgreSQL gathers a bitmap of every match and fetches their table
    rows (a common family prefix at a million patients: 50 ms, against 7-10 ms from
    ``ix_patient_family_key`` alone, which holds every column the words test)."""
    c = _PATIENT.c
    columns = ("family_key", "given_key", "mrn")
    branches = []
    for n, column in enumerate(columns):
        conds = _search_conditions(shape, include_in_error, branch=(word, column))
        conds += [~_prefix_range(c, before, word) for before in columns[:n]]
        branches.append(select(c.id).where(*conds))
    matches = union_all(*branches).subquery()
    inner = select(matches.c.id).limit(bindparam("cap", type_=Integer())).subquery()
    return select(func.count()).select_from(inner)


def _search_statement(shape: tuple[bool, ...], include_in_error: bool, count: bool) -> Select[Any]:
    """The patient list's SELECT (or COUNT) for words of this shape, with bound values.

    Each word matches a prefix of the family or given name's search key or of the MRN
    (``key >= word AND key < word + TOP``, which uses the index), or the birth date."""
    cache_key = (shape, include_in_error, count)
    stmt = _SEARCH_CACHE.get(cache_key)
    if stmt is not None:
        return stmt
    c = _PATIENT.c
    conds = _search_conditions(shape, include_in_error)
    if count:
        stmt = select(func.count()).select_from(_PATIENT).where(*conds)
    else:
        stmt = (select(*_PATIENT_COLS).where(*conds)
                .order_by(c.family_key, c.given_key, c.id)
                .offset(bindparam("offset", type_=Integer()))
                .limit(bindparam("limit", type_=Integer())))
    if len(_SEARCH_CACHE) < 256:  # shapes are few (words x date-or-not); stay bounded
        _SEARCH_CACHE[cache_key] = stmt
    return stmt


def _after_key(cols: Any) -> ColumnElement[bool]:
    c = _PATIENT.c
    return tuple_(cols.family_key, cols.given_key, cols.id) > tuple_(
        bindparam("af", type_=c.family_key.type), bindparam("ag", type_=c.given_key.type),
        bindparam("aid", type_=c.id.type))


def _walk_statement(shape: tuple[bool, ...], include_in_error: bool, after: bool) -> Select[Any]:
    """The matches among the next ``window`` patients in list order (from just after the
    bound key when ``after``). The walk reads only ``ix_patient_family_key``, which also
    holds every column a search word is matched on, so rows are read for matches alone."""
    c = _PATIENT.c
    inner = select(*_PAGE_KEY_COLS, c.mrn, c.entered_in_error, c.date_of_birth)
    if after:
        inner = inner.where(_after_key(c))
    w = inner.order_by(*_PAGE_KEY_COLS).limit(bindparam("window", type_=Integer())).subquery("w")
    hits = (select(w.c.id).where(*_search_conditions(shape, include_in_error, w.c))
            .order_by(w.c.family_key, w.c.given_key, w.c.id)
            .limit(bindparam("limit", type_=Integer())))
    return (select(*_PATIENT_COLS, c.family_key, c.given_key).where(c.id.in_(hits))
            .order_by(*_PAGE_KEY_COLS))


def _window_end_statement(after: bool) -> Select[Any]:
    """The key of the ``wend``-th patient (counted from 0) after the bound key: where a walk
    of ``wend`` + 1 patients stopped (a bounded read of the order index, never the list's
    depth)."""
    c = _PATIENT.c
    stmt = select(*_PAGE_KEY_COLS)
    if after:
        stmt = stmt.where(_after_key(c))
    return (stmt.order_by(*_PAGE_KEY_COLS).limit(1)
            .offset(bindparam("wend", type_=Integer())))


def _branch_statement(shape: tuple[bool, ...], include_in_error: bool,
                      branch: tuple[int, str], limit: int) -> Select[Any]:
    """The first ``limit`` matches after the bound key through one column's prefix index:
    for words too rare for a walk of the list to find a page of them.

    The LIMIT is written into the SQL: PostgreSQL re-plans a statement with a generic plan
    after a few runs, and with an unknown LIMIT it would rather collect and sort all of a
    common family name's rows than read its first ``limit`` in index order."""
    c = _PATIENT.c
    # The ids first, then their rows: every term is answered by an index, so PostgreSQL
    # reads the family range in order from the index alone instead of fetching each row of
    # a common name to sort them (it costs random heap reads as if the rows were needed).
    hits = (select(c.id)
            .where(*_search_conditions(shape, include_in_error, branch=branch), _after_key(c))
            .order_by(*_PAGE_KEY_COLS)
            .limit(literal_column(str(int(limit)), Integer())))
    return (select(*_PATIENT_COLS, c.family_key, c.given_key).where(c.id.in_(hits))
            .order_by(*_PAGE_KEY_COLS))


def _next_given_statement(first: bool) -> Select[Any]:
    """The smallest given-name key in the word's range (``first``) or after ``gv``."""
    c = _PATIENT.c
    low = (c.given_key >= bindparam("gv", type_=c.given_key.type)) if first else \
        (c.given_key > bindparam("gv", type_=c.given_key.type))
    return select(func.min(c.given_key)).where(
        low, c.given_key < bindparam("gt", type_=c.given_key.type))


def _run_bounds(ceiling: bool) -> list[ColumnElement[bool]]:
    """One given name's run, ``gv``, from just after ``(rf, rid)`` in its (family key, id)
    order, up to just before ``(uf, uid)`` when ``ceiling`` (or to the run's end).

    Written as bounds on ``ix_patient_given_key``'s whole (given key, family key, id)
    rather than the given key's equality beside a (family key, id) bound: PostgreSQL then
    starts the scan at the bound instead of at the run's start, and has no bound to use on
    ``ix_patient_family_key``, whose order would otherwise tempt it to read the family
    range there (a whole letter's, testing each entry's given name)."""
    c = _PATIENT.c
    run = (c.given_key, c.family_key, c.id)
    gv = bindparam("gv", type_=c.given_key.type)
    conds = [tuple_(*run) > tuple_(gv, bindparam("rf", type_=c.family_key.type),
                                   bindparam("rid", type_=c.id.type))]
    if ceiling:
        conds.append(tuple_(*run) < tuple_(gv, bindparam("uf", type_=c.family_key.type),
                                           bindparam("uid", type_=c.id.type)))
    else:
        conds.append(c.given_key <= gv)
    return conds


def _run_statement(conds: list[ColumnElement[bool]], limit: int) -> Select[Any]:
    """The rows of the first ``limit`` patients of a given name's run matching ``conds``."""
    c = _PATIENT.c
    hits = (select(c.id).where(*conds)
            .order_by(c.given_key, c.family_key, c.id)
            .limit(literal_column(str(int(limit)), Integer())))
    return (select(*_PATIENT_COLS, c.family_key, c.given_key).where(c.id.in_(hits))
            .order_by(*_PAGE_KEY_COLS))


def _given_run_statement(shape: tuple[bool, ...], include_in_error: bool, word: int,
                         limit: int, ceiling: bool = False) -> Select[Any]:
    """The first ``limit`` matches in one given name's run (:func:`_run_bounds`): a range
    of ``ix_patient_given_key`` (given key, family key, id), already in list order, each
    patient tested against the words other than ``word`` (whose prefix the given name is;
    its range beside the bounds would again make PostgreSQL start at the range's start)."""
    return _run_statement(
        [*_search_conditions(shape, include_in_error, branch=(word, None)),
         *_run_bounds(ceiling)], limit)


def _given_family_run_statement(shape: tuple[bool, ...], include_in_error: bool,
                                limit: int) -> Select[Any]:
    """The first ``limit`` patients of one given name's run between ``(rf, rid)`` and
    ``(uf, uid)`` (:func:`_run_bounds`), with only the birth dates and entered in error
    tested.

    For a run whose name words :meth:`PatientList._given_matches` has settled itself: each
    word the given name does not start with, and that no MRN starts with, can only match
    the family name, so the bounds lie within that family prefix."""
    return _run_statement(
        [*_search_conditions(shape, include_in_error, names=False), *_run_bounds(True)], limit)


def _mrn_probe_statement() -> Select[Any]:
    """Whether any patient's MRN starts with ``m`` (one probe of the MRN's unique index)."""
    c = _PATIENT.c
    return (select(c.mrn).where(c.mrn >= bindparam("m", type_=c.mrn.type),
                                c.mrn < bindparam("mt", type_=c.mrn.type))
            .limit(literal_column("1", Integer())))


class PatientRepository(_Repo):
    def get(self, id_: uuid.UUID) -> Patient:
        return mapping.patient_of(self._load(PatientRow, id_, "Patient"))

    def by_mrn(self, mrn: str) -> Patient | None:
        row = self.s.scalar(select(PatientRow).where(PatientRow.mrn == mrn))
        return mapping.patient_of(row) if row else None

    def mrn_taken(self, mrn: str, except_id: uuid.UUID | None = None) -> bool:
        q = select(PatientRow.id).where(PatientRow.mrn == mrn)
        if except_id is not None:
            q = q.where(PatientRow.id != except_id)
        return self.s.scalar(q) is not None

    def add(self, draft: PatientDraft) -> Patient:
        row = PatientRow()
        self._stamp_new(row)
        mapping.apply_patient(row, draft)
        self.s.add(row)
        self.s.flush()
        return mapping.patient_of(row)

    def update(self, id_: uuid.UUID, expected_version: int, draft: PatientDraft) -> Patient:
        row = self._load_for_update(PatientRow, id_, expected_version, "Patient",
                                    mapping.patient_of)
        mapping.apply_patient(row, draft)
        self.s.flush()
        return mapping.patient_of(row)

    def mark_entered_in_error(self, id_: uuid.UUID, version: int, reason: str) -> Patient:
        row = self._mark_error(PatientRow, id_, version, reason, "Patient", mapping.patient_of)
        self.s.flush()
        return mapping.patient_of(row)

    def search(
        self, text: str = "", offset: int = 0, limit: int = 200, include_in_error: bool = False
    ) -> list[Patient]:
        """Patients matching every word of ``text`` (name prefix, MRN prefix or birth date).

        The statement of :class:`PatientList`, read with Core on the unit of work's
        connection (no ORM objects), for use cases that search inside a transaction.
        """
        shape, params = _search_words(text)
        params["offset"], params["limit"] = offset, limit
        stmt = _search_statement(shape, include_in_error, count=False)
        rows = self.s.connection().execute(stmt, params)
        return [mapping.patient_of_values(r) for r in rows]

    def count(self, text: str = "", include_in_error: bool = False) -> int:
        shape, params = _search_words(text)
        stmt = _search_statement(shape, include_in_error, count=True)
        return int(self.s.connection().execute(stmt, params).scalar() or 0)


class _Prepared:
    """One search statement compiled for one dialect, with its value converters."""

    def __init__(self, stmt: Select[Any], dialect: Any, columns: list[Any] | None) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = list(compiled.positiontup or [])
        binds = dict(compiled.binds)
        self.binds = {name: bind_processor(b.type, dialect) for name, b in binds.items()}
        # Values the statement fixes itself (SQLite renders a LIMIT alone as LIMIT ? OFFSET ?).
        self.fixed = {name: b.value for name, b in binds.items() if b.value is not None}
        self.results = None if columns is None else [
            result_processor(c.type, dialect) for c in columns]

    def params(self, values: dict[str, Any]) -> Any:
        def converted(name: str) -> Any:
            proc = self.binds[name]
            value = values[name] if name in values else self.fixed[name]
            return value if proc is None else proc(value)

        if self.positional:
            return [converted(name) for name in self.positional]
        return {name: converted(name) for name in self.binds}


# A match found by one of a page's statements: (paging key, that statement, its raw row).
_Candidate = tuple[tuple[str, str, uuid.UUID], _Prepared, Any]


class PatientList:
    """The patient list's queries, run on a bare DB-API connection.

    The search box queries on every keystroke. Through SQLAlchemy's Connection a search that
    finds nothing costs ~60 µs for a ~7 µs SELECT; here each statement (the very same Core
    SELECT as :meth:`PatientRepository.search`) is compiled once per query shape for this
    database's dialect, and parameters and column values go through each column type's own
    bind and result processors (public ``TypeEngine`` API), so results are identical (tested).

    The list pages by key (:meth:`page`): each page starts just after the last row of the
    previous one, so a page deep in a million patients costs what the first one does.
    """

    windows: tuple[int, ...] = (5_000, 50_000)
    """Patients walked in list order before a page turns to the prefix indexes: the first
    window, then, while matches were found but not a page, one sized by how often they
    occurred (1.5 times what should fill the page) if that is within the next bound."""

    def __init__(self, dialect: Any) -> None:
        self._dialect = dialect
        self._prepared: dict[tuple[str, tuple[bool, ...], bool], _Prepared] = {}

    def _statement(self, kind: str, shape: tuple[bool, ...], include_in_error: bool) -> _Prepared:
        key = (kind, shape, include_in_error)
        prepared = self._prepared.get(key)
        if prepared is None:
            if kind == "capped":
                prepared = _Prepared(_capped_count_statement(shape, include_in_error),
                                     self._dialect, None)
            elif kind.startswith("capped_disjoint:"):
                prepared = _Prepared(
                    _capped_disjoint_statement(shape, include_in_error,
                                               int(kind.split(":")[1])),
                    self._dialect, None)
            elif kind.startswith("capped_union:"):
                prepared = _Prepared(
                    _capped_union_statement(shape, include_in_error, int(kind.split(":")[1])),
                    self._dialect, None)
            elif kind in ("walk", "walk_after"):
                prepared = _Prepared(_walk_statement(shape, include_in_error, kind != "walk"),
                                     self._dialect, _PATIENT_COLS + _PAGE_KEY_COLS[:2])
            elif kind in ("end", "end_after"):
                prepared = _Prepared(_window_end_statement(kind != "end"), self._dialect,
                                     _PAGE_KEY_COLS)
            elif kind.startswith("branch:"):
                _, word, column, limit = kind.split(":")
                prepared = _Prepared(
                    _branch_statement(shape, include_in_error, (int(word), column), int(limit)),
                    self._dialect, _PATIENT_COLS + _PAGE_KEY_COLS[:2])
            elif kind in ("given_first", "given_next"):
                prepared = _Prepared(_next_given_statement(kind == "given_first"),
                                     self._dialect, [_PATIENT.c.given_key])
            elif kind.startswith("given_family_run:"):
                prepared = _Prepared(
                    _given_family_run_statement(shape, include_in_error,
                                                int(kind.split(":")[1])),
                    self._dialect, _PATIENT_COLS + _PAGE_KEY_COLS[:2])
            elif kind == "mrn_probe":
                prepared = _Prepared(_mrn_probe_statement(), self._dialect, None)
            elif kind.startswith("given_run:"):
                _, word, limit, ceiling = kind.split(":")
                prepared = _Prepared(
                    _given_run_statement(shape, include_in_error, int(word), int(limit),
                                         ceiling == "ceiling"),
                    self._dialect, _PATIENT_COLS + _PAGE_KEY_COLS[:2])
            elif kind in ("first", "after"):
                stmt = _page_statement(shape, include_in_error, after=kind == "after")
                prepared = _Prepared(stmt, self._dialect, _PATIENT_COLS + _PAGE_KEY_COLS[:2])
            else:
                count = kind == "count"
                stmt = _search_statement(shape, include_in_error, count)
                prepared = _Prepared(stmt, self._dialect, None if count else _PATIENT_COLS)
            if len(self._prepared) < 256:
                self._prepared[key] = prepared
        return prepared

    @staticmethod
    def _kind(count: bool, cap: int | None, after: tuple[str, str, uuid.UUID] | None,
              offset: int | None) -> str:
        if count:
            return "count" if cap is None else "capped"
        if offset is not None:
            return "offset"
        return "first" if after is None else "after"

    def statement(self, text: str = "", offset: int | None = None, limit: int = 200,
                  include_in_error: bool = False, count: bool = False,
                  after: tuple[str, str, uuid.UUID] | None = None,
                  cap: int | None = None) -> tuple[str, Any]:
        """The SQL text and DB-API parameters that the list runs for ``text``: the keyset
        :meth:`page` (after the key ``after``), the OFFSET :meth:`search` when ``offset`` is
        given, or with ``count`` the (``cap``-limited) count. What query-plan checks and
        benches look at."""
        if count:
            prepared, values = self._count_statement(text, cap, include_in_error)
            return prepared.sql, prepared.params(values)
        shape, values = _search_words(text)
        kind = self._kind(count, cap, after, offset)
        values.update(self._page_values(kind, offset, limit, after, cap))
        prepared = self._statement(kind, shape, include_in_error)
        return prepared.sql, prepared.params(values)

    @staticmethod
    def _page_values(kind: str, offset: int | None, limit: int,
                     after: tuple[str, str, uuid.UUID] | None, cap: int | None) -> dict[str, Any]:
        if kind == "offset":
            return {"offset": offset, "limit": limit}
        if kind == "capped":
            return {"cap": cap}
        if kind == "first":
            return {"limit": limit}
        if kind == "after":
            assert after is not None
            return {"limit": limit, "af": after[0], "ag": after[1], "aid": after[2]}
        return {}

    def _patients(self, prepared: _Prepared, rows: list[Any]) -> list[Patient]:
        procs = prepared.results
        assert procs is not None
        width = len(_PATIENT_COLS)
        if not any(procs):
            return [mapping.patient_of_values(row[:width]) for row in rows]
        return [mapping.patient_of_values([v if p is None else p(v) for p, v in
                                           zip(procs[:width], row[:width], strict=True)])
                for row in rows]

    def search(self, dbapi_conn: Any, text: str = "", offset: int = 0, limit: int = 200,
               include_in_error: bool = False) -> list[Patient]:
        """As :meth:`PatientRepository.search`, on a DB-API connection."""
        shape, values = _search_words(text)
        values["offset"], values["limit"] = offset, limit
        prepared = self._statement("offset", shape, include_in_error)
        return self._patients(prepared, _fetch(dbapi_conn, prepared, values))

    def page(self, dbapi_conn: Any, text: str = "", after: tuple[str, str, uuid.UUID] | None = None,
             limit: int = 200, include_in_error: bool = False) -> PatientPage:
        """``limit`` patients matching ``text`` in list order, starting just after the paging
        key ``after`` (``None``: from the top), and the key the next page starts after
        (``None`` when this page is the last).

        No single plan suits both a first letter (a tenth of a million patients match:
        walking the list in order finds a page at once, while collecting and sorting every
        match takes half a second) and a rare name (a walk would read the whole list, while
        its prefix index holds a handful). So the page first walks the next patients in list
        order, reading the order index alone (:attr:`windows`: a longer window only where
        the matches found say it will fill the page); if that did not fill it, the rest
        comes from each of the first word's prefix indexes (family name, given name, MRN)
        after the walk's end, merged in list order. Matches there are sparse by then (fewer
        than ``limit`` in tens of thousands), so their sorts stay small.
        """
        shape, values = _search_words(text)
        if not shape or all(shape):  # empty box, or dates only (the birth date index)
            return self._plain_page(dbapi_conn, shape, values, after, limit, include_in_error)
        walked: list[tuple[tuple[str, str, uuid.UUID], Patient]] = []
        start = after
        window = self.windows[0]
        for longest in self.windows[1:] + (0,):
            kind = "walk_after" if start is not None else "walk"
            step = dict(values, window=window)
            step.update(self._page_values("after" if start else "first", None,
                                          limit - len(walked), start, None))
            prepared = self._statement(kind, shape, include_in_error)
            walked += self._keyed(prepared, _fetch(dbapi_conn, prepared, step))
            if len(walked) == limit:
                return self._page_of(walked, limit)
            end_kind = "end_after" if start is not None else "end"
            ends = _fetch(dbapi_conn, self._statement(end_kind, (), False),
                          dict(step, wend=window - 1))
            if not ends:  # the list ended inside the window: every match is in ``walked``
                return self._page_of(walked, limit)
            end_procs = self._statement(end_kind, (), False).results
            assert end_procs is not None
            first, second, last = (v if p is None else p(v)
                                   for p, v in zip(end_procs, ends[0], strict=True))
            start = (first, second, last)
            # Walk on only where the matches seen so far say a page lies within the next
            # window; rarer words (none, or a few here and there) go to the indexes.
            if not walked:
                break
            window = (limit - len(walked)) * window // len(walked) * 3 // 2
            if window > longest:
                break
        end = start
        assert end is not None
        need = limit - len(walked)
        word = shape.index(False)
        branch_values = dict(values, af=end[0], ag=end[1], aid=end[2])
        found: dict[uuid.UUID, _Candidate] = {}
        # Family-name matches are one range of the order index: start it at the word rather
        # than at the walk's end (PostgreSQL does not tell which of a row comparison and a
        # column bound is tighter, and would read from the end to the word's place).
        family_start = max(end, (values[f"k{word}"], "", uuid.UUID(int=0)))
        runs = self._given_runs(dbapi_conn, values[f"k{word}"], values[f"kt{word}"])
        for column in ("family_key", "given_key", "mrn"):
            if column == "given_key" and runs is not None:
                self._given_matches(dbapi_conn, shape, values, word, runs, end, limit,
                                    include_in_error, found, need)
                continue
            # The page's size, not what is left of it: one statement per page size.
            prepared = self._statement(f"branch:{word}:{column}:{limit}", shape,
                                       include_in_error)
            lower = family_start if column == "family_key" else end
            bound = dict(branch_values, af=lower[0], ag=lower[1], aid=lower[2])
            self._collect(found, prepared, _fetch(dbapi_conn, prepared, bound))
        rest = sorted(found.values(), key=lambda kp: kp[0])[:need]
        return self._page_of(walked + [(key, self._patient(prepared, row))
                                       for key, prepared, row in rest], limit)

    max_given_runs = 20
    """Distinct given names a prefix may cover and still be read run by run."""

    def _given_runs(self, dbapi_conn: Any, key: str, top: str) -> list[str] | None:
        """The distinct given-name keys starting with ``key`` (each one index probe), or
        ``None`` when there are more than :attr:`max_given_runs`."""
        runs: list[str] = []
        kind = "given_first"
        value = key
        while len(runs) <= self.max_given_runs:
            prepared = self._statement(kind, (), False)
            row = _fetch(dbapi_conn, prepared, {"gv": value, "gt": top})[0]
            proc = prepared.results[0] if prepared.results else None
            found = row[0] if proc is None or row[0] is None else proc(row[0])
            if found is None:
                return runs
            runs.append(found)
            kind, value = "given_next", found
        return None

    def _given_matches(self, dbapi_conn: Any, shape: tuple[bool, ...],
                       values: dict[str, Any], word: int, runs: list[str],
                       end: tuple[str, str, uuid.UUID], limit: int, include_in_error: bool,
                       found: dict[uuid.UUID, _Candidate], need: int) -> None:
        """Given-name matches after ``end``, read per given name in list order, added to
        ``found``. Within one given name the list order is (family key, id), so the bound on
        it is ``end``'s family key with an id below or above every id, or ``end``'s own,
        depending on how the given name compares with ``end``'s. Once ``found`` holds
        ``need`` candidates, a run is read only up to the last of them in the same way:
        whatever lies beyond would not be on the page.

        The other name words are settled per given name here rather than tested row by row:
        a word the given name starts with is matched; any other must match the family name
        or the MRN. Where no MRN starts with those words, the run is read only over the
        family keys they all start with (an index range; none: the run holds no match).
        Otherwise the database tests each of the run's patients, fetching its MRN from the
        table (two one-letter words at a million patients: tens of thousands a run)."""
        others = [i for i, is_date in enumerate(shape) if not is_date and i != word]
        no_mrn: dict[int, bool] = {}
        for given in runs:
            lower = (end[0], _run_id(given, end))
            upper = None
            if len(found) >= need:
                top = sorted(kp[0] for kp in found.values())[need - 1]
                upper = (top[0], _run_id(given, top))
            pending = [i for i in others if not values[f"k{i}"] <= given < values[f"kt{i}"]]
            if not pending or not all(self._no_mrn_starts(dbapi_conn, values, i, no_mrn)
                                      for i in pending):
                ceiling = "open" if upper is None else "ceiling"
                prepared = self._statement(f"given_run:{word}:{limit}:{ceiling}", shape,
                                           include_in_error)
            else:
                # The family keys inside every pending word's prefix range, as bounds on
                # (family key, id); the tighter of each pair is the index range's end.
                low = (max(values[f"k{i}"] for i in pending), uuid.UUID(int=0))
                high = (min(values[f"kt{i}"] for i in pending), uuid.UUID(int=0))
                lower, upper = max(lower, low), high if upper is None else min(upper, high)
                if lower >= upper:
                    continue
                prepared = self._statement(f"given_family_run:{limit}", shape,
                                           include_in_error)
            bound = dict(values, gv=given, rf=lower[0], rid=lower[1])
            if upper is not None:
                bound.update(uf=upper[0], uid=upper[1])
            self._collect(found, prepared, _fetch(dbapi_conn, prepared, bound))

    def _no_mrn_starts(self, dbapi_conn: Any, values: dict[str, Any], word: int,
                       known: dict[int, bool]) -> bool:
        """Whether no patient's MRN starts with word ``word`` (probed once per page)."""
        if word not in known:
            prepared = self._statement("mrn_probe", (), False)
            known[word] = not _fetch(dbapi_conn, prepared,
                                     {"m": values[f"m{word}"], "mt": values[f"mt{word}"]})
        return known[word]

    def _plain_page(self, dbapi_conn: Any, shape: tuple[bool, ...], values: dict[str, Any],
                    after: tuple[str, str, uuid.UUID] | None, limit: int,
                    include_in_error: bool) -> PatientPage:
        kind = "first" if after is None else "after"
        values.update(self._page_values(kind, None, limit, after, None))
        prepared = self._statement(kind, shape, include_in_error)
        return self._page_of(self._keyed(prepared, _fetch(dbapi_conn, prepared, values)),
                             limit)

    def _keyed(self, prepared: _Prepared,
               rows: list[Any]) -> list[tuple[tuple[str, str, uuid.UUID], Patient]]:
        """(paging key, patient) per row of a statement whose last two columns are the
        stored name keys (the key is what the index holds, not one recomputed from names)."""
        procs = prepared.results
        assert procs is not None
        out = []
        for row in rows:
            values = [v if p is None else p(v) for p, v in zip(procs, row, strict=True)]
            patient = mapping.patient_of_values(values[:-2])
            out.append(((values[-2], values[-1], patient.id), patient))
        return out

    @staticmethod
    def _collect(found: dict[uuid.UUID, _Candidate], prepared: _Prepared,
                 rows: list[Any]) -> None:
        """Adds the rows of a statement as :meth:`_keyed` reads them, by id, keeping each
        row as read: only the rows that make the page are turned into patients."""
        procs = prepared.results
        assert procs is not None
        pid, pf, pg = procs[0], procs[-2], procs[-1]
        for row in rows:
            id_ = row[0] if pid is None else pid(row[0])
            key = (row[-2] if pf is None else pf(row[-2]),
                   row[-1] if pg is None else pg(row[-1]), id_)
            found[id_] = (key, prepared, row)

    @staticmethod
    def _patient(prepared: _Prepared, row: Any) -> Patient:
        """The patient of one row kept by :meth:`_collect`."""
        procs = prepared.results
        assert procs is not None
        return mapping.patient_of_values([v if p is None else p(v) for p, v in
                                          zip(procs[:-2], row[:-2], strict=True)])

    @staticmethod
    def _page_of(keyed: list[tuple[tuple[str, str, uuid.UUID], Patient]],
                 limit: int) -> PatientPage:
        patients = tuple(p for _, p in keyed)
        if len(keyed) < limit or not keyed:
            return PatientPage(patients, None)
        return PatientPage(patients, keyed[-1][0])

    def count(self, dbapi_conn: Any, text: str = "", include_in_error: bool = False,
              cap: int | None = None) -> int:
        """As :meth:`PatientRepository.count`, on a DB-API connection; with ``cap``, reads at
        most ``cap`` matches, so the result is ``min(matches, cap)``."""
        prepared, values = self._count_statement(text, cap, include_in_error)
        return int(_fetch(dbapi_conn, prepared, values)[0][0] or 0)

    def count_within(self, dbapi_conn: Any, text: str, cap: int, budget_s: float,
                     include_in_error: bool = False) -> int | None:
        """:meth:`count` with ``cap``, stopped by the database once it has run ``budget_s``
        seconds: ``None`` then, and nothing counted is claimed.

        A count stops early only where matches are dense. Words that are all common but
        rarely found together (two single letters at a million patients) leave the database
        a whole letter's index range to test, row by row, for a handful of matches; no
        statement over these indexes bounds that, so the time is bounded instead and the
        list says the count is still coming. ``dbapi_conn`` must not be in use by a
        transaction the caller needs afterwards (PostgreSQL's is rolled back on a stop)."""
        prepared, values = self._count_statement(text, cap, include_in_error)
        if self._dialect.name == "postgresql":
            rows = _fetch_within_pg(dbapi_conn, prepared, values, budget_s)
        else:
            rows = _fetch_within_sqlite(dbapi_conn, prepared, values, budget_s)
        return None if rows is None else int(rows[0][0] or 0)

    def _count_statement(self, text: str, cap: int | None,
                         include_in_error: bool) -> tuple[_Prepared, dict[str, Any]]:
        """The count statement for ``text`` and its bound values."""
        shape, values = _search_words(text)
        kind = "count" if cap is None else "capped"
        values.update(self._page_values(kind, None, 0, None, cap))
        words = [i for i, is_date in enumerate(shape) if not is_date]
        if kind == "capped" and self._dialect.name == "postgresql" and shape == (False,):
            # One word: its ranges one after the other (a family prefix at a million
            # patients: 3-4 ms against 15-30 ms as one OR; SQLite's OR is as fast already).
            kind = "capped_disjoint:0"
        elif kind == "capped" and self._dialect.name == "postgresql" and len(shape) > 1 \
                and words:
            # Through the longest word's ranges; one-letter words all round match so many
            # rows that collecting their union costs more than the plain count (measured).
            word = max(words, key=lambda i: len(values[f"k{i}"]))
            if len(values[f"k{word}"]) > 1:
                kind = f"capped_union:{word}"
        return self._statement(kind, shape, include_in_error), values


def _run_id(given: str, key: tuple[str, str, uuid.UUID]) -> uuid.UUID:
    """The id that, with ``key``'s family key, stands for ``key`` inside the run of one
    given name (ordered by family key and id): below every id when the given name sorts
    after ``key``'s, above every id when before, ``key``'s own when it is the same."""
    if given > key[1]:
        return uuid.UUID(int=0)
    if given < key[1]:
        return uuid.UUID(int=(1 << 128) - 1)
    return key[2]


def _fetch(dbapi_conn: Any, prepared: _Prepared, values: dict[str, Any]) -> list[Any]:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(prepared.sql, prepared.params(values))
        return list(cursor.fetchall())
    finally:
        cursor.close()


_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by its timeout


def _fetch_within_pg(dbapi_conn: Any, prepared: _Prepared, values: dict[str, Any],
                     budget_s: float) -> list[Any] | None:
    """:func:`_fetch` under a ``statement_timeout`` local to the connection's transaction
    (the server stops the statement itself); ``None`` when it ran out."""
    cursor = dbapi_conn.cursor()
    try:
        # At least 1 ms: a timeout of 0 would mean none at all.
        cursor.execute(f"SET LOCAL statement_timeout = {max(1, round(budget_s * 1000))}")
        cursor.execute(prepared.sql, prepared.params(values))
        return list(cursor.fetchall())
    except Exception as exc:
        if getattr(getattr(exc, "orig", exc), "sqlstate", None) != _QUERY_CANCELED:
            raise
        dbapi_conn.rollback()  # the transaction is aborted; the setting goes with it
        return None
    finally:
        cursor.close()


def _fetch_within_sqlite(dbapi_conn: Any, prepared: _Prepared, values: dict[str, Any],
                         budget_s: float) -> list[Any] | None:
    """:func:`_fetch` interrupted from SQLite's progress handler once ``budget_s`` has
    passed; ``None`` when it ran out. The handler runs every thousand virtual-machine
    steps: a count reading pages from a busy disk overran its budget twofold at 5,000."""
    driver = getattr(dbapi_conn, "driver_connection", dbapi_conn)
    deadline = time.perf_counter() + budget_s
    stopped = False

    def over() -> int:
        nonlocal stopped
        stopped = time.perf_counter() > deadline
        return int(stopped)

    driver.set_progress_handler(over, 1_000)
    try:
        return _fetch(dbapi_conn, prepared, values)
    except Exception:
        if stopped:  # "interrupted": the handler's doing, not an error
            return None
        raise
    finally:
        driver.set_progress_handler(None, 0)


class EpisodeRepository(_Repo):
    def get(self, id_: uuid.UUID) -> Episode:
        return mapping.episode_of(self._load(EpisodeRow, id_, "Episode of care"))

    def for_patient(self, patient_id: uuid.UUID, include_in_error: bool = True) -> list[Episode]:
        q = select(EpisodeRow).where(EpisodeRow.patient_id == patient_id)
        if not include_in_error:
            q = q.where(EpisodeRow.entered_in_error.is_(False))
        q = q.order_by(EpisodeRow.start_date.desc(), EpisodeRow.created_at.desc())
        return [mapping.episode_of(r) for r in self.s.scalars(q)]

    def add(self, patient_id: uuid.UUID, draft: EpisodeDraft) -> Episode:
        row = EpisodeRow(patient_id=patient_id)
        self._stamp_new(row)
        mapping.apply_episode(row, draft)
        self.s.add(row)
        self.s.flush()
        return mapping.episode_of(row)

    def update(self, id_: uuid.UUID, expected_version: int, draft: EpisodeDraft) -> Episode:
        row = self._load_for_update(EpisodeRow, id_, expected_version, "Episode of care",
                                    mapping.episode_of)
        mapping.apply_episode(row, draft)
        self.s.flush()
        return mapping.episode_of(row)

    def mark_entered_in_error(self, id_: uuid.UUID, version: int, reason: str) -> Episode:
        row = self._mark_error(EpisodeRow, id_, version, reason, "Episode of care",
                               mapping.episode_of)
        self.s.flush()
        return mapping.episode_of(row)


class SessionRepository(_Repo):
    def get(self, id_: uuid.UUID) -> WalkSession:
        return mapping.session_of(self._load(WalkSessionRow, id_, "Session"))

    def for_episode(
        self, episode_id: uuid.UUID, include_in_error: bool = True
    ) -> list[WalkSession]:
        q = select(WalkSessionRow).where(WalkSessionRow.episode_id == episode_id)
        if not include_in_error:
            q = q.where(WalkSessionRow.entered_in_error.is_(False))
        q = q.order_by(WalkSessionRow.performed_at, WalkSessionRow.created_at)
        return [mapping.session_of(r) for r in self.s.scalars(q)]

    def latest(self, episode_id: uuid.UUID) -> WalkSession | None:
        q = (
            select(WalkSessionRow)
            .where(WalkSessionRow.episode_id == episode_id,
                   WalkSessionRow.entered_in_error.is_(False))
            .order_by(WalkSessionRow.performed_at.desc())
            .limit(1)
        )
        row = self.s.scalar(q)
        return mapping.session_of(row) if row else None

    def add(self, episode_id: uuid.UUID, draft: WalkSessionDraft) -> WalkSession:
        row = WalkSessionRow(episode_id=episode_id)
        self._stamp_new(row)
        mapping.apply_session(row, draft)
        self.s.add(row)
        self.s.flush()
        return mapping.session_of(row)

    def update(
        self, id_: uuid.UUID, expected_version: int, draft: WalkSessionDraft
    ) -> WalkSession:
        row = self._load_for_update(WalkSessionRow, id_, expected_version, "Session",
                                    mapping.session_of)
        mapping.apply_session(row, draft)
        self.s.flush()
        return mapping.session_of(row)

    def mark_entered_in_error(self, id_: uuid.UUID, version: int, reason: str) -> WalkSession:
        row = self._mark_error(WalkSessionRow, id_, version, reason, "Session",
                               mapping.session_of)
        self.s.flush()
        return mapping.session_of(row)


class TestResultRepository(_Repo):
    __test__ = False  # not a pytest test class

    def get(self, id_: uuid.UUID) -> TestResult:
        return mapping.test_result_of(self._load(TestResultRow, id_, "Test result"))

    def for_episode(
        self, episode_id: uuid.UUID, measure_id: str | None = None, include_in_error: bool = True
    ) -> list[TestResult]:
        q = select(TestResultRow).where(TestResultRow.episode_id == episode_id)
        if measure_id is not None:
            q = q.where(TestResultRow.measure_id == measure_id)
        if not include_in_error:
            q = q.where(TestResultRow.entered_in_error.is_(False))
        q = q.order_by(TestResultRow.performed_on, TestResultRow.created_at)
        return [mapping.test_result_of(r) for r in self.s.scalars(q)]

    def for_session(self, session_id: uuid.UUID) -> list[TestResult]:
        q = (
            select(TestResultRow)
            .where(TestResultRow.session_id == session_id)
            .order_by(TestResultRow.measure_id, TestResultRow.side)
        )
        return [mapping.test_result_of(r) for r in self.s.scalars(q)]

    def add(self, episode_id: uuid.UUID, draft: TestResultDraft, value: float) -> TestResult:
        row = TestResultRow(episode_id=episode_id)
        self._stamp_new(row)
        mapping.apply_test_result(row, draft, value)
        self.s.add(row)
        self.s.flush()
        return mapping.test_result_of(row)

    def update(
        self, id_: uuid.UUID, expected_version: int, draft: TestResultDraft, value: float
    ) -> TestResult:
        row = self._load_for_update(TestResultRow, id_, expected_version, "Test result",
                                    mapping.test_result_of)
        mapping.apply_test_result(row, draft, value)
        self.s.flush()
        return mapping.test_result_of(row)

    def mark_entered_in_error(self, id_: uuid.UUID, version: int, reason: str) -> TestResult:
        row = self._mark_error(TestResultRow, id_, version, reason, "Test result",
                               mapping.test_result_of)
        self.s.flush()
        return mapping.test_result_of(row)


class ClinicRepository(_Repo):
    def get(self) -> ClinicInfo:
        row = self.s.get(ClinicRow, 1)
        if row is None:
            return ClinicInfo()
        return ClinicInfo(row.name, row.address, row.phone, row.logo_png, row.version)

    def save(self, info: ClinicInfo) -> ClinicInfo:
        row = self.s.get(ClinicRow, 1, with_for_update=True, populate_existing=True)
        if row is None:
            row = ClinicRow(id=1)
            self.s.add(row)
        elif row.version != info.version:
            current = ClinicInfo(row.name, row.address, row.phone, row.logo_png, row.version)
            raise ConflictError("Clinic letterhead", info.version, current)
        row.name, row.address, row.phone, row.logo_png = (
            info.name, info.address, info.phone, info.logo_png
        )
        self.s.flush()
        return ClinicInfo(row.name, row.address, row.phone, row.logo_png, row.version)


class ClinicSettingRepository(_Repo):
    """Clinic-wide key/value settings; ``None`` for a key never set (the default applies)."""

    def get(self, key: str) -> tuple[str, int] | None:
        """The stored value and its version, or ``None``."""
        row = self.s.get(ClinicSettingRow, key)
        return None if row is None else (row.value, row.version)

    def put(self, key: str, value: str, expected_version: int) -> tuple[str, int]:
        """Store ``value``; ``expected_version`` is the version read (0 when never set).

        A setting changed by another workstation since it was read raises ConflictError.
        """
        row = self.s.get(ClinicSettingRow, key, with_for_update=True, populate_existing=True)
        current = 0 if row is None else row.version
        if current != expected_version:
            raise ConflictError(f"Setting {key}", expected_version,
                                None if row is None else row.value)
        if row is None:
            row = ClinicSettingRow(id=key)
            self.s.add(row)
        row.value, row.updated_at, row.updated_by = value, self.now(), self.actor
        self.s.flush()
        return row.value, row.version


class UserRepository(_Repo):
    def by_username(self, username: str) -> User | None:
        row = self.row(username)
        return self._user(row) if row else None

    def row(self, username: str, lock: bool = False, share_lock: bool = False) -> UserRow | None:
        """The stored account, for the security service (it holds the password hash)."""
        q = select(UserRow).where(UserRow.username == username)
        if lock:
            q = q.with_for_update()
        elif share_lock:
            q = q.with_for_update(read=True)
        return self.s.scalar(q)

    def account(self, username: str, lock: bool = False) -> Account | None:
        """The account to sign in, locked for this transaction with ``lock``; None if unknown."""
        row = self.row(username, lock=lock)
        if row is None:
            return None
        return Account(row.id, row.username, row.full_name, Role(row.role), row.active,
                       row.password_hash, row.failed_logins, row.locked_until,
                       row_intact(self.s, row))

    def _existing(self, username: str) -> UserRow:
        row = self.row(username, lock=True)
        if row is None:
            raise NotFoundError(f"No user account {username!r}.")
        return row

    def record_failure(self, username: str, now: datetime, max_failures: int,
                       lockout: timedelta) -> datetime | None:
        """Count a wrong password; at ``max_failures`` lock the account until ``now +
        lockout`` and restart the count. Returns the new lock's end, else None."""
        row = self._existing(username)
        row.failed_logins += 1
        if row.failed_logins < max_failures:
            self.s.flush()
            return None
        row.locked_until = now + lockout
        row.failed_logins = 0
        self.s.flush()
        return row.locked_until

    def record_login(self, username: str, new_hash: str | None = None) -> None:
        """A successful sign-in: clear the failure count and any lock; store ``new_hash``
        when the password was re-hashed with stronger parameters."""
        row = self._existing(username)
        row.failed_logins = 0
        row.locked_until = None
        if new_hash is not None:
            row.password_hash = new_hash
        self.s.flush()

    def set_active(self, username: str, active: bool) -> User:
        """Deactivate or reactivate an account (accounts are never deleted)."""
        row = self._existing(username)
        row.active = active
        self.s.flush()
        return self._user(row)

    def set_password(self, username: str, password_hash: str) -> User:
        """Store a new password hash and lift any lockout."""
        row = self._existing(username)
        row.password_hash = password_hash
        row.failed_logins = 0
        row.locked_until = None
        self.s.flush()
        return self._user(row)

    def add(self, username: str, full_name: str, role: Role, password_hash: str) -> User:
        row = UserRow(id=uuid.uuid4(), username=username, full_name=full_name, role=str(role),
                      password_hash=password_hash, active=True, created_at=self.now(),
                      failed_logins=0)
        self.s.add(row)
        self.s.flush()
        return self._user(row)

    def count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(UserRow)) or 0)

    def lock_accounts(self) -> None:
        """Hold off other account creation until this transaction ends, so that two
        workstations cannot both see "no user yet" (SQLite's BEGIN IMMEDIATE already does)."""
        if self.s.get_bind().dialect.name == "postgresql":
            self.s.execute(text("LOCK TABLE app_user IN SHARE ROW EXCLUSIVE MODE"))

    def all(self) -> list[User]:
        return [self._user(r) for r in self.s.scalars(select(UserRow).order_by(UserRow.username))]

    @staticmethod
    def _user(row: UserRow) -> User:
        return User(row.id, row.username, row.full_name, Role(row.role), row.active)


def row_intact(session: Session, row: Any) -> bool:
    """True when a loaded signed row still carries its valid MAC under the transaction's key."""
    values = {name: getattr(row, name) for name in rowmac.LAYOUTS[row.__tablename__].names}
    values["row_mac"] = row.row_mac
    return rowmac.matches(session.info[rowmac.ROW_KEY], row.__tablename__, values)


def utc_now() -> datetime:
    return datetime.now(UTC)
