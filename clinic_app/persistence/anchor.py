"""Signed checkpoints of the audit chain's head, kept where the database cannot rewrite them.

A checkpoint says "the trail whose first event has mac F had event N with mac H at time T",
signed with the audit key. Each workstation keeps the checkpoint of the last event it wrote
in its data folder (one file per database), and every backup's signature file carries the
checkpoint of the trail when the backup was taken. ``audit verify`` checks that every
checkpoint it can find still holds, so cutting events off the end of the trail is detected
by any workstation that wrote them or holds a later backup, whichever workstation verifies.

A restore legitimately rewinds the trail; checkpoints older than the last (chained, signed)
restore event are therefore not held against the restored trail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinic_app.persistence.models import AuditRow

SIGNED_FIELDS = ("seq", "head", "first", "written_at", "workstation")


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement about the audit chain (see the module docstring)."""

    seq: int
    head: str
    first: str
    written_at: str
    workstation: str

    def signature(self, key: bytes) -> str:
        doc = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hmac.new(key, b"backstep-checkpoint\x1e" + doc.encode(), hashlib.sha256).hexdigest()

    def to_json(self, key: bytes) -> dict[str, Any]:
        return {**asdict(self), "sig": self.signature(key)}

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.written_at)


class BadCheckpoint(ValueError):
    """A checkpoint document that is malformed or not signed with the audit key."""


def parse(key: bytes, doc: Any) -> Checkpoint:
    """Check a checkpoint's signature; raise :class:`BadCheckpoint` if it does not hold."""
    try:
        cp = Checkpoint(int(doc["seq"]), str(doc["head"]), str(doc["first"]),
                        str(doc["written_at"]), str(doc["workstation"]))
        sig = str(doc["sig"])
        cp.when  # noqa: B018 - a malformed time is a malformed checkpoint
    except (KeyError, TypeError, ValueError) as exc:
        raise BadCheckpoint("malformed") from exc
    if not hmac.compare_digest(sig, cp.signature(key)):
        raise BadCheckpoint("not signed with this audit key")
    return cp


def document_mac(key: bytes, doc: dict[str, Any]) -> str:
    """The HMAC of a backup's signature document (every field but ``sig``)."""
    body = {k: v for k, v in doc.items() if k != "sig"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, b"backstep-backup\x1e" + text.encode(), hashlib.sha256).hexdigest()


def document_signed(key: bytes, doc: Any) -> bool:
    """True when a backup signature document carries a valid HMAC made with ``key``."""
    return isinstance(doc, dict) and hmac.compare_digest(str(doc.get("sig", "")),
                                                         document_mac(key, doc))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def current(session: Session, key: bytes, workstation: str) -> Checkpoint | None:
    """A checkpoint of the trail's last event as the session sees it (None: empty trail)."""
    last = session.execute(
        select(AuditRow.seq, AuditRow.mac).order_by(AuditRow.seq.desc()).limit(1)).first()
    if last is None:
        return None
    first = session.scalar(select(AuditRow.mac).where(AuditRow.seq == 1)) or ""
    return Checkpoint(last[0], last[1], first, now_iso(), workstation)


def write_file(path: Path, key: bytes, cp: Checkpoint) -> None:
    """Replace ``path`` atomically with the signed checkpoint (owner-only)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(cp.to_json(key), fh)
    os.replace(tmp, path)


@dataclass
class Anchor:
    """Where a checkpoint was found, for messages."""

    source: str
    checkpoint: Checkpoint


def check(session: Session, key: bytes, anchors: list[Anchor], workstation: str,
          own_anchor_state: str | None, own_anchor_name: str) -> list[str]:
    """Problems: checkpoints the trail no longer holds, or this workstation's anchor file
    ``own_anchor_state`` ("missing", "not signed"; None when it is fine) while the trail
    holds events this workstation signed."""
    problems: list[str] = []
    first = session.scalar(select(AuditRow.mac).where(AuditRow.seq == 1))
    last_restore = session.scalar(
        select(func.max(AuditRow.at)).where(AuditRow.action == "restore"))
    for anchor in anchors:
        cp = anchor.checkpoint
        if first is not None and cp.first and cp.first != first:
            continue  # a checkpoint of another database's trail
        if last_restore is not None and cp.when <= last_restore:
            continue  # the trail was rewound by a restore after this checkpoint
        mac = session.scalar(select(AuditRow.mac).where(AuditRow.seq == cp.seq))
        if mac is None:
            problems.append(
                f"event {cp.seq}, recorded by {anchor.source} at {cp.written_at}, is missing: "
                "events were removed from the end of the trail")
        elif not hmac.compare_digest(mac, cp.head):
            problems.append(
                f"event {cp.seq}: differs from the event recorded by {anchor.source} "
                f"at {cp.written_at}")
    if own_anchor_state is not None:
        mine = session.scalar(select(func.count()).select_from(AuditRow)
                              .where(AuditRow.workstation == workstation)) or 0
        if mine:
            problems.append(
                f"this workstation's anchor file {own_anchor_name} is {own_anchor_state} "
                f"although the trail holds {mine} event(s) this workstation wrote: it was "
                "deleted or replaced")
    return problems
