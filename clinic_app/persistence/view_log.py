""""View" audit events that never make a read wait or fail.

Opening a chart is a read, but it is recorded in the audit trail, and appending to the
trail is a write. While another workstation imports or restores, the writer's lock is
held for many seconds, and even a free lock can mean a slow commit: each commit waits for
the disk, which a large import keeps busy (300 ms per commit was measured). A chart must
still open at once. So every view goes to a queue that a background thread appends to
the trail in order (chained and signed like every event, with the time the chart was
opened in its detail when it is written late), and opening the chart waits for its event
at most ``QUICK_WAIT_MS``. What is still queued when the database is closed is written
then, waiting the normal busy timeout; failing that it is spooled to an owner-only file
beside the workstation's audit head and written at the next view.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from clinic_app.domain.errors import DomainError
from clinic_app.persistence.repositories import utc_now

if TYPE_CHECKING:
    from clinic_app.persistence.uow import Database

log = logging.getLogger(__name__)

QUICK_WAIT_MS = 50  # what opening a chart may wait for its view event, at most
RETRY_WAIT_MS = 2_000  # what the background writer waits per attempt
BACKOFF_S = (0.25, 0.5, 1.0, 2.0)
LATE_AFTER_S = 2.0  # a later write says when the chart was really opened


@dataclass(frozen=True)
class PendingView:
    actor: str
    patient_id: uuid.UUID
    opened_at: datetime


class ViewLog:
    """Appends "view" events for one :class:`Database`; thread-safe."""

    def __init__(self, db: Database, spool: Path) -> None:
        self._db = db
        self._spool = spool
        self._pending: deque[PendingView] = deque()
        self._lock = threading.Lock()
        # Views queued and views written since the start: a view is written once
        # ``_written`` reaches the number ``_queued`` had when it was queued.
        self._queued = 0
        self._written = 0
        self._done = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._load_spool()

    @property
    def pending(self) -> int:
        """How many view events wait to be written."""
        with self._lock:
            return len(self._pending)

    def record(self, actor: str, patient_id: uuid.UUID) -> bool:
        """Record that ``actor`` opened the chart of ``patient_id``: True when the event was
        written within ``QUICK_WAIT_MS``, False when it is still queued (behind another
        writer or a slow disk; it is written as soon as the database lets it). Never raises
        for a busy database."""
        view = PendingView(actor, patient_id, utc_now())
        with self._lock:
            if not self._closed:
                self._pending.append(view)  # in the order the charts were opened
                self._queued += 1
                mine = self._queued
                self._start()
                return self._done.wait_for(lambda: self._written >= mine,
                                           QUICK_WAIT_MS / 1000)
        self._write([view], None)  # closed: no writer thread any more, so write it here
        return True

    def wait_written(self, timeout: float) -> bool:
        """Block until nothing is queued (tests and benches); True when the queue emptied."""
        deadline = utc_now().timestamp() + timeout
        while utc_now().timestamp() < deadline:
            if not self.pending:
                return True
            self._wake.set()
            threading.Event().wait(0.02)
        return not self.pending

    def close(self) -> None:
        """Write what is queued (waiting the normal busy timeout), else spool it to disk."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(RETRY_WAIT_MS / 1000 + 1)
        with self._lock:
            left = list(self._pending)
            self._pending.clear()
        if not left:
            return
        try:
            self._write(left, None)
        except DomainError as exc:
            log.warning("%d chart view event(s) could not be written yet (%s); kept in %s",
                        len(left), type(exc).__name__, self._spool.name)
            self._save_spool(left)

    # --- the background writer -------------------------------------------------------
    def _start(self) -> None:
        """(Lock held.) Start the writer thread unless it runs."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="backstep-view-log",
                                            daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        attempt = 0
        while True:
            with self._lock:
                if self._closed or not self._pending:
                    self._thread = None
                    return
                batch = list(self._pending)
            try:
                self._write(batch, RETRY_WAIT_MS)
            except DomainError as exc:
                if not _busy(exc):
                    log.warning("Writing queued chart view events failed (%s); retrying",
                                type(exc).__name__)
                self._wake.clear()
                self._wake.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1
                continue
            attempt = 0
            with self._lock:
                for _ in batch:
                    self._pending.popleft()
                self._written += len(batch)
                self._done.notify_all()

    def _write(self, views: list[PendingView], max_wait_ms: int | None) -> None:
        """Append ``views`` in one transaction per run of the same actor, in order.

        The account is not re-read here: the chart was opened under a checked principal,
        and a deactivation since then must not erase the record that it was opened.
        """
        i = 0
        while i < len(views):
            actor = views[i].actor
            j = i
            while j < len(views) and views[j].actor == actor:
                j += 1
            with self._db.unit_of_work(actor, max_wait_ms=max_wait_ms) as uow:
                now = utc_now()
                for view in views[i:j]:
                    late = (now - view.opened_at).total_seconds() > LATE_AFTER_S
                    detail = (f"chart opened at {view.opened_at:%Y-%m-%d %H:%M:%S} UTC; "
                              "recorded once the database was free" if late else "")
                    uow.audit.record("view", "patient", view.patient_id, view.patient_id,
                                     detail=detail)
            i = j

    # --- spool ----------------------------------------------------------------------------
    def _save_spool(self, views: list[PendingView]) -> None:
        self._spool.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            for v in views:
                fh.write(json.dumps({"actor": v.actor, "patient_id": str(v.patient_id),
                                     "opened_at": v.opened_at.isoformat()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _load_spool(self) -> None:
        try:
            lines = self._spool.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                item = json.loads(line)
                self._pending.append(PendingView(
                    str(item["actor"]), uuid.UUID(item["patient_id"]),
                    datetime.fromisoformat(item["opened_at"])))
            except (ValueError, KeyError, TypeError):
                log.warning("Skipped an unreadable line of %s", self._spool.name)
        self._spool.unlink()
        if self._pending:
            with self._lock:
                self._queued += len(self._pending)
                self._start()


def _busy(exc: BaseException) -> bool:
    from clinic_app.persistence.uow import DatabaseBusyError

    return isinstance(exc, DatabaseBusyError)
