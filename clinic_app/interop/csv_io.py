"""CSV export (four linked files) and import (validated row by row, all or nothing).

Format, chosen for clinics that open the files in Excel or LibreOffice:

* UTF-8 **with** a byte-order mark (``utf-8-sig``): Excel on Windows otherwise reads UTF-8 as
  the local code page and garbles names such as "Müller". Import accepts UTF-8 with or
  without the mark; anything else (e.g. Windows-1252 or UTF-16 "Unicode text") is refused
  with a message saying how to save the file.
* Comma separated, CRLF line ends, a header row of the column names below. Import also takes
  ``;`` (what Excel writes in locales with a decimal comma); then decimal commas are accepted.
* Dates ISO ``YYYY-MM-DD``; session times ISO 8601 with their UTC offset
  (``2024-05-01T09:30:00+00:00``); speeds in m/s, distances in m, durations in min.
  Numbers are written with Python's shortest exact form, so a round trip is lossless.
* ``items`` holds questionnaire answers separated by ``;``, blank = unanswered (``2;3;;1``).
* ``entered_in_error`` is ``true``/``false``; such records are exported (with their reason)
  so the files are a complete copy of the chart.
* Free text that starts with ``= + - @`` (which a spreadsheet would run as a formula) is
  written with a leading apostrophe; import removes that apostrophe again.

Files: ``patients.csv``, ``episodes.csv``, ``sessions.csv``, ``tests.csv``, linked by the
record ids (``patient_id``, ``episode_id``, ``session_id``) and by MRN. Records keep their
ids (UUIDs) on import, so importing an export again skips what is already stored.

Import reads one such file, or a folder with any of the four (all in one transaction). A
session or test names its episode by ``episode_id`` (from ``episodes.csv`` in the same
import, or an episode already in the database) or, when that is blank, by ``mrn`` +
``episode_start`` (the episode's start date) - handy for a spreadsheet typed by hand.
Every row goes through the domain validators (``validate_patient``,
``validate_walk_session``, ``validate_test_result``, ``validate_episode``,
``validate_reason``); all problems are collected and reported together with row numbers and
column names.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from clinic_app.domain.charts import PatientChart
from clinic_app.domain.errors import ValidationError
from clinic_app.domain.imports import (
    EpisodeIn,
    EpisodeLink,
    ImportBatch,
    ImportProblem,
    PatientIn,
    ReadProgress,
    SessionIn,
    TestIn,
    paused_gc,
)
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
    Surface,
    SurgeryType,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.domain.scoring import ITEM_ALLOWED, validate_test_result
from clinic_app.domain.session_params import FIELD_LABELS, SESSION_PARAMS, validate_walk_session
from clinic_app.domain.validation import validate_patient, validate_reason

ENCODING = "utf-8-sig"

PATIENT_COLUMNS = (
    "patient_id", "mrn", "family_name", "given_name", "date_of_birth", "sex", "phone", "email",
    "notes", "entered_in_error", "error_reason",
)
EPISODE_COLUMNS = (
    "episode_id", "patient_id", "mrn", "diagnosis", "affected_side", "start_date",
    "surgery_date", "end_date", "referring_doctor", "notes", "entered_in_error", "error_reason",
    "surgery_type", "treating_therapist",
)
SESSION_COLUMNS = (
    "session_id", "episode_id", "mrn", "episode_start", "performed_at", "mode", "surface",
    "duration_min", "distance_m", "speed_m_s", "incline_pct", "assistance", "pain_before",
    "pain_after", "rpe", "heart_rate", "adverse_events", "subjective", "objective",
    "assessment", "plan", "entered_in_error", "error_reason",
)
TEST_COLUMNS = (
    "test_id", "episode_id", "session_id", "mrn", "episode_start", "measure_id", "performed_on",
    "side", "value", "unit", "items", "notes", "entered_in_error", "error_reason",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": PATIENT_COLUMNS,
    "episodes": EPISODE_COLUMNS,
    "sessions": SESSION_COLUMNS,
    "tests": TEST_COLUMNS,
}
"""File kind -> columns, in export order. Import needs the required ones, in any order."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "patients": ("mrn", "family_name", "given_name", "date_of_birth"),
    "episodes": ("mrn", "diagnosis", "affected_side", "start_date"),
    "sessions": ("performed_at",),
    "tests": ("measure_id", "performed_on"),
}
SIGNATURE = {"family_name": "patients", "diagnosis": "episodes", "performed_at": "sessions",
             "measure_id": "tests"}
