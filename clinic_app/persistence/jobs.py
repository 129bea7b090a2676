"""Long writing jobs announce themselves, so other writers wait for them with a reason.

An import (and a restore) holds SQLite's only write lock for as long as it stores. Other
saves must then wait for it, naming it, instead of failing after the usual busy timeout
("database is locked"). While such a job runs it keeps a small marker file beside the
database (``FILE-job``: what runs, who started it, on which workstation); a writer whose
``BEGIN IMMEDIATE`` times out keeps waiting while the marker is there (up to
``JOB_WAIT_S``), and the window shows what it waits for. The marker is removed when the
job ends; one left by a killed process only lengthens waits that would otherwise fail,
and the next job replaces it. PostgreSQL writers are not serialised (a save waits only
for the import's final audit append, without a timeout), so no marker is needed there.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JOB_WAIT_S = 15 * 60  # how long a save waits behind an announced job before giving up
waits = 0  # busy timeouts this process sat out behind an announced job (for diagnostics)
LABELS = {"import": "importing", "restore": "restoring a backup"}


def marker_path(db_file: Path) -> Path:
    """The job marker of a SQLite file."""
    return db_file.with_name(db_file.name + "-job")


@contextmanager
def announced(db_file: Path | None, job: str, actor: str, workstation: str) -> Iterator[None]:
    """Keep the marker of ``job`` beside ``db_file`` (SQLite) while the block runs."""
    if db_file is None:
        yield
        return
    path = marker_path(db_file)
    tmp = path.with_name(path.name + f".{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"job": job, "actor": actor, "workstation": workstation,
                   "pid": os.getpid()}, fh)
    os.replace(tmp, path)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def running(db_file: Path | None) -> str | None:
    """What another workstation is doing that holds the database, e.g.
    ``"anna is importing"``; None when no job is announced (or on PostgreSQL)."""
    if db_file is None:
        return None
    try:
        doc = json.loads(marker_path(db_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    what = LABELS.get(str(doc.get("job")), "running a long job")
    who = str(doc.get("actor") or "another user")
    return f"{who} is {what}"
