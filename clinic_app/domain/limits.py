"""Limits every form, import and service applies to free text and to clinical dates.

* Text: a length cap, and no control characters or text-direction (bidi) controls. An ESC
  or BEL in a name rings bells and rewrites terminals when the name is printed; a
  right-to-left override (U+202E) makes a name or note display as something else than it
  stores (Trojan Source, CVE-2021-42574). Multi-line fields keep tab and line breaks, and
  the left-to-right / right-to-left *marks* that Arabic and Hebrew writers type; names and
  other one-line fields allow none of these.
* Passwords: at least :data:`MIN_PASSWORD` characters.
* Dates: nothing before 1900, nothing before the patient's birth or the episode's start
  where those are known, nothing more than a day in the future.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta

from clinic_app.domain.errors import ValidationError

MIN_PASSWORD = 10
"""The shortest password an account may have."""

EARLIEST_DAY = date(1900, 1, 1)
MAX_AHEAD = timedelta(days=1)
WORLD_AHEAD = timedelta(hours=14)
"""The largest UTC offset in use: a day starts this long before midnight UTC somewhere."""

# C0/C1 controls (except tab, LF, CR), DEL, line/paragraph separators, and the bidi
# embeddings, overrides and isolates.
_MULTI_LINE_BAD = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# The same, plus tab, line breaks and the bidi marks (ALM, LRM, RLM).
_ONE_LINE_BAD = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
TEXT_ALLOWED = "letters, digits, spaces and punctuation; no control or text-direction characters"


def _char_name(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "")
    return f"{code} {name}" if name else f"{code} (control character)"


def text_problem(
    field: str, value: object, max_len: int, *, multiline: bool = True, required: bool = False
) -> ValidationError | None:
    """What is wrong with a text field's value, or ``None``; the message names the field."""
    if not isinstance(value, str):
        return ValidationError(field, "must be text", f"0-{max_len} characters")
    if required and not value.strip():
        return ValidationError(field, "is required", f"1-{max_len} characters")
    if len(value) > max_len:
        return ValidationError(
            field, f"is {len(value):,} characters long", f"at most {max_len:,} characters"
        )
    bad = (_MULTI_LINE_BAD if multiline else _ONE_LINE_BAD).search(value)
    if bad is not None:
        return ValidationError(
            field,
            f"contains the invisible character {_char_name(bad.group())} "
            f"at position {bad.start() + 1}",
            TEXT_ALLOWED + ("" if multiline else "; one line"),
        )
    return None


def check_text(
    field: str, value: object, max_len: int, *, multiline: bool = True, required: bool = False
) -> None:
    """Raise the :func:`text_problem` of ``value``, if any."""
    problem = text_problem(field, value, max_len, multiline=multiline, required=required)
    if problem is not None:
        raise problem


def first_day(born: date | None = None, episode_start: date | None = None) -> tuple[date, str]:
    """The earliest allowed day of a clinical record, and how a message names it."""
    day, what = EARLIEST_DAY, EARLIEST_DAY.isoformat()
    if born is not None and born > day:
        day, what = born, f"the patient's birth date {born.isoformat()}"
    if episode_start is not None and episode_start > day:
        day, what = episode_start, f"the episode start {episode_start.isoformat()}"
    return day, what


def day_problem(
    field: str, day: object, *, born: date | None = None, episode_start: date | None = None,
    today: date | None = None,
) -> ValidationError | None:
    """What is wrong with the day of a test result or similar record, or ``None``."""
    if not isinstance(day, date) or isinstance(day, datetime):
        return ValidationError(field, "is required", "a date")
    today = today or date.today()
    earliest, what = first_day(born, episode_start)
    latest = today + MAX_AHEAD
    if earliest <= day <= latest:
        return None
    where = f"is before {what}" if day < earliest else "is more than a day in the future"
    return ValidationError(
        field, f"{day.isoformat()} {where}",
        f"between {what} and {latest.isoformat()} (tomorrow)",
    )


def instant_floor(born: date | None = None, episode_start: date | None = None) -> datetime:
    """The earliest allowed instant: the first allowed day has begun somewhere on Earth.

    Instants are compared, not dates, so no conversion between zones can overflow (year 1
    or 9999 with an offset) and a session typed just after local midnight is not refused.
    """
    day, _ = first_day(born, episode_start)
    return datetime.combine(day, time.min, tzinfo=UTC) - WORLD_AHEAD


def show_instant(when: datetime) -> str:
    """``when`` as the person gave it: date and minutes, plus its offset when that is not this
    computer's own (a wall-clock time typed here reads as typed; a file's offset is kept)."""
    shown = when.isoformat(sep=" ", timespec="minutes")
    try:
        local = when.astimezone().utcoffset()
    except (OverflowError, ValueError):  # years 1 and 9999 cannot always be converted
        return shown
    return shown[:16] if local == when.utcoffset() else shown


def instant_problem(
    field: str, when: object, now: datetime | None = None, *, born: date | None = None,
    episode_start: date | None = None,
) -> ValidationError | None:
    """What is wrong with the date/time of a session, or ``None``."""
    if not isinstance(when, datetime):
        return ValidationError(field, "is required", "a date and time")
    if when.tzinfo is None or when.utcoffset() is None:
        return ValidationError(field, "has no time zone", "a date and time with a time zone")
    now = now or datetime.now().astimezone()
    latest = now + MAX_AHEAD
    floor = instant_floor(born, episode_start)
    if floor <= when <= latest:
        return None
    _, what = first_day(born, episode_start)
    where = f"is before {what}" if when < floor else "is more than a day in the future"
    return ValidationError(
        field, f"{show_instant(when)} {where}",
        f"between {what} and {latest.strftime('%Y-%m-%d %H:%M')} (a day from now)",
    )