"""A column only one kind of file has: tells a single file's kind when its name does not."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = frozenset({
    "family_name", "given_name", "phone", "email", "notes", "referring_doctor",
    "adverse_events", "subjective", "objective", "assessment", "plan", "error_reason",
})
_PATIENT_FIELDS = {
    "MRN": "mrn", "Family name": "family_name", "Given name": "given_name",
    "Date of birth": "date_of_birth", "Sex": "sex", "Phone": "phone", "Email": "email",
    "Notes": "notes",
}
_PARAM_ALLOWED = {attr: p.allowed for attr, p in SESSION_PARAMS.items()}
_SESSION_FIELDS = {label: attr for attr, label in FIELD_LABELS.items()}
_SAFE_YEARS = (1900, 9998)  # years whose instants convert between zones without overflow
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CHECK_BLOCK = 1 << 20  # bytes read at a time while the encoding is checked
_READ_BUFFER = 1 << 20  # bytes read at a time while the records are parsed
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


# --- export ----------------------------------------------------------------------------


def _cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if column in _TEXT_COLUMNS and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _items_text(items: tuple[int | None, ...] | None) -> str:
    return "" if items is None else ";".join("" if i is None else str(i) for i in items)


def chart_rows(charts: Sequence[PatientChart]) -> dict[str, list[dict[str, object]]]:
    """The four tables as lists of ``{column: value}`` (values not yet formatted)."""
    tables: dict[str, list[dict[str, object]]] = {k: [] for k in COLUMNS}
    for chart in charts:
        p = chart.patient
        d = p.draft
        tables["patients"].append({
            "patient_id": p.id, "mrn": d.mrn, "family_name": d.family_name,
            "given_name": d.given_name, "date_of_birth": d.date_of_birth, "sex": d.sex.value,
            "phone": d.phone, "email": d.email, "notes": d.notes,
            "entered_in_error": p.stamp.entered_in_error, "error_reason": p.stamp.error_reason,
        })
        for ep_chart in chart.episodes:
            ep = ep_chart.episode
            e = ep.draft
            tables["episodes"].append({
                "episode_id": ep.id, "patient_id": p.id, "mrn": d.mrn,
                "diagnosis": e.diagnosis.value, "affected_side": e.affected_side.value,
                "start_date": e.start_date, "surgery_date": e.surgery_date,
                "end_date": e.end_date, "referring_doctor": e.referring_doctor,
                "notes": e.notes, "entered_in_error": ep.stamp.entered_in_error,
                "error_reason": ep.stamp.error_reason,
                "surgery_type": e.surgery_type.value if e.surgery_type else None,
                "treating_therapist": e.treating_therapist,
            })
            link = {"episode_id": ep.id, "mrn": d.mrn, "episode_start": e.start_date}
            for s in ep_chart.sessions:
                sd = s.draft
                row: dict[str, object] = {"session_id": s.id, **link}
                for col in SESSION_COLUMNS[4:-2]:
                    value = getattr(sd, col)
                    row[col] = value.value if isinstance(value, Surface | WalkMode |
                                                         Assistance) else value
                row["entered_in_error"] = s.stamp.entered_in_error
                row["error_reason"] = s.stamp.error_reason
                tables["sessions"].append(row)
            for t in ep_chart.tests:
                td = t.draft
                measure = MEASURES.get(td.measure_id)
                tables["tests"].append({
                    "test_id": t.id, **link, "session_id": td.session_id,
                    "measure_id": td.measure_id, "performed_on": td.performed_on,
                    "side": td.side.value if td.side else None, "value": t.value,
                    "unit": measure.unit if measure else "", "items": _items_text(td.items),
                    "notes": td.notes, "entered_in_error": t.stamp.entered_in_error,
                    "error_reason": t.stamp.error_reason,
                })
    return tables


def write_csv(charts: Sequence[PatientChart], out_dir: Path) -> None:
    """Write ``patients.csv``, ``episodes.csv``, ``sessions.csv``, ``tests.csv`` into a folder."""
    write_csv_pages([charts], out_dir)


def write_csv_pages(
    pages: Iterable[Sequence[PatientChart]], out_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write the four CSV files from charts given page by page, holding one page at a time.

    ``progress(patients_written)`` is called after each page.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        writers = {}
        for kind, columns in COLUMNS.items():
            fh = stack.enter_context(
                open(out_dir / f"{kind}.csv", "w", encoding=ENCODING, newline=""))
            writers[kind] = csv.writer(fh)
            writers[kind].writerow(columns)
        done = 0
        for page in pages:
            for kind, rows in chart_rows(page).items():
                columns = COLUMNS[kind]
                writers[kind].writerows([_cell(c, row.get(c)) for c in columns] for row in rows)
            done += len(page)
            if progress is not None:
                progress(done)


# --- import: reading the table ------------------------------------------------------------


class _Table:
    """One CSV file's header, then its records streamed, or the problems that stop it.

    The file is checked as a whole first (encoding, NUL bytes), reading it in blocks so
    that a file of any size is never held in memory; :meth:`records` then parses it lazily
    and :attr:`position` says how many of its bytes have been read so far.
    """

    def __init__(self, path: Path, kind: str | None, problems: list[ImportProblem]) -> None:
        self.name = path.name
        self.kind = kind
        self.problems = problems
        self.header: list[str] = []
        self.index: dict[str, int] = {}
        self.decimal_comma = False
        self._size = 0
        self._file: io.BufferedReader | None = None
        self._rows: Iterator[list[str]] | None = None
        self.ok = self._open(path)
        if not self.ok:
            self.close()

    @property
    def size(self) -> int:
        return self._size

    @property
    def position(self) -> int:
        """Bytes of the file read by the parser so far (in steps of its read buffer)."""
        if self._file is None or self._file.closed:
            return self._size
        return self._file.tell()

    def close(self) -> None:
        """Release the file (done by :meth:`records` when it has read the last record)."""
        if self._file is not None:
            self._file.close()

    def bad(self, row: int, column: str, message: str) -> None:
        self.problems.append(ImportProblem(self.name, row, column, message))

    def _open(self, path: Path) -> bool:
        try:
            if not self._whole_file_is_text(path):
                return False
            # A read of the file lets other threads take the interpreter, and at once takes
            # it back: in steps of 8 KB (the default), a window's thread waiting for its
            # turn was kept out for a tenth of a second and more. In steps of 1 MiB it
            # asks for the interpreter, and gets it, within a few ms.
            fh = open(path, "rb", buffering=_READ_BUFFER)  # noqa: SIM115 - see close()
        except OSError as exc:
            self.bad(0, "file", f"cannot be read ({exc.strerror or exc})")
            return False
        self._file = fh
        first = fh.readline()
        fh.seek(0)
        delimiter = ";" if first.count(b";") > first.count(b",") else ","
        self.decimal_comma = delimiter == ";"
        text = io.TextIOWrapper(fh, encoding=ENCODING, newline="")
        self._rows = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            header = next(self._rows, None)
        except csv.Error as exc:
            self.bad(0, "file", f"is not valid CSV ({exc}); near record 1")
            return False
        if header is None or not any(c.strip() for c in header):
            self.bad(0, "file", "is empty: a header row with the column names is needed")
            return False
        self.header = [c.strip().lower() for c in header]
        self.index = {c: i for i, c in enumerate(self.header)}
        return self._check_header()

    def _whole_file_is_text(self, path: Path) -> bool:
        """UTF-8 without NUL bytes from the first byte to the last, checked block by block
        before any row is read: a clear message and no rows otherwise."""
        decoder = codecs.getincrementaldecoder(ENCODING)()
        lines = 0  # newlines before the current block (a held partial character has none)
        nul = False
        with open(path, "rb") as fh:
            head = fh.read(2)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")):
                self.bad(0, "file", "is UTF-16 ('Unicode text'); save it as 'CSV UTF-8' "
                         "instead")
                return False
            fh.seek(0)
            while True:
                block = fh.read(_CHECK_BLOCK)
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as exc:
                    data = bytes(exc.object)
                    line = lines + data[: exc.start].count(b"\n") + 1
                    self.bad(0, "file", f"is not UTF-8 text: byte 0x{data[exc.start]:02X} on "
                             f"line {line} cannot be decoded (allowed: UTF-8, e.g. Excel's "
                             "'CSV UTF-8'; Windows-1252/Latin-1 files must be converted)")
                    return False
                if not block:
                    break
                nul = nul or b"\x00" in block
                lines += block.count(b"\n")
                self._size += len(block)
        if nul:
            self.bad(0, "file", "contains NUL bytes: it is not a CSV text file")
            return False
        return True

    def _check_header(self) -> bool:
        if self.kind is None:
            kinds = {SIGNATURE[c] for c in self.header if c in SIGNATURE}
            if len(kinds) != 1:
                self.bad(1, "header", "cannot tell what this file holds: name it patients.csv, "
                         "episodes.csv, sessions.csv or tests.csv, or give a header with "
                         "one of the columns family_name, diagnosis, performed_at, measure_id")
                return False
            self.kind = kinds.pop()
        allowed = COLUMNS[self.kind]
        ok = True
        seen: set[str] = set()
        for c in self.header:
            if c in seen:
                self.bad(1, c, "column appears twice")
                ok = False
            seen.add(c)
            if c not in allowed:
                self.bad(1, c or "(blank)", f"unknown column for {self.kind}.csv "
                         f"(allowed: {', '.join(allowed)})")
                ok = False
        for c in REQUIRED[self.kind]:
            if c not in seen:
                self.bad(1, c, f"required column is missing from {self.kind}.csv")
                ok = False
        if self.kind in ("sessions", "tests") and "episode_id" not in seen and not (
            {"mrn", "episode_start"} <= seen
        ):
            self.bad(1, "episode_id", "the file needs an episode_id column, or both mrn and "
                     "episode_start columns, to say which episode each row belongs to")
            ok = False
        if self.kind == "tests" and not ({"value", "items"} & seen):
            self.bad(1, "value", "the file needs a value or an items column")
            ok = False
        return ok

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """``(row number, values padded to the header)`` for each non-blank record.

        A record with more values than the header is reported and skipped; a file that
        turns out not to be valid CSV is reported under row 0 and ends the iteration.
        """
        assert self._rows is not None
        width = len(self.header)
        rows = self._rows
        number = 1
        try:
            for values in rows:
                number += 1
                n = len(values)
                if n == width and values[0].strip():  # the common case, checked cheaply
                    yield number, values
                    continue
                if not any(v.strip() for v in values):
                    continue
                if n > width:
                    self.bad(number, "row", f"has {n} values but the header has "
                             f"{width} columns")
                    continue
                yield number, values + [""] * (width - n)
        except csv.Error as exc:
            self.bad(0, "file", f"is not valid CSV ({exc}); near record {rows.line_num}")
            self.ok = False
        finally:
            self.close()

    def cells(self, number: int, values: list[str]) -> _Cells:
        return _Cells(self, number, values)


class _Cells:
    """One record's values with typed getters; each getter reports its own problems."""

    def __init__(self, table: _Table, row: int, values: list[str]) -> None:
        self.table = table
        self.row = row
        self.values = values
        self.failed = False
        self.bad_columns: set[str] = set()

    def bad(self, column: str, message: str) -> None:
        self.failed = True
        self.bad_columns.add(column)
        self.table.bad(self.row, column, message)

    def get(self, column: str) -> str:
        i = self.table.index.get(column)
        return "" if i is None else self.values[i]

    def raw(self, column: str) -> str:
        return self.get(column).strip()

    def text(self, column: str) -> str:
        value = self.get(column)
        if value.startswith("'") and value[1:].startswith(_FORMULA_START):
            value = value[1:]
        return value

    def required(self, column: str) -> str:
        value = self.raw(column)
        if not value:
            self.bad(column, "is required")
        return value

    def number(self, column: str, allowed: str) -> float | None:
        value = self.raw(column)
        if not value:
            return None
        if self.table.decimal_comma:
            value = value.replace(",", ".")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            self.bad(column, f"{value!r} is not a number (allowed: {allowed})")
            return None
        return number

    def whole(self, column: str, allowed: str) -> int | None:
        number = self.number(column, allowed)
        if number is None:
            return None
        if not number.is_integer():
            self.bad(column, f"{number:g} is not a whole number (allowed: {allowed})")
            return None
        return int(number)

    def day(self, column: str, required: bool = False) -> date | None:
        value = self.raw(column)
        if not value:
            if required:
                self.bad(column, "is required (allowed: a date YYYY-MM-DD)")
            return None
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.bad(column, f"{value!r} is not a date (allowed: YYYY-MM-DD, e.g. 2024-05-31)")
            return None

    def instant(self, column: str) -> datetime | None:
        value = self.raw(column)
        if not value:
            self.bad(column, "is required (allowed: date and time with UTC offset, e.g. "
                     "2024-05-31T09:30:00+02:00)")
            return None
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            self.bad(column, f"{value!r} is not a date and time (allowed: ISO 8601 with UTC "
                     "offset, e.g. 2024-05-31T09:30:00+02:00)")
            return None
        if when.tzinfo is None:
            self.bad(column, f"{value!r} has no UTC offset (allowed: e.g. "
                     "2024-05-31T09:30:00+02:00 or ...Z for UTC)")
            return None
        return when  # in the file's offset: converted to UTC once the domain accepted it

    def flag(self, column: str) -> bool:
        value = self.raw(column).lower()
        if value in _TRUE:
            return True
        if value not in _FALSE:
            self.bad(column, f"{value!r} is not true or false (allowed: true, false, blank)")
        return False

    def choice(self, column: str, kind: type, default: object = None) -> object:
        """The enum member, or the raw text so the domain validator names the allowed set."""
        value = self.raw(column)
        if not value:
            return default
        try:
            return kind(value.lower())
        except ValueError:
            return value

    def error_state(self) -> tuple[bool, str | None]:
        flagged = self.flag("entered_in_error")
        reason = self.text("error_reason").strip() or None
        if flagged:
            try:
                reason = validate_reason(reason or "")
            except ValidationError as exc:
                self.bad("error_reason", str(exc))
        elif reason:
            self.bad("error_reason", "is given but entered_in_error is not true "
                     "(allowed: blank unless entered_in_error is true)")
        return flagged, reason if flagged else None

    def link(self) -> EpisodeLink:
        ref = self.raw("episode_id")
        mrn = self.raw("mrn").upper()
        start = self.day("episode_start")
        if not ref and (not mrn or start is None) and "episode_start" not in self.bad_columns:
            self.bad("episode_id", "is blank: give episode_id, or mrn and episode_start")
        return EpisodeLink(ref, mrn, start)


