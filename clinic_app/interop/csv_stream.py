"""The CSV files of a whole clinic as streams: an import read in chunks of checked rows,
an export written from pages of plain rows.

An import of a whole clinic (millions of rows) is read twice by the import use case: once
to check every row and link, once to store. Neither pass holds more than one chunk of
parsed rows. The export writes each page of rows as it comes, without building charts.
:mod:`clinic_app.interop.csv_io` defines the format and checks each row.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from clinic_app.domain.imports import PLAN_KINDS, ImportProblem, ReadProgress, give_way
from clinic_app.domain.measures import MEASURES
from clinic_app.interop import csv_io, csv_signed, plan_csv

_FREE_STEP = 500  # records freed at a time (about 12,000 objects)
_TURN_ROWS = 500  # records read between two chances for a waiting thread (give_way)
CHUNK_ROWS = 10_000
"""Parsed rows handed on at a time: large enough that the database lookups of a chunk are
few, small enough that a chunk's objects stay about 20 MB."""


def import_files(source: Path, problems: list[ImportProblem]) -> list[tuple[Path, str | None]]:
    """The files an import of ``source`` reads, in the order they must be read (patients,
    episodes, sessions, tests, then the plan of care: goals, prescriptions,
    session_safety), each with its kind when the name tells it."""
    kinds = (*csv_io.COLUMNS, *PLAN_KINDS)
    if source.is_dir():
        paths: list[tuple[Path, str | None]] = [
            (source / f"{k}.csv", k) for k in kinds if (source / f"{k}.csv").is_file()]
        if not paths:
            problems.append(ImportProblem(
                source.name, 0, "file", "the folder has none of "
                + ", ".join(f"{k}.csv" for k in kinds)))
        return paths
    if source.is_file():
        stem = source.stem.lower()
        return [(source, stem if stem in kinds else None)]
    problems.append(ImportProblem(source.name, 0, "file", "does not exist"))
    return []


class RawChunk:
    """A chunk of session or test records not yet converted, with each record's id cell.

    :meth:`form` gives a record's :data:`~clinic_app.interop.csv_signed.SignedForm` when
    it is plainly well formed (else None), :meth:`parsed` converts it the careful way
    (``csv_io``, which reports problems); each only when asked, so a file of new rows
    spends nothing on the first.
    """

    def __init__(self, file: str, records: list[tuple[int, list[str]]], ids: list[str],
                 form: Callable[[int, list[str]], csv_signed.SignedForm | None],
                 read: Callable[[int, list[str]], Any]) -> None:
        self.file = file
        self.records = records
        self.ids = ids
        self._form = form
        self._read = read

    def __len__(self) -> int:
        return len(self.records)

    def form(self, i: int) -> csv_signed.SignedForm | None:
        """Record ``i`` as the texts its row signature covers, or None."""
        number, values = self.records[i]
        return self._form(number, values)

    def parsed(self, i: int) -> Any:
        """Record ``i`` as ``SessionIn`` / ``TestIn``; its problems are reported now."""
        number, values = self.records[i]
        return self._read(number, values)

    def free(self) -> None:
        """Drop the records a slice at a time (see :func:`drop`)."""
        drop(self.records)
        drop(self.ids)


def drop(items: list[Any] | dict[Any, Any]) -> None:
    """Empty ``items`` a slice at a time. Freeing 10,000 records (230,000 objects) in one
    step holds the interpreter, and so a window waiting for it, for tens of ms, longer when
    the machine is busy; between slices other threads get their turn."""
    if isinstance(items, dict):
        while items:
            for _ in range(min(_FREE_STEP, len(items))):
                items.popitem()
        return
    while items:
        del items[-_FREE_STEP:]


