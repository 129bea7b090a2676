"""The one object the desktop and the command line hold: an open clinic database and, once
someone signed in, the principal every use case acts for.

Neither the GUI nor the CLI touches :class:`~clinic_app.persistence.uow.Database`: they open
a :class:`Clinic`, sign in through it and call its methods, each of which is a use case of
``clinic_app.services`` (permission checked there, one unit of work). The services that a
use case needs are imported when it runs, so holding a ``Clinic`` costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from clinic_app.domain.changes import RecordChange
from clinic_app.domain.cohorts import CohortCurve, CohortFilter, OutcomesData
from clinic_app.domain.errors import DomainError
from clinic_app.domain.imports import ExportSummary, ImportProgress, ImportSummary
from clinic_app.domain.permissions import Principal, as_principal
from clinic_app.domain.readiness import ClinicalSettings
from clinic_app.domain.records import ClinicInfo, Role, User
from clinic_app.persistence.audit import ChainReport
from clinic_app.persistence.uow import (
    Database,
    DatabaseBusyError,
    DatabaseClosedError,
    DatabaseDamagedError,
    busy_message,
)

__all__ = ["Clinic", "DatabaseBusyError", "DatabaseClosedError", "DatabaseDamagedError",
           "NotSignedInError",
           "busy_message", "load_driver"]

if TYPE_CHECKING:
    from clinic_app.persistence.backup import BackupResult
    from clinic_app.persistence.migrate import MigrationResult
    from clinic_app.persistence.move import MoveProgress, MoveResult
    from clinic_app.services.audit_view import AuditPage
    from clinic_app.services.charting import ChartingService
    from clinic_app.services.cohorts import OutcomesExport
    from clinic_app.services.live import LiveUpdates
    from clinic_app.services.plan_of_care import PlanService
    from clinic_app.services.reporting import ReportOutcome


def load_driver(url: str) -> None:
    """Import ``url``'s dialect and DB-API module now (no connection is made); a bad URL is
    ignored here and reported when the clinic is opened."""
    import contextlib

    from clinic_app.persistence.engine import make_engine

    with contextlib.suppress(Exception):
        make_engine(url).dispose()


class NotSignedInError(DomainError):
    """A use case was asked of a :class:`Clinic` nobody has signed in to."""


class Clinic:
    """An open clinic database, bound to the signed-in principal after :meth:`sign_in`."""

    def __init__(self, db: Database, principal: Principal | None = None) -> None:
        self._db = db
        self._principal = as_principal(principal) if principal is not None else None

    # --- opening and closing -------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, backup_dir: Path | None = None, upgrade: bool = True,
             state_dir: Path | None = None, check_in_background: bool = False,
             app_user: str | None = None) -> Clinic:
        """Open (check, migrate) the database at ``url``; see :meth:`Database.open`."""
        return cls(Database.open(url, backup_dir=backup_dir, upgrade=upgrade,
                                 state_dir=state_dir, check_in_background=check_in_background,
                                 app_user=app_user))

    @classmethod
    def open_for_restore(cls, url: str, app_user: str | None = None) -> Clinic:
        """Connect without the start-up checks or migration: restoring is how a damaged
        database is repaired."""
        from clinic_app.persistence.engine import make_engine

        return cls(Database(url, make_engine(url, app_user)))

    def close(self) -> None:
        """Close the connections (and stop the background check)."""
        self._db.close()

    @property
    def integrity_checked(self) -> bool:
        """False while the start-up integrity check still runs in the background."""
        return self._db.integrity_checked

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: work started after it is refused."""
        return self._db.closed

    def __enter__(self) -> Clinic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what the window shows about the database ---------------------------------------
    @property
    def url(self) -> str:
        return self._db.url

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @property
    def sqlite_key(self) -> str | None:
        """The SQLCipher passphrase of an encrypted SQLite file, else None."""
        return self._db.sqlite_key

    @property
    def migration(self) -> MigrationResult | None:
        """What opening the database migrated (None when opened without migrating)."""
        return self._db.migration

    def require_intact(self, timeout: float | None = None) -> None:
        """Wait for the start-up integrity check; raise if it found damage."""
        self._db.require_intact(timeout)

    # --- signing in ----------------------------------------------------------------------
    @property
    def principal(self) -> Principal:
        """Who every use case acts for; raises until someone signed in."""
        if self._principal is None:
            raise NotSignedInError("Sign in first: nobody is signed in to this clinic.")
        return self._principal

    @property
    def signed_in(self) -> bool:
        return self._principal is not None

    def needs_first_admin(self) -> bool:
        """True until the first administrator account exists."""
        from clinic_app.services import security

        return security.needs_first_admin(self._db)

    def create_first_admin(self, username: str, full_name: str, password: str) -> Principal:
        """Create the first administrator and sign them in."""
        from clinic_app.services import security

        self._bind(security.create_first_admin(self._db, username, full_name, password))
        return self.principal

    def sign_in(self, username: str, password: str) -> Principal:
        """Check the password (with lockout); from now on use cases act for this user."""
        from clinic_app.services import security

        self._bind(security.authenticate(self._db, username, password))
        return self.principal

    def check_password(self, username: str, password: str) -> Principal:
        """Check a password without changing who is signed in (e.g. unlocking the screen)."""
        from clinic_app.services import security

        return security.authenticate(self._db, username, password)

    def act_as(self, principal: Principal) -> None:
        """Act for ``principal`` from now on: one authenticated by a sign-in elsewhere (the
        backup being restored, when this database is too damaged to read). Services still
        re-read the account in every unit of work."""
        self._bind(as_principal(principal))

    def _bind(self, principal: Principal) -> None:
        self._principal = principal
        self.__dict__.pop("charting", None)

    def name_connections(self) -> None:
        """PostgreSQL: show who signed in as this workstation's connections' name, so that
        a restore elsewhere can say who is connected."""
        self._db.name_connections(self.principal.username)

    # --- clinical records ----------------------------------------------------------------
    @cached_property
    def charting(self) -> ChartingService:
        """Patients, episodes, sessions and tests, for the signed-in principal."""
        from clinic_app.services.charting import ChartingService

        return ChartingService(self._db, self.principal)

    @property
    def plan(self) -> PlanService:
        """Plan-of-care use cases (goals, prescription, rules, checklists) as the principal."""
        from clinic_app.services.plan_of_care import PlanService

        return PlanService(self._db, self.principal)

    def live_updates(self, deliver: Callable[[Sequence[RecordChange]], None]) -> LiveUpdates:
        """A watcher (not yet started) that calls ``deliver`` on a background thread with
        what other workstations store."""
        from clinic_app.services.live import LiveUpdates

        return LiveUpdates(self._db, self.principal, deliver)

    def seed_demo(self, patients: int = 48) -> int:
        """Add demo patients; returns how many."""
        from clinic_app.services.demo import seed_demo

        return seed_demo(self._db, self.principal, patients=patients)

    # --- reports, export, import ---------------------------------------------------------
    def report(self, mrn: str, out: Path, start: date | None = None, end: date | None = None,
               therapist: str | None = None, *, force: bool = True,
               now: datetime | None = None) -> ReportOutcome:
        """Write one patient's progress report PDF; audited."""
        from clinic_app.services.reporting import generate_report

        return generate_report(self._db, self.principal, mrn, out, start, end, therapist,
                               now=now, force=force)

    def handout(self, mrn: str, out: Path, *, episode_id: UUID | None = None,
                force: bool = True) -> ReportOutcome:
        """The patient's home-programme handout PDF, audited."""
        from clinic_app.services.plan_documents import generate_document

        return generate_document(self._db, self.principal, mrn, "handout", out,
                                 episode_id=episode_id, force=force)

    def discharge_summary(self, mrn: str, out: Path, *, episode_id: UUID | None = None,
                          force: bool = True) -> ReportOutcome:
        """The discharge summary PDF for the referring doctor, audited."""
        from clinic_app.services.plan_documents import generate_document

        return generate_document(self._db, self.principal, mrn, "discharge", out,
                                 episode_id=episode_id, force=force)

    def reports(self, mrns: Sequence[str], out_dir: Path, start: date | None = None,
                end: date | None = None, therapist: str | None = None, *,
                force: bool = True) -> list[ReportOutcome]:
        """One progress report per MRN into ``out_dir``; unknown MRNs fail the batch first."""
        from clinic_app.services.reporting import generate_batch

        return generate_batch(self._db, self.principal, mrns, out_dir, start, end, therapist,
                              force=force)

    # --- clinic-wide recovery trends ------------------------------------------------------
    def cohort_curve(self, f: CohortFilter) -> CohortCurve:
        """A cohort's weekly median, quartiles and counts (therapists, administrators)."""
        from clinic_app.services.cohorts import cohort_curve

        return cohort_curve(self._db, self.principal, f)

    def expected_recovery(self, episode_id: UUID, measure_id: str) -> CohortCurve:
        """The usual curve for an episode's measure; weeks withheld below the minimum size."""
        from clinic_app.services.cohorts import expected_recovery

        return expected_recovery(self._db, self.principal, episode_id, measure_id)

    def outcomes(self, diagnosis: str | None = None) -> OutcomesData:
        """The outcomes report's figures per diagnosis (no patient data)."""
        from clinic_app.services.cohorts import load_outcomes

        return load_outcomes(self._db, self.principal, diagnosis)

    def outcomes_report(self, out: Path, csv: Path | None = None,
                        diagnosis: str | None = None, *, force: bool = False
                        ) -> OutcomesExport:
        """Write the outcomes report PDF (and CSV); audited."""
        from clinic_app.services.cohorts import write_outcomes

        return write_outcomes(self._db, self.principal, out, csv, diagnosis, force=force)

    def export_fhir(self, out: Path, mrn: str | None = None, *,
                    force: bool = False) -> ExportSummary:
        """Write one patient or all as a FHIR R4 Bundle; audited."""
        from clinic_app.services import interop

        return interop.export_fhir(self._db, self.principal, out, mrn, force=force)

    def export_csv(self, out_dir: Path, mrn: str | None = None, *, force: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> ExportSummary:
        """Write the CSV files of one patient or all, streamed; audited.
        ``progress(patients_written, patients)`` as it goes."""
        from clinic_app.services import interop

        return interop.export_csv(self._db, self.principal, out_dir, mrn, force=force,
                                  progress=progress)

    def import_csv(self, source: Path,
                   progress: ImportProgress | None = None) -> ImportSummary:
        """Import a CSV file or folder, all or nothing (raises ImportRejected)."""
        from clinic_app.services import interop

        return interop.import_csv(self._db, self.principal, source, progress)

    # --- the clinic's letterhead -----------------------------------------------------------
    def clinic_info(self) -> ClinicInfo:
        from clinic_app.services.clinic import get_clinic

        return get_clinic(self._db, self.principal)

    def save_clinic_info(self, info: ClinicInfo) -> ClinicInfo:
        from clinic_app.services.clinic import save_clinic

        return save_clinic(self._db, self.principal, info)

    # --- administration --------------------------------------------------------------------
    def blank_forms(self, form_ids: Sequence[str], out: Path, *,
                    force: bool = True) -> tuple[Path, int]:
        """Write printable blank questionnaire sheets; returns the path and page count."""
        from clinic_app.services.blank_forms import write_blank_forms

        return write_blank_forms(self.principal, form_ids, out, force=force)

    def clinical_settings(self) -> ClinicalSettings:
        """The clinic's return-to-sport criteria set and 3MBWT fall-risk choice."""
        from clinic_app.services.clinical_settings import get_clinical_settings

        return get_clinical_settings(self._db, self.principal)

    def save_clinical_settings(self, settings: ClinicalSettings) -> ClinicalSettings:
        """Store the clinic's clinical choices (administrators)."""
        from clinic_app.services.clinical_settings import save_clinical_settings

        return save_clinical_settings(self._db, self.principal, settings)

    def backup(
        self, out: Path | None = None, *, force: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> BackupResult:
        """A verified, audited backup (administrators); ``progress(done, total)`` as it goes."""
        from clinic_app.services.maintenance import backup_now

        return backup_now(self._db, self.principal, out, force, progress)

    def running_job(self) -> str | None:
        """What another workstation's long job holding the database is doing, e.g.
        "anna is importing"; None when none is announced."""
        return self._db.running_job()

    def daily_backup_if_due(
        self, progress: Callable[[int, int], None] | None = None,
    ) -> BackupResult | None:
        """Today's automatic backup unless this clinic already has one (any signed-in user)."""
        from clinic_app.services.maintenance import daily_backup_if_due

        return daily_backup_if_due(self._db, self.principal, progress=progress)

    def restore(self, source: Path) -> BackupResult:
        """Restore a backup; the replaced data is kept as a safety backup (administrators)."""
        from clinic_app.services.maintenance import restore_from

        return restore_from(self._db, self.principal, source)

    def verify_audit(self) -> ChainReport:
        """Check the audit chain and the rows' signatures (administrators); audited."""
        from clinic_app.services.maintenance import verify_audit

        return verify_audit(self._db, self.principal)

    def audit_lines(self, offset: int = 0, limit: int = 200) -> AuditPage:
        """A newest-first page of the audit trail (administrators)."""
        from clinic_app.services.audit_view import audit_lines

        return audit_lines(self._db, self.principal, offset, limit)

    def move(self, target_url: str, progress: MoveProgress | None = None) -> MoveResult:
        """Move the whole clinic into the empty database at ``target_url`` (administrators)."""
        from clinic_app.services.moving import move_clinic

        return move_clinic(self._db, self.principal, target_url, progress)

    def list_users(self) -> list[User]:
        from clinic_app.services import security

        return security.list_users(self._db, self.principal)

    def create_user(self, username: str, full_name: str, role: Role, password: str) -> User:
        from clinic_app.services import security

        return security.create_user(self._db, self.principal, username, full_name, role,
                                    password)

    def set_active(self, username: str, active: bool) -> None:
        from clinic_app.services import security

        security.set_active(self._db, self.principal, username, active)

    def reset_password(self, username: str, password: str) -> None:
        from clinic_app.services import security

        security.reset_password(self._db, self.principal, username, password)