# --- import: rows to drafts -------------------------------------------------------------


def _validated(cells: _Cells, check: Callable[[], object], columns: dict[str, str],
               fallback: str) -> bool:
    """Run a domain validator; report its error under the matching column."""
    try:
        check()
    except ValidationError as exc:
        cells.bad(columns.get(exc.field, fallback), str(exc))
        return False
    return True


def _patient(c: _Cells, today: date) -> PatientIn:
    mrn = c.raw("mrn").upper()
    dob = c.day("date_of_birth", required=True)
    flagged, reason = c.error_state()
    draft = None
    if dob is not None:
        draft = PatientDraft(
            mrn=mrn, family_name=c.text("family_name").strip(),
            given_name=c.text("given_name").strip(), date_of_birth=dob,
            sex=c.choice("sex", Sex, Sex.UNKNOWN),  # type: ignore[arg-type]
            phone=c.text("phone").strip(), email=c.text("email").strip(), notes=c.text("notes"),
        )
        if not _validated(c, lambda: validate_patient(draft, today), _PATIENT_FIELDS, "mrn"):
            draft = None
    return PatientIn(c.table.name, c.row, mrn, None if c.failed else draft, flagged, reason,
                     c.raw("patient_id"))


def _episode(c: _Cells) -> EpisodeIn:
    # validate_episode needs the patient's birth date: the service runs it.
    start = c.day("start_date", required=True)
    surgery = c.day("surgery_date")
    end = c.day("end_date")
    flagged, reason = c.error_state()
    draft = None
    if start is not None:
        draft = EpisodeDraft(
            diagnosis=c.choice("diagnosis", Diagnosis),  # type: ignore[arg-type]
            affected_side=c.choice("affected_side", Side),  # type: ignore[arg-type]
            start_date=start, surgery_date=surgery, end_date=end,
            referring_doctor=c.text("referring_doctor").strip(), notes=c.text("notes"),
            surgery_type=c.choice("surgery_type", SurgeryType),  # type: ignore[arg-type]
            treating_therapist=c.raw("treating_therapist").lower(),
        )
    mrn = c.raw("mrn").upper()
    if not mrn:
        c.bad("mrn", "is required: the MRN of the episode's patient")
    return EpisodeIn(c.table.name, c.row, c.raw("episode_id"), mrn,
                     None if c.failed else draft, flagged, reason)


