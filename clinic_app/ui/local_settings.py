"""Per-workstation settings kept in ``settings.json`` in the data folder.

The database URL chosen in the Settings dialog (a PostgreSQL server shared by several
workstations) applies at the next start of the GUI and to every command; ``--db`` and
``CLINIC_APP_DB`` still take precedence (see :func:`clinic_app.config.resolve`). Also the
auto-lock minutes.
"""

from __future__ import annotations

import json

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from clinic_app import config
from clinic_app.domain.errors import ValidationError

DB_KEY = "db_url"


# One reader for the GUI and the command line (config.resolve honours the saved URL too).
settings_path = config.settings_path
load = config.load_settings
saved_db_url = config.saved_db_url


def check_db_url(url: str) -> str:
    """A PostgreSQL URL as typed, checked; raises ValidationError naming "Database URL"."""
    text = url.strip()
    allowed = "postgresql://user:password@host:5432/database"
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ValidationError("Database URL", f"{text!r} is not a database URL", allowed) from None
    if not parsed.drivername.startswith("postgresql"):
        raise ValidationError("Database URL", "must point to a PostgreSQL server", allowed)
    if not parsed.host or not parsed.database:
        raise ValidationError("Database URL", "needs a host and a database name", allowed)
    return text


def save_db_url(url: str | None) -> None:
    """Store ``url`` (``None``: back to the local SQLite file), atomically."""
    data = load()
    if url:
        data[DB_KEY] = check_db_url(url)
    else:
        data.pop(DB_KEY, None)
    _write(data)


LOCK_KEY = "auto_lock_minutes"
DEFAULT_LOCK_MINUTES = 15
LOCK_RANGE = (1, 240)


def auto_lock_minutes() -> int:
    """Minutes without input before the window locks (default 15)."""
    value = load().get(LOCK_KEY, DEFAULT_LOCK_MINUTES)
    if isinstance(value, int) and LOCK_RANGE[0] <= value <= LOCK_RANGE[1]:
        return value
    return DEFAULT_LOCK_MINUTES


def save_auto_lock_minutes(minutes: int) -> None:
    if not LOCK_RANGE[0] <= minutes <= LOCK_RANGE[1]:
        raise ValidationError("Auto-lock", f"{minutes} minutes is out of range",
                              f"{LOCK_RANGE[0]}-{LOCK_RANGE[1]} minutes")
    data = load()
    data[LOCK_KEY] = minutes
    _write(data)


def _write(data: dict[str, object]) -> None:
    path = settings_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


SPEED_UNIT_KEY = "speed_unit"
SPEED_UNITS = ("km/h", "m/s")


def speed_unit() -> str:
    """The unit this workstation types session speeds in (the last one chosen; km/h)."""
    value = load().get(SPEED_UNIT_KEY)
    return value if value in SPEED_UNITS else SPEED_UNITS[0]


def save_speed_unit(unit: str) -> None:
    if unit not in SPEED_UNITS:
        raise ValidationError("Speed unit", f"{unit!r} is not a speed unit",
                              ", ".join(SPEED_UNITS))
    data = load()
    data[SPEED_UNIT_KEY] = unit
    _write(data)
