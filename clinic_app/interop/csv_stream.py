"""The CSV import read as a stream: every row checked, handed on in chunks of rows.

An import of a whole clinic (millions of rows) is read twice by the import use case: once
to check every row and link, once to store. Neither pass holds more than one chunk of
parsed rows; :mod:`clinic_app.interop.csv_io` defines the format and checks each row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from clinic_app.domain.imports import ImportProblem, ReadProgress
from clinic_app.interop import csv_io

CHUNK_ROWS = 20_000
"""Parsed rows handed on at a time: large enough that the database lookups of a chunk are
few, small enough that a chunk's objects stay a few tens of MB."""


def import_files(source: Path, problems: list[ImportProblem]) -> list[tuple[Path, str | None]]:
    """The files an import of ``source`` reads, in the order they must be read (patients,
    episodes, sessions, tests), each with its kind when the name tells it."""
    if source.is_dir():
        paths: list[tuple[Path, str | None]] = [
            (source / f"{k}.csv", k) for k in csv_io.COLUMNS if (source / f"{k}.csv").is_file()]
        if not paths:
            problems.append(ImportProblem(
                source.name, 0, "file", "the folder has none of patients.csv, episodes.csv, "
                "sessions.csv, tests.csv"))
        return paths
    if source.is_file():
        stem = source.stem.lower()
        return [(source, stem if stem in csv_io.COLUMNS else None)]
    problems.append(ImportProblem(source.name, 0, "file", "does not exist"))
    return []


def read_chunks(
    source: Path, problems: list[ImportProblem], now: datetime | None = None,
    today: date | None = None, progress: ReadProgress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[str, list[Any]]]:
    """``(kind, rows)`` for every chunk of at most ``chunk_rows`` rows of the files of
    ``source``, in file order; the rows are ``PatientIn`` / ``EpisodeIn`` / ``SessionIn`` /
    ``TestIn``.

    Problems found while reading are appended to ``problems``; a row with problems still
    comes (with ``draft`` None) so that its links and ids are checked too.
    ``progress(done, total)`` in bytes: before the first row, every
    ``csv_io.PROGRESS_ROWS`` rows and at the end (``done == total``).
    """
    now = now or datetime.now().astimezone()
    today = today or date.today()
    paths = import_files(Path(source), problems)
    sizes = [_size(path) for path, _ in paths]
    total = sum(sizes)
    done = 0
    if progress is not None:
        progress(0, total)
    for (path, kind), size in zip(paths, sizes, strict=True):
        table = csv_io._Table(path, kind, problems)
        if table.ok and table.kind is not None:
            yield from _chunks(table, now, today, progress, done, total, chunk_rows)
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
            offset: int, total: int, chunk_rows: int) -> Iterator[tuple[str, list[Any]]]:
    """Convert and check the records of ``table``, ``chunk_rows`` at a time."""
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
    else:
        read = lambda n, v: csv_io._test(table.cells(n, v), today)  # noqa: E731
    every = csv_io.PROGRESS_ROWS
    rows: list[Any] = []
    append = rows.append
    for count, (number, values) in enumerate(table.records(), start=1):
        append(read(number, values))
        if progress is not None and not count % every:
            progress(offset + table.position, total)
        if len(rows) >= chunk_rows:
            yield kind, rows
            rows = []
            append = rows.append
            if links is not None:
                links.clear()  # shared link objects only within a chunk: memory stays flat
    if rows:
        yield kind, rows