def _session(c: _Cells, now: datetime) -> SessionIn:
    link = c.link()
    when = c.instant("performed_at")
    values: dict[str, float | int | None] = {}
    for attr, p in SESSION_PARAMS.items():
        allowed = _PARAM_ALLOWED[attr]
        values[attr] = c.whole(attr, allowed) if p.integer_only else c.number(attr, allowed)
    flagged, reason = c.error_state()
    draft = None
    if when is not None:
        draft = WalkSessionDraft(
            performed_at=when,
            mode=c.choice("mode", WalkMode, WalkMode.OVERGROUND),  # type: ignore[arg-type]
            surface=c.choice("surface", Surface, Surface.FLAT),  # type: ignore[arg-type]
            assistance=c.choice(  # type: ignore[arg-type]
                "assistance", Assistance, Assistance.INDEPENDENT),
            adverse_events=c.text("adverse_events"), subjective=c.text("subjective"),
            objective=c.text("objective"), assessment=c.text("assessment"),
            plan=c.text("plan"), **values,  # type: ignore[arg-type]
        )
        if not c.failed and _validated(c, lambda: validate_walk_session(draft, now),
                                       _SESSION_FIELDS, "performed_at"):
            draft = replace(draft, performed_at=when.astimezone(UTC))  # in range: no overflow
    return SessionIn(c.table.name, c.row, c.raw("session_id"), link,
                     None if c.failed else draft, flagged, reason)


