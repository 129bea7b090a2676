"""The CSV export's four chart files written from cells the database already formatted.

The cells are the exact text :func:`csv_io._cell` gives (see
``persistence/export_csv.py``), so writing them is moving bytes: rows of plain values go
through the ``csv`` module, which prints numbers as ``repr`` does; CSV text from the
database's own writer (rows ending in LF) has its row ends turned into the CRLF the
``csv`` module writes, leaving line breaks inside quoted cells as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from clinic_app.interop import csv_io

BLOCK = 1 << 18  # bytes of database CSV gathered before one conversion and write


class Part(Protocol):
    """One file's rows of a page: ``rows`` (plain values) or ``lines`` (LF-ended CSV)."""

    kind: str
    rows: Sequence[Sequence[Any]] | None
    lines: Iterator[bytes] | None


class CsvFiles:
    """``patients.csv``, ``episodes.csv``, ``sessions.csv`` and ``tests.csv`` in a folder,
    headers written on opening, rows appended part by part."""

    def __init__(self, out_dir: Path, columns: Mapping[str, Sequence[str]] = csv_io.COLUMNS,
                 ) -> None:
        self.out_dir = out_dir
        self.columns = columns
        self._files: dict[str, IO[str]] = {}
        self._writers: dict[str, Any] = {}

    def __enter__(self) -> CsvFiles:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            for kind, names in self.columns.items():
                fh = open(self.out_dir / f"{kind}.csv", "w", encoding=csv_io.ENCODING,
                          newline="")
                self._files[kind] = fh
                self._writers[kind] = csv.writer(fh)
                self._writers[kind].writerow(names)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()

    def write(self, part: Part) -> None:
        """Append one part to its file (``lines`` are read to their end)."""
        if part.rows is not None:
            self._writers[part.kind].writerows(part.rows)
        if part.lines is not None:
            fh = self._files[part.kind]
            fh.flush()  # the header and any rows before go first
            write_crlf(part.lines, fh.buffer)


def write_crlf(lines: Iterable[bytes], out: IO[bytes]) -> None:
    """Write CSV text whose rows end in LF with CRLF row ends; a line break inside a
    quoted cell stays as it is (the ``csv`` module writes it so)."""
    inside = False
    block: list[bytes] = []
    size = 0
    for chunk in lines:
        block.append(chunk)
        size += len(chunk)
        if size >= BLOCK:
            converted, inside = crlf_rows(b"".join(block), inside)
            out.write(converted)
            block, size = [], 0
    if block:
        converted, inside = crlf_rows(b"".join(block), inside)
        out.write(converted)


def crlf_rows(data: bytes, inside: bool) -> tuple[bytes, bool]:
    """``data`` with every LF outside quotes made CRLF; ``inside`` says whether ``data``
    starts inside a quoted cell, and the second value whether it ends inside one.

    A doubled quote inside a cell flips the state twice, so counting quotes is enough.
    """
    if b'"' not in data:
        return (data if inside else data.replace(b"\n", b"\r\n")), inside
    pieces = data.split(b'"')
    for i, piece in enumerate(pieces):
        if i:
            inside = not inside
        if not inside and b"\n" in piece:
            pieces[i] = piece.replace(b"\n", b"\r\n")
    return b'"'.join(pieces), inside
