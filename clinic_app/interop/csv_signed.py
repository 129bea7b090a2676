"""Session and test rows of a CSV file in the text a stored row's signature covers.

Re-importing an export (or any file whose rows are already stored) is the common case of a
large import: nearly every row is skipped as "already stored". Parsing each such row into a
domain draft, validating it and reading the stored row back to compare values costs most
of an import's time. Instead, a row whose cells are plainly well formed is turned straight
into the column texts a row signature covers (``persistence/rowmac.py``: UUIDs with
dashes, instants as UTC ISO with microseconds, floats by ``repr``, whole numbers by
``str``, flags ``0``/``1``, a missing value as NUL), and the import compares their
signature with the stored row's ``row_mac``. Equal signatures mean equal values, so the
row is the stored row.

Anything not plainly well formed (a blank or odd cell, a row entered in error, a
questionnaire with items, a day or time in the future) gives ``None``: the row then goes
the careful way (``csv_io``), which reports its problems word for word. Only rows that
the careful path would also read as these exact values may take this one; a test checks
that every row of an export is recognised, and that a changed cell never is.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from clinic_app.domain.measures import MEASURES
from clinic_app.domain.records import Assistance, Side, Surface, WalkMode
from clinic_app.domain.session_params import SESSION_PARAMS

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # as csv_io: an apostrophe escaped them
_FALSE = {"false", "no", "n", "0", ""}
_SAFE_YEARS = (1900, 9998)
NULL = "\x00"

SESSION_NAMES: tuple[str, ...] = (
    "id", "episode_id", "performed_at", "mode", "surface", "assistance",
    *SESSION_PARAMS, "adverse_events", "subjective", "objective", "assessment", "plan",
    "entered_in_error", "error_reason")
"""The signed columns of a session (stamps aside), in the order of a form's texts."""

TEST_NAMES: tuple[str, ...] = (
    "id", "episode_id", "session_id", "measure_id", "performed_on", "side", "value",
    "items", "notes", "entered_in_error", "error_reason")
"""The signed columns of a test result (stamps aside), in the order of a form's texts."""

SignedForm = tuple[int, str, str, str, str, Any, tuple[str, ...]]
"""A recognised row: (row number, its id, episode ref, MRN, episode start text, its day
or instant (a ``datetime`` for a session, a ``date`` for a test), the column texts in
:data:`SESSION_NAMES` / :data:`TEST_NAMES` order). Tests add their session ref as
``texts[2]`` (NUL when blank)."""


def _text(value: str) -> str:
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def _link(v: list[str], ref_at: int | None, mrn_at: int | None,
          start_at: int | None) -> tuple[str, str, str] | None:
    """(episode ref, MRN, start text) when the ref is a UUID and the start blank or a date."""
    ref = v[ref_at].strip() if ref_at is not None else ""
    if not _UUID.fullmatch(ref):
        return None
    start = v[start_at].strip() if start_at is not None else ""
    if start:
        if not _ISO_DATE.fullmatch(start):
            return None
        try:
            date.fromisoformat(start)
        except ValueError:
            return None
    return ref, (v[mrn_at].strip().upper() if mrn_at is not None else ""), start


def _not_flagged(v: list[str], flag_at: int | None, reason_at: int | None) -> bool:
    if flag_at is not None and v[flag_at].strip().lower() not in _FALSE:
        return False
    return reason_at is None or not v[reason_at].strip()


_NUMBERS: dict[tuple[str, bool, bool], str | None] = {}
"""Cell text -> signed text: a clinic's files repeat the same few thousand numbers."""
_NUMBERS_MAX = 50_000


def _number(text: str, comma: bool, whole: bool) -> str | None:
    key = (text, comma, whole)
    try:
        return _NUMBERS[key]
    except KeyError:
        pass
    if len(_NUMBERS) >= _NUMBERS_MAX:
        _NUMBERS.clear()
    out = _NUMBERS[key] = _number_text(text, comma, whole)
    return out


def _number_text(text: str, comma: bool, whole: bool) -> str | None:
    text = text.strip()
    if not text:
        return NULL
    if comma:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if whole:
        return str(int(number)) if number.is_integer() else None
    return repr(number)