class _SessionRows:
    """Reads session rows; a well-formed row takes a fast path without per-cell getters.

    The fast path does the same conversions as :func:`_session` and runs the same domain
    validator (``validate_walk_session``) on the same draft, with the column positions
    looked up once per file. Anything it is not sure about (a blank required cell, text
    that is not a plain number, date or known choice, a row entered in error, a draft the
    validator refuses) makes it give up, and :func:`_session` reads that row again and
    reports its problems, so messages are exactly those of the careful path.
    """

    def __init__(self, table: _Table, now: datetime) -> None:
        ix = table.index.get
        self.table = table
        self.now = now
        self.ref, self.mrn, self.start = ix("episode_id"), ix("mrn"), ix("episode_start")
        self.when, self.session_id = ix("performed_at"), ix("session_id")
        self.flag, self.reason = ix("entered_in_error"), ix("error_reason")
        self.numbers = [(attr, ix(attr), p.integer_only) for attr, p in SESSION_PARAMS.items()]
        self.choices = [(attr, ix(attr), {m.value: m for m in kind}, default)
                        for attr, kind, default in (("mode", WalkMode, WalkMode.OVERGROUND),
                                                    ("surface", Surface, Surface.FLAT),
                                                    ("assistance", Assistance,
                                                     Assistance.INDEPENDENT))]
        self.texts = [(attr, ix(attr)) for attr in
                      ("adverse_events", "subjective", "objective", "assessment", "plan")]
        self.links: dict[tuple[str, str, str], EpisodeLink] = {}  # shared by equal links

    def read(self, row: int, values: list[str]) -> SessionIn:
        fast = self._fast(row, values)
        return fast if fast is not None else _session(self.table.cells(row, values), self.now)

    def _fast(self, row: int, v: list[str]) -> SessionIn | None:  # noqa: C901 - one flat pass
        ref = v[self.ref].strip() if self.ref is not None else ""
        mrn = v[self.mrn].strip().upper() if self.mrn is not None else ""
        start_text = v[self.start].strip() if self.start is not None else ""
        link = self.links.get((ref, mrn, start_text))
        if link is None:
            start = None
            if start_text:
                if not _ISO_DATE.fullmatch(start_text):
                    return None
                try:
                    start = date.fromisoformat(start_text)
                except ValueError:
                    return None
            if not ref and (not mrn or start is None):
                return None
            link = self.links[(ref, mrn, start_text)] = EpisodeLink(ref, mrn, start)
        if self.flag is not None and v[self.flag].strip().lower() not in _FALSE:
            return None
        if self.reason is not None and v[self.reason].strip():
            return None
        assert self.when is not None  # a required column
        try:
            when = datetime.fromisoformat(v[self.when].strip())
        except ValueError:
            return None
        if when.tzinfo is None or not _SAFE_YEARS[0] <= when.year <= _SAFE_YEARS[1]:
            return None  # the careful path reports it (and never converts year 1 or 9999)
        fields: dict[str, object] = {"performed_at": when.astimezone(UTC)}
        comma = self.table.decimal_comma
        for attr, i, whole in self.numbers:
            text = v[i].strip() if i is not None else ""
            if not text:
                fields[attr] = None
                continue
            if comma:
                text = text.replace(",", ".")
            try:
                number = float(text)
            except ValueError:
                return None
            if not math.isfinite(number):
                return None
            if whole:
                if not number.is_integer():
                    return None
                fields[attr] = int(number)
            else:
                fields[attr] = number
        for attr, i, members, default in self.choices:
            text = v[i].strip() if i is not None else ""
            if not text:
                fields[attr] = default
                continue
            member = members.get(text.lower())
            if member is None:
                return None
            fields[attr] = member
        for attr, i in self.texts:
            text = v[i] if i is not None else ""
            if text.startswith("'") and text[1:].startswith(_FORMULA_START):
                text = text[1:]
            fields[attr] = text
        draft = WalkSessionDraft(**fields)  # type: ignore[arg-type]
        try:
            validate_walk_session(draft, self.now)
        except ValidationError:
            return None
        session_id = v[self.session_id].strip() if self.session_id is not None else ""
        return SessionIn(self.table.name, row, session_id, link, draft)


