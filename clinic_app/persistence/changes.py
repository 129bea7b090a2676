"""Telling other workstations what was stored, so their open views can refresh.

PostgreSQL: every writing transaction that stored clinical data sends one ``NOTIFY`` on
:data:`CHANNEL` inside the transaction, so the server delivers it only if the transaction
commits. The payload names the records (kind, id, patient id) and the writing
:class:`~clinic_app.persistence.uow.Database` (a random token, so a workstation skips its
own notices); never a patient's values. A :class:`ChangeWatcher` ``LISTEN``s on a
connection of its own.

SQLite: there is no server to push, so the watcher polls ``PRAGMA data_version`` on its own
connection (a cheap in-memory counter that moves when another connection commits) and, when
it moved, reads the audit events appended since, which name the same records.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from clinic_app.domain import changes as kinds
from clinic_app.domain.changes import RecordChange
from clinic_app.persistence.audit import DATA_ACTIONS

if TYPE_CHECKING:
    from clinic_app.persistence.audit import AuditRepository
    from clinic_app.persistence.uow import Database

log = logging.getLogger(__name__)

CHANNEL = "backstep_changes"
# Kinds of record whose changes are announced; others (users, backups) refresh nothing.
KINDS = frozenset({kinds.PATIENT, kinds.EPISODE, kinds.SESSION, kinds.TEST_RESULT,
                   kinds.CLINIC, kinds.GOAL, kinds.PRESCRIPTION})
# More records than this in one transaction are announced as "reload everything"; the
# payload must stay well below PostgreSQL's 8000-byte limit.
MAX_LISTED = 20
POLL_SECONDS = 0.5


def transaction_changes(audit: AuditRepository) -> list[RecordChange] | None:
    """The records a transaction changed, from its audit events; ``None`` for a bulk change."""
    if audit.bulk_change or any(e == "demo" for _s, e, _i, _p in audit.changed):
        return None
    found = [RecordChange(entity, entity_id, patient_id, audit.actor)
             for _seq, entity, entity_id, patient_id in audit.changed if entity in KINDS]
    return None if len(found) > MAX_LISTED else found


def payload(changed: list[RecordChange] | None, origin: str, actor: str) -> str:
    """The NOTIFY payload: ids and kinds only."""
    doc: dict[str, Any] = {"o": origin, "a": actor}
    if changed is None:
        doc["all"] = True
    else:
        doc["c"] = [[c.kind, c.record_id, str(c.patient_id) if c.patient_id else None]
                    for c in changed]
    return json.dumps(doc, separators=(",", ":"))


def notify(session: Session, audit: AuditRepository, origin: str) -> None:
    """PostgreSQL: announce this transaction's changes; delivered only if it commits."""
    if not audit.changed and not audit.bulk_change:
        return
    changed = transaction_changes(audit)
    if changed == []:
        return
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": CHANNEL, "payload": payload(changed, origin, audit.actor)})


