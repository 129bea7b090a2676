"""The application log, written so that no patient value reaches it.

Exception messages from database drivers can quote the values involved (a unique-key clash
names the MRN, a too-long value is echoed), so the log keeps each exception's type and the
code locations of its traceback, never its message.
"""

from __future__ import annotations

import logging
import logging.handlers
import traceback
from types import TracebackType

from clinic_app.config import data_dir, make_private

LOG_NAME = "backstep.log"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def describe_exception(exc: BaseException) -> str:
    """Type names and code locations of ``exc`` and its causes, without their messages."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
                            for f in reversed(frames))
        lines.append(f"{type(current).__module__}.{type(current).__qualname__}"
                     + (f" at {where}" if where else ""))
        current = current.__cause__ or current.__context__
    return "\n  caused by ".join(lines)


class SafeFormatter(logging.Formatter):
    """Formats exceptions as :func:`describe_exception` does: no messages, so no values."""

    def formatException(self, ei: ExcInfo) -> str:  # type: ignore[override]  # noqa: N802
        return "  " + describe_exception(ei[1]) if ei[1] is not None else ""


def setup_logging() -> logging.Handler:
    """Send INFO and above to ``logs/backstep.log`` in the data folder (owner-only, rotated).

    Idempotent; falls back to stderr only when the folder cannot be written.
    """
    root = logging.getLogger()
    for existing in root.handlers:
        if getattr(existing, "_backstep", False):
            return existing
    try:
        folder = data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        make_private(folder)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / LOG_NAME, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        make_private(folder / LOG_NAME)
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._backstep = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def log_path() -> str:
    """Where :func:`setup_logging` writes (for messages that point the user to it)."""
    return str(data_dir() / "logs" / LOG_NAME)