def _test_column(exc: ValidationError, name: str, has_items: bool) -> str:
    if exc.field == "Side":
        return "side"
    if exc.field == "measure":
        return "measure_id"
    if exc.field in ("Performed on", "Notes"):
        return "performed_on" if exc.field == "Performed on" else "notes"
    if exc.field == "Items" or exc.field.startswith(f"{name} item"):
        return "items"
    return "items" if has_items and "total" not in str(exc) else "value"


def _test(c: _Cells, today: date) -> TestIn:
    link = c.link()
    measure_id = c.required("measure_id").lower()
    measure = MEASURES.get(measure_id)
    on = c.day("performed_on", required=True)
    value = c.number("value", measure.allowed if measure else "a number")
    items: tuple[int | None, ...] | None = None
    raw_items = c.raw("items")
    if raw_items:
        parsed: list[int | None] = []
        for i, part in enumerate(raw_items.split(";"), start=1):
            part = part.strip()
            if not part:
                parsed.append(None)
            elif part.isdigit():
                parsed.append(int(part))
            else:
                c.bad("items", f"item {i}: {part!r} is not a whole number "
                      f"(allowed: {ITEM_ALLOWED}, separated by ';')")
        items = tuple(parsed)
    unit = c.raw("unit")
    if unit and measure is not None and unit not in (measure.unit, measure.ucum):
        c.bad("unit", f"{unit!r} is not the unit of {measure.name} "
              f"(allowed: {measure.unit or measure.ucum} or blank)")
    flagged, reason = c.error_state()
    draft = None
    scored: float | None = None
    if on is not None and measure_id:
        draft = TestResultDraft(
            measure_id=measure_id, performed_on=on, value=value,
            side=c.choice("side", Side),  # type: ignore[arg-type]
            items=items, notes=c.text("notes"),
        )
        if not c.failed:
            try:
                scored = validate_test_result(draft, today=today)
            except ValidationError as exc:
                name = measure.name if measure else ""
                c.bad(_test_column(exc, name, items is not None), str(exc))
    return TestIn(c.table.name, c.row, link, c.raw("session_id"),
                  None if c.failed else draft, scored, flagged, reason, c.raw("test_id"))


