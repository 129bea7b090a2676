"""Backup, restore and schema use cases, each recorded in the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from clinic_app.config import backup_dir, make_private
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.records import AuditEvent
from clinic_app.persistence import backup as backups
from clinic_app.persistence.audit import ChainReport
from clinic_app.persistence.uow import Database


def _admin(actor: Principal) -> Principal:
    principal = as_principal(actor)
    require(principal, Action.ADMIN)
    return principal


def backup_now(
    db: Database, actor: Principal, out: Path | None = None, force: bool = False,
    progress: backups.Progress | None = None,
) -> backups.BackupResult:
    """Write a verified backup (default: the data folder's backups/) and audit it.

    ``out`` may be a folder (a time-stamped file is written in it); an existing file is
    replaced only with ``force``. The audit event is written once the file is in place; if
    it cannot be committed the file is removed again, so no backup is left unaudited.
    """
    return _backup(db, _admin(actor), out, "", force, progress)


def _backup(
    db: Database, principal: Principal, out: Path | None, note: str, force: bool = False,
    progress: backups.Progress | None = None,
) -> backups.BackupResult:
    db.require_intact()  # never add a copy of a damaged file to the backups
    # Fail before the copy (not after it) if the account was deactivated meanwhile.
    with db.unit_of_work(principal, read_only=True):
        pass
    target = out or backups.unused_path(backup_dir() / backups.default_backup_name(db))
    result = backups.backup(db, target, force, progress)
    make_private(result.path)  # a whole clinic's records: owner-only, whoever calls this
    try:
        with db.unit_of_work(principal) as uow:
            uow.audit.record("backup", "database",
                             detail=f"{note}{result.path} ({result.size_bytes} bytes)")
    except BaseException:
        result.path.unlink(missing_ok=True)
        backups.signature_path(result.path).unlink(missing_ok=True)
        raise
    return result


def restore_from(
    db: Database, actor: Principal, source: Path, *, refuse_connected: bool = True
) -> backups.BackupResult:
    """Verify and restore a backup; the data it replaces is kept as a safety backup.

    Refused on PostgreSQL while others are connected (naming them); no write acknowledged
    before the restore is lost. The restore is audited before and after (see
    :func:`clinic_app.persistence.backup.restore`).
    """
    # (The account is not re-read here: a damaged file may not be readable, and restoring is
    # how it is repaired. The caller signed in moments ago. The restored data may not know
    # this account, so the events name who restored it.)
    principal = _admin(actor)
    if Path(source).is_dir():
        raise backups.BackupError(
            f"{source} is a folder, not a backup file: give the backup file inside it "
            "(e.g. backups/backstep-….sqlite3 or ….json.gz)."
        )
    return backups.restore(db, source, backup_dir(), principal.username, refuse_connected)


AUTO_PREFIX = "auto-"


def daily_backup_if_due(
    db: Database, actor: Principal, folder: Path | None = None, keep: int = 14,
    today: date | None = None, progress: backups.Progress | None = None,
) -> backups.BackupResult | None:
    """Take today's automatic backup unless one exists; keep the newest ``keep`` of them.

    Called when the first user of the day signs in, whatever their role: the automatic
    backup is the application's own duty, audited as an automatic backup under that user.
    Returns None when today's backup already exists, here or (PostgreSQL) taken by another
    workstation of the clinic, or while another workstation is taking it.
    """
    principal = as_principal(actor)
    folder = folder or backup_dir()
    when = today or datetime.now(UTC).date()
    if any(folder.glob(f"{AUTO_PREFIX}{when.isoformat()}-*")):
        return None
    with backups.daily_backup_turn(db, f"{AUTO_PREFIX}{when.isoformat()}-") as mine:
        if not mine:
            return None
        return _daily_backup(db, principal, folder, keep, when.isoformat(), progress)


def _daily_backup(
    db: Database, principal: Principal, folder: Path, keep: int, day: str,
    progress: backups.Progress | None,
) -> backups.BackupResult:
    suffix = ".sqlite3" if db.dialect == "sqlite" else ".json.gz"
    stamp = datetime.now(UTC).strftime("%H%M%S")
    target = backups.unused_path(folder / f"{AUTO_PREFIX}{day}-{stamp}{suffix}")
    result = _backup(db, principal, target, backups.AUTOMATIC_NOTE, progress=progress)
    autos = sorted(p for p in folder.glob(f"{AUTO_PREFIX}*")
                   if not p.name.endswith((".part", ".sig")))
    for old in autos[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
        backups.signature_path(old).unlink(missing_ok=True)
    return result


def audit_page(
    db: Database, actor: Principal, offset: int = 0, limit: int = 200
) -> tuple[int, list[AuditEvent]]:
    """Newest-first audit events for the administrators' viewer, with the total count."""
    require(as_principal(actor), Action.ADMIN)
    with db.unit_of_work(actor, read_only=True) as uow:
        return uow.audit.count(), uow.audit.latest(limit, offset)


def verify_audit(db: Database, actor: Principal) -> ChainReport:
    """Check the whole tamper-evident chain; the check itself is audited."""
    require(as_principal(actor), Action.ADMIN)
    report = db.verify_audit()
    with db.unit_of_work(actor) as uow:
        uow.audit.record("verify", "audit", detail=f"{report.checked} events, "
                         f"{len(report.problems)} problem(s)")
    return report