def parse_payload(raw: str, own_origin: str) -> list[RecordChange]:
    """The changes a notice announces; ``[]`` for this workstation's own or an unreadable one."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return [RecordChange(kinds.ALL)]
    if not isinstance(doc, dict) or doc.get("o") == own_origin:
        return []
    actor = str(doc.get("a") or "")
    if doc.get("all"):
        return [RecordChange(kinds.ALL, actor=actor)]
    out = []
    for item in doc.get("c") or []:
        try:
            kind, record_id, patient = item
            out.append(RecordChange(str(kind), record_id,
                                    uuid.UUID(patient) if patient else None, actor))
        except (TypeError, ValueError):
            return [RecordChange(kinds.ALL, actor=actor)]
    return out


class ChangeWatcher:
    """Calls ``deliver`` (on its own thread) with what other workstations stored.

    One daemon thread and one database connection of its own; :meth:`stop` ends both. If the
    connection is lost, it reconnects and delivers a single "reload everything" change, as
    notices sent meanwhile are gone.
    """

    def __init__(self, db: Database, deliver: Callable[[Sequence[RecordChange]], None],
                 interval: float = POLL_SECONDS) -> None:
        self._db = db
        self._deliver = deliver
        self._interval = interval
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-watcher", daemon=True)

    def start(self) -> ChangeWatcher:
        """Start watching; returns once the watcher listens (or has failed to connect)."""
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._closed()

    # --- the thread ------------------------------------------------------------------
    def _closed(self) -> bool:
        # A closed Database ends its watcher: no reconnecting to a clinic that was let go.
        return self._stop.is_set() or bool(getattr(self._db, "_closing", False))

    def _run(self) -> None:
        missed = False
        while not self._closed():
            conn = None
            try:
                conn = self._db.engine.raw_connection()
                driver = conn.driver_connection
                conn.detach()  # its own connection: never handed back to the pool
                if self._db.dialect == "postgresql":
                    self._listen(driver, missed)
                else:
                    self._poll(conn, missed)
            except Exception as exc:  # noqa: BLE001 - a lost connection must not end watching
                # The class name only: a driver's message may quote a statement's values.
                log.warning("Live updates interrupted (%s); reconnecting", type(exc).__name__)
                missed = True
            finally:
                self._ready.set()
                if conn is not None:
                    with contextlib.suppress(Exception):  # already broken
                        conn.close()
            self._stop.wait(2.0)

    def _send(self, found: Sequence[RecordChange]) -> None:
        if found and not self._stop.is_set():
            try:
                self._deliver(found)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the watcher
                log.warning("A live-update listener failed", exc_info=False)

    def _listen(self, pg: Any, missed: bool) -> None:
        pg.autocommit = True
        pg.execute(f"LISTEN {CHANNEL}")
        self._ready.set()
        if missed:
            self._send([RecordChange(kinds.ALL)])
        origin = self._db.origin
        while not self._closed():
            found: list[RecordChange] = []
            # Wake on the first notice, then gather what came with it into one delivery.
            notes = list(pg.notifies(timeout=self._interval, stop_after=1))
            if notes:
                notes += pg.notifies(timeout=0.05)
            for note in notes:
                found += parse_payload(note.payload, origin)
            self._send(found)

    def _poll(self, conn: Any, missed: bool) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA data_version")
        version = cur.fetchone()[0]
        cur.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_event")
        last = cur.fetchone()[0]
        self._ready.set()
        if missed:
            self._send([RecordChange(kinds.ALL)])
        marks = ", ".join("?" for _ in DATA_ACTIONS)
        query = ("SELECT seq, action, entity, entity_id, patient_id, actor FROM audit_event "
                 f"WHERE seq > ? AND action IN ({marks}) ORDER BY seq LIMIT ?")
        while not self._stop.wait(self._interval) and not self._closed():
            cur.execute("PRAGMA data_version")
            now = cur.fetchone()[0]
            if now == version:
                continue
            version = now
            rows = cur.execute(query, (last, *sorted(DATA_ACTIONS), MAX_LISTED + 1)).fetchall()
            cur.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_event")
            newest = cur.fetchone()[0]
            own = self._db.own_events(last, newest)
            last = newest
            self._send(_from_rows(rows, own, truncated=len(rows) > MAX_LISTED))


def _from_rows(rows: Sequence[Sequence[Any]], own: set[int], truncated: bool = False,
               ) -> list[RecordChange]:
    """Changes from audit rows (seq, action, entity, entity id, patient id, actor), without
    this workstation's own events; ``truncated``: more rows exist than were read."""
    theirs = [r for r in rows if r[0] not in own]
    if not theirs:
        return []
    if truncated or any(r[2] == "demo" or r[1] == "import" for r in theirs):
        return [RecordChange(kinds.ALL, actor=str(theirs[0][5]))]
    out = []
    for _seq, _action, entity, entity_id, patient, actor in theirs:
        if entity not in KINDS:
            continue
        pid = patient if isinstance(patient, uuid.UUID) else uuid.UUID(patient) if patient \
            else None
        out.append(RecordChange(entity, entity_id, pid, str(actor)))
    return out