# --- import: entry point ----------------------------------------------------------------


PROGRESS_ROWS = 5000
"""Rows read between two progress reports while the files are checked."""


def read_import(
    source: Path, now: datetime | None = None, today: date | None = None,
    progress: ReadProgress | None = None,
) -> ImportBatch:
    """Read a CSV file, or a folder of exported CSV files (the plan-of-care files
    included), into an :class:`ImportBatch`.

    Nothing touches the database here; the problems found so far travel in the batch and
    :func:`clinic_app.services.interop.store_batch` adds those that need the database.
    ``progress(done, total)`` is called before the first row is read and then every
    :data:`PROGRESS_ROWS` rows, in bytes of the files read so far (``done == total`` at
    the end). The whole batch is held in memory: a large import streams the files in
    chunks instead (:func:`clinic_app.interop.csv_stream.read_chunks`).
    """
    from clinic_app.interop.csv_stream import read_chunks

    batch = ImportBatch(source=str(source))
    lists: dict[str, list[Any]] = {"patients": batch.patients, "episodes": batch.episodes,
                                   "sessions": batch.sessions, "tests": batch.tests,
                                   "goals": batch.goals, "prescriptions": batch.prescriptions,
                                   "session_safety": batch.safety}
    with paused_gc():  # millions of new objects, no cycles: collections would only cost time
        for kind, rows in read_chunks(Path(source), batch.problems, now, today, progress):
            lists[kind].extend(rows)
    return batch
