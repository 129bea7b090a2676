"""Append-only audit trail with a tamper-evident HMAC-SHA256 chain.

Each event's ``mac`` covers its own content and the previous event's ``mac``, so changing,
inserting or removing any row breaks the chain from that row on. Appends are serialised
(SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL: a transaction advisory lock) so the
chain stays linear across workstations. The key lives outside the database (see
``clinic_app.config.audit_key``), so someone editing the database cannot re-sign rows.
Each event names the workstation that wrote it, and workstations keep signed checkpoints of
the trail outside the database (``anchor.py``) so that cutting rows off the end is detected.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from clinic_app.domain.records import AuditEvent
from clinic_app.persistence import mapping
from clinic_app.persistence.models import AuditRow

PG_AUDIT_LOCK = 0x41756474  # "Audt"
GENESIS = "0" * 64


def _canonical(row: Any, prev_mac: str) -> bytes:
    """The bytes the mac signs: ``row`` is an :class:`AuditRow` or has the same attributes."""
    at = row.at.astimezone(UTC).isoformat(timespec="microseconds")
    doc = {
        "seq": row.seq, "at": at, "actor": row.actor, "action": row.action,
        "entity": row.entity, "entity_id": row.entity_id,
        "patient_id": str(row.patient_id) if row.patient_id else None,
        "before": row.before, "after": row.after, "detail": row.detail, "prev": prev_mac,
    }
    workstation = getattr(row, "workstation", None)
    if workstation is not None:  # events written before workstations were recorded have none
        doc["ws"] = workstation
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_mac(key: bytes, row: Any, prev_mac: str) -> str:
    return hmac.new(key, _canonical(row, prev_mac), hashlib.sha256).hexdigest()


# Audit actions that change what a chart shows (views, exports and sign-ins do not).
DATA_ACTIONS = frozenset({"create", "update", "entered_in_error", "import"})


class AuditRepository:
    """Appends and reads audit events inside the caller's transaction."""

    def __init__(self, session: Session, actor: str, now: Callable[[], datetime],
                 key: bytes, workstation: str | None = None) -> None:
        self.s = session
        self.actor = actor
        self.now = now
        self.key = key
        self.workstation = workstation
        self.appended: list[tuple[int, str]] = []
        # Data events of this transaction, announced to other workstations on commit
        # (persistence/changes.py): (seq, entity, entity id, patient id).
        self.changed: list[tuple[int, str, str | None, uuid.UUID | None]] = []
        self.bulk_change = False

    def record(
        self, action: str, entity: str, entity_id: uuid.UUID | str | None = None,
        patient_id: uuid.UUID | None = None, before: Any = None, after: Any = None,
        detail: str = "",
    ) -> None:
        """Append one event to the chain, in the caller's transaction."""
        prev_seq, prev_mac = self._last()
        row = AuditRow(
            seq=prev_seq + 1, at=self.now(), actor=self.actor, action=action, entity=entity,
            entity_id=str(entity_id) if entity_id is not None else None,
            patient_id=patient_id,
            before=mapping.jsonable(before) if before is not None else None,
            after=mapping.jsonable(after) if after is not None else None,
            detail=detail, prev_mac=prev_mac, workstation=self.workstation,
        )
        # Round-trip the JSON now so the mac covers exactly what the database will return.
        row.before = json.loads(json.dumps(row.before))
        row.after = json.loads(json.dumps(row.after))
        row.mac = compute_mac(self.key, row, prev_mac)
        self.s.add(row)
        self.s.flush()
        self.appended.append((row.seq, row.mac))
        if action in DATA_ACTIONS:
            self.changed.append((row.seq, entity, row.entity_id, patient_id))

    def record_many(
        self, action: str, entity: str,
        events: Sequence[tuple[uuid.UUID | str | None, uuid.UUID | None, str]],
    ) -> None:
        """Append one event per ``(entity_id, patient_id, detail)``, chained in that order.

        The same events, and the same chain, as calling :meth:`record` for each (at one
        time stamp), written with one executemany instead of a flush per event.
        """
        if not events:
            return
        seq, mac = self._last()
        at = self.now()
        rows: list[dict[str, Any]] = []
        for entity_id, patient_id, detail in events:
            seq += 1
            row = SimpleNamespace(
                seq=seq, at=at, actor=self.actor, action=action, entity=entity,
                entity_id=str(entity_id) if entity_id is not None else None,
                patient_id=patient_id, before=None, after=None, detail=detail, prev_mac=mac,
                workstation=self.workstation)
            mac = compute_mac(self.key, row, mac)
            rows.append({**vars(row), "mac": mac})
        self.s.execute(insert(AuditRow), rows)
        self.appended.append((seq, mac))
        if action in DATA_ACTIONS:
            self.bulk_change = True  # thousands of rows: other workstations reload everything

    def _last(self) -> tuple[int, str]:
        """Take the append lock; the last event's seq and mac (0 and GENESIS if none)."""
        if self.s.get_bind().dialect.name == "postgresql":
            self.s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_AUDIT_LOCK})
        last = self.s.execute(
            select(AuditRow.seq, AuditRow.mac).order_by(AuditRow.seq.desc()).limit(1)
        ).first()
        return (last[0], last[1]) if last else (0, GENESIS)

    def for_patient(self, patient_id: uuid.UUID) -> list[AuditEvent]:
        q = select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.seq)
        return [event_of(r) for r in self.s.scalars(q)]

    def latest(self, limit: int = 100, offset: int = 0) -> list[AuditEvent]:
        q = select(AuditRow).order_by(AuditRow.seq.desc()).offset(offset).limit(limit)
        return [event_of(r) for r in self.s.scalars(q)]

    def count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(AuditRow)) or 0)


def event_of(r: AuditRow) -> AuditEvent:
    return AuditEvent(r.seq, r.at, r.actor, r.action, r.entity, r.entity_id, r.patient_id,
                      r.before, r.after, r.detail)


@dataclass
class ChainReport:
    """Result of checking the whole audit trail."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    rows_checked: int = 0  # signed clinical and user rows checked as well

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session, key: bytes, head: tuple[int, str] | None = None,
                 batch: int = 5000) -> ChainReport:
    """Recompute every mac in order; report altered, inserted or removed rows."""
    report = ChainReport()
    prev_mac, prev_seq = GENESIS, 0
    seen_head = head is None
    last_seq = 0
    while True:
        rows = list(session.scalars(
            select(AuditRow).where(AuditRow.seq > last_seq).order_by(AuditRow.seq).limit(batch)
        ))
        if not rows:
            break
        for row in rows:
            report.checked += 1
            if row.prev_mac != prev_mac:
                report.problems.append(
                    f"event {row.seq}: the event before it (after {prev_seq}) was removed, "
                    "inserted or changed")
            elif not hmac.compare_digest(row.mac, compute_mac(key, row, row.prev_mac)):
                report.problems.append(f"event {row.seq}: its content was altered")
            if head is not None and row.seq == head[0]:
                seen_head = True
                if row.mac != head[1]:
                    report.problems.append(
                        f"event {row.seq}: differs from the event this workstation wrote")
            prev_mac, prev_seq = row.mac, row.seq
        last_seq = rows[-1].seq
        session.expunge_all()
    if not seen_head and head is not None:
        report.problems.append(
            f"event {head[0]}, written by this workstation, is missing: "
            "events were removed from the end of the trail")
    return report