def read_chunks(
    source: Path, problems: list[ImportProblem], now: datetime | None = None,
    today: date | None = None, progress: ReadProgress | None = None,
    chunk_rows: int | None = None, raw: bool = False,
) -> Iterator[tuple[str, Any]]:
    """``(kind, rows)`` for every chunk of at most ``chunk_rows`` rows of the files of
    ``source``, in file order; the rows are ``PatientIn`` / ``EpisodeIn`` / ``SessionIn`` /
    ``TestIn``, then ``GoalIn`` / ``PrescriptionIn`` / ``SafetyIn`` (``plan_csv``);
    ``chunk_rows`` defaults to :data:`CHUNK_ROWS`.

    Problems found while reading are appended to ``problems``; a row with problems still
    comes (with ``draft`` None) so that its links and ids are checked too.
    ``progress(done, total)`` in bytes: before the first row, every
    ``csv_io.PROGRESS_ROWS`` rows and at the end (``done == total``).

    With ``raw``, sessions and tests come as :class:`RawChunk` instead, so rows stored
    already can be recognised without converting them (``csv_signed``).
    """
    now = now or datetime.now().astimezone()
    today = today or date.today()
    chunk_rows = chunk_rows or CHUNK_ROWS
    paths = import_files(Path(source), problems)
    sizes = [_size(path) for path, _ in paths]
    total = sum(sizes)
    done = 0
    if progress is not None:
        progress(0, total)
    for (path, kind), size in zip(paths, sizes, strict=True):
        table = (plan_csv.open_table(path, kind, problems) if kind in PLAN_KINDS
                 else csv_io._Table(path, kind, problems))
        if table.ok and table.kind is not None:
            yield from _chunks(table, now, today, progress, done, total, chunk_rows, raw)
        table.close()
        done += size
        if progress is not None:
            progress(done, total)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _chunks(table: csv_io._Table, now: datetime, today: date, progress: ReadProgress | None,
            offset: int, total: int, chunk_rows: int,
            raw: bool = False) -> Iterator[tuple[str, Any]]:
    """Convert and check the records of ``table``, ``chunk_rows`` at a time (sessions and
    tests as :class:`RawChunk` with ``raw``)."""
    kind = table.kind
    assert kind is not None
    links: dict[Any, Any] | None = None
    read: Callable[[int, list[str]], Any]
    if kind == "patients":
        read = lambda n, v: csv_io._patient(table.cells(n, v), today)  # noqa: E731
    elif kind == "episodes":
        read = lambda n, v: csv_io._episode(table.cells(n, v))  # noqa: E731
    elif kind == "sessions":
        sessions = csv_io._SessionRows(table, now)
        read, links = sessions.read, sessions.links
    elif kind in PLAN_KINDS:
        read = plan_csv.row_reader(kind, table, today)
    else:
        read = lambda n, v: csv_io._test(table.cells(n, v), today)  # noqa: E731
    forms = csv_signed.signed_forms(kind, table.index, table.decimal_comma, now, today) \
        if raw else None
    if forms is not None:
        yield from _raw_chunks(table, forms, read, links, progress, offset, total, chunk_rows)
        return
    every = csv_io.PROGRESS_ROWS
    rows: list[Any] = []
    append = rows.append
    for count, (number, values) in enumerate(table.records(), start=1):
        append(read(number, values))
        if not count % _TURN_ROWS:
            give_way()
        if progress is not None and not count % every:
            progress(offset + table.position, total)
        if len(rows) >= chunk_rows:
            yield kind, _handed(rows)
            if links is not None:
                links.clear()  # shared link objects only within a chunk: memory stays flat
    if rows:
        yield kind, rows


def _handed(items: list[Any]) -> list[Any]:
    """``items`` moved into a new list, leaving ``items`` empty: a chunk handed on is
    referenced by its reader only, so it is freed as soon as the reader is done with it
    (the import then collects garbage, which would otherwise walk the whole chunk)."""
    out = items.copy()
    items.clear()
    return out