class SessionForms:
    """Session records of one file to :data:`SignedForm` (or None), with the file's
    column positions looked up once."""

    def __init__(self, index: dict[str, int], decimal_comma: bool, now: datetime) -> None:
        ix = index.get
        self.now = now
        self.comma = decimal_comma
        self.id_at, self.when_at = ix("session_id"), ix("performed_at")
        self.link_at = (ix("episode_id"), ix("mrn"), ix("episode_start"))
        self.flag_at, self.reason_at = ix("entered_in_error"), ix("error_reason")
        self.choices = [(ix(attr), {m.value: m.value for m in kind}, default.value)
                        for attr, kind, default in (("mode", WalkMode, WalkMode.OVERGROUND),
                                                    ("surface", Surface, Surface.FLAT),
                                                    ("assistance", Assistance,
                                                     Assistance.INDEPENDENT))]
        self.numbers = [(ix(attr), p.integer_only) for attr, p in SESSION_PARAMS.items()]
        self.texts = [ix(attr) for attr in
                      ("adverse_events", "subjective", "objective", "assessment", "plan")]

    def form(self, row: int, v: list[str]) -> SignedForm | None:  # noqa: C901 - one flat pass
        ref = v[self.id_at].strip() if self.id_at is not None else ""
        if not _UUID.fullmatch(ref) or self.when_at is None:
            return None
        link = _link(v, *self.link_at)
        if link is None or not _not_flagged(v, self.flag_at, self.reason_at):
            return None
        try:
            when = datetime.fromisoformat(v[self.when_at].strip())
        except ValueError:
            return None
        if when.tzinfo is None or not _SAFE_YEARS[0] <= when.year <= _SAFE_YEARS[1]:
            return None
        when = when.astimezone(UTC)
        if when > self.now:  # the careful path decides how far ahead is allowed
            return None
        texts = [ref, link[0], when.isoformat(timespec="microseconds")]
        for at, members, default in self.choices:
            text = v[at].strip().lower() if at is not None else ""
            value = members.get(text) if text else default
            if value is None:
                return None
            texts.append(value)
        for at, whole in self.numbers:
            number = _number(v[at], self.comma, whole) if at is not None else NULL
            if number is None:
                return None
            texts.append(number)
        for at in self.texts:
            texts.append(_text(v[at]) if at is not None else "")
        texts += ("0", NULL)
        return row, ref, link[0], link[1], link[2], when, tuple(texts)


class TestForms:
    """Test records of one file to :data:`SignedForm` (or None): performance tests and
    single-value results without items."""

    __test__ = False  # not a pytest test class

    def __init__(self, index: dict[str, int], decimal_comma: bool, today: date) -> None:
        ix = index.get
        self.today = today
        self.comma = decimal_comma
        self.id_at, self.session_at = ix("test_id"), ix("session_id")
        self.link_at = (ix("episode_id"), ix("mrn"), ix("episode_start"))
        self.flag_at, self.reason_at = ix("entered_in_error"), ix("error_reason")
        self.measure_at, self.day_at, self.side_at = ix("measure_id"), ix("performed_on"), \
            ix("side")
        self.value_at, self.items_at, self.unit_at = ix("value"), ix("items"), ix("unit")
        self.notes_at = ix("notes")
        self.sides = {s.value: s.value for s in Side}
        self.measures = {m.id: (m.unit, m.ucum) for m in MEASURES.values() if m.items is None}

    def form(self, row: int, v: list[str]) -> SignedForm | None:  # noqa: C901 - one flat pass
        ref = v[self.id_at].strip() if self.id_at is not None else ""
        if not _UUID.fullmatch(ref) or self.measure_at is None or self.day_at is None:
            return None
        link = _link(v, *self.link_at)
        if link is None or not _not_flagged(v, self.flag_at, self.reason_at):
            return None
        if self.items_at is not None and v[self.items_at].strip():
            return None
        measure = v[self.measure_at].strip().lower()
        units = self.measures.get(measure)
        if units is None:
            return None
        unit = v[self.unit_at].strip() if self.unit_at is not None else ""
        if unit and unit not in units:
            return None
        day_text = v[self.day_at].strip()
        if not _ISO_DATE.fullmatch(day_text):
            return None
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            return None
        if day > self.today:  # the careful path says how far ahead is allowed
            return None
        session = v[self.session_at].strip() if self.session_at is not None else ""
        if session and not _UUID.fullmatch(session):
            return None
        if self.value_at is None:
            return None
        value = _number(v[self.value_at], self.comma, False)
        if value is None or value == NULL:
            return None
        side_text = v[self.side_at].strip().lower() if self.side_at is not None else ""
        side = self.sides.get(side_text) if side_text else NULL
        if side is None:
            return None
        notes = _text(v[self.notes_at]) if self.notes_at is not None else ""
        texts = (ref, link[0], session or NULL, measure, day_text, side, value, NULL, notes,
                 "0", NULL)
        return row, ref, link[0], link[1], link[2], day, texts


def signed_forms(kind: str, index: dict[str, int], decimal_comma: bool, now: datetime,
                 today: date) -> SessionForms | TestForms | None:
    """The reader of :data:`SignedForm` for a file of ``kind`` (sessions, tests), or None."""
    if kind == "sessions":
        return SessionForms(index, decimal_comma, now)
    if kind == "tests":
        return TestForms(index, decimal_comma, today)
    return None