def _raw_chunks(table: csv_io._Table, forms: csv_signed.SessionForms | csv_signed.TestForms,
                read: Callable[[int, list[str]], Any], links: dict[Any, Any] | None,
                progress: ReadProgress | None, offset: int, total: int,
                chunk_rows: int) -> Iterator[tuple[str, Any]]:
    kind = table.kind
    assert kind is not None
    every = csv_io.PROGRESS_ROWS
    at = forms.id_at
    records: list[tuple[int, list[str]]] = []
    ids: list[str] = []
    for count, record in enumerate(table.records(), start=1):
        records.append(record)
        ids.append(record[1][at].strip() if at is not None else "")
        if not count % _TURN_ROWS:
            give_way()
        if progress is not None and not count % every:
            progress(offset + table.position, total)
        if len(records) >= chunk_rows:
            yield kind, RawChunk(table.name, _handed(records), _handed(ids), forms.form, read)
            if links is not None:
                links.clear()
    if records:
        yield kind, RawChunk(table.name, records, ids, forms.form, read)


# --- export: plain rows to the four files ------------------------------------------------

RowPage = Mapping[str, Sequence[Sequence[Any]]]
"""File kind -> rows, each row's values in the order of the ``columns`` given to
:func:`write_row_pages` (named as the CSV columns; ``unit`` is derived here)."""


def write_row_pages(
    pages: Iterable[tuple[int, RowPage]], columns: Mapping[str, Sequence[str]],
    out_dir: Path, progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``patients.csv``, ``episodes.csv``, ``sessions.csv``, ``tests.csv`` from pages
    of plain rows (``(patients in the page, rows by kind)``), one page in memory at a time.

    The files are exactly those :func:`csv_io.write_csv_pages` writes from whole charts;
    each value is converted by its column (one function per column, chosen once), and
    whatever the ``csv`` module already writes as :func:`csv_io._cell` would (numbers,
    dates, ids, blanks) is passed through as it is.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        writers = {}
        plans = {}
        for kind, names in csv_io.COLUMNS.items():
            fh = stack.enter_context(
                open(out_dir / f"{kind}.csv", "w", encoding=csv_io.ENCODING, newline=""))
            writers[kind] = csv.writer(fh)
            writers[kind].writerow(names)
            plans[kind] = _column_plan(names, tuple(columns[kind]))
        done = 0
        for patients, page in pages:
            for kind, rows in page.items():
                if rows:
                    writers[kind].writerows(_formatted(plans[kind], rows))
            done += patients
            if progress is not None:
                progress(done)


_Plan = list[tuple[int, Callable[[Any], Any] | None]]


def _column_plan(names: Sequence[str], given: Sequence[str]) -> _Plan:
    """For each CSV column: the position of its value in a row and how to convert it."""
    position = {name: i for i, name in enumerate(given)}
    plan: _Plan = []
    for name in names:
        if name == "unit":
            plan.append((position["measure_id"], _unit))
        elif name == "items":
            plan.append((position[name], _items))
        elif name == "entered_in_error":
            plan.append((position[name], _flag))
        elif name == "performed_at":
            plan.append((position[name], _instant))
        elif name in csv_io._TEXT_COLUMNS:
            plan.append((position[name], _text))
        else:
            plan.append((position[name], None))
    return plan


def _formatted(plan: _Plan, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """The rows' CSV values, converted column by column (one map call per column)."""
    given = list(zip(*rows, strict=True))
    out = [given[i] if convert is None else list(map(convert, given[i])) for i, convert in plan]
    return zip(*out, strict=True)


def _unit(measure_id: str) -> str:
    measure = MEASURES.get(measure_id)
    return measure.unit if measure else ""


def _items(items: Sequence[int | None] | None) -> str:
    return "" if items is None else ";".join("" if i is None else str(i) for i in items)


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _instant(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def _text(value: str | None) -> str | None:
    if value and value.startswith(csv_io._FORMULA_START):
        return "'" + value
    return value
