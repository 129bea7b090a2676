"""Progress-report use cases: load what a report shows, have it drawn, audit the export.

The PDF itself is drawn by ``clinic_app.reports`` (below services: it knows only the
domain), imported when a report is written so that reportlab never slows the start-up.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from clinic_app.domain.charts import EpisodeChart, PatientChart, ReportData
from clinic_app.domain.errors import NotFoundError, ValidationError
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.records import Patient
from clinic_app.persistence.backup import parts_registry
from clinic_app.persistence.outfiles import part_file, publish, refuse_existing, target_in
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import load_chart
from clinic_app.services.clinical_settings import read_clinical_settings
from clinic_app.services.plan_of_care import load_plan


@dataclass(frozen=True)
class ReportOutcome:
    path: Path
    pages: int
    report_id: str = ""


def _check_period(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise ValidationError(
            "Period", f"starts on {start.isoformat()} after it ends on {end.isoformat()}",
            "a start date on or before the end date",
        )


def _relevant(ep: EpisodeChart, start: date | None, end: date | None) -> bool:
    """An episode belongs in the report if it has data in the period or overlaps it."""
    if ep.sessions or ep.tests:
        return True
    d = ep.episode.draft
    return (end is None or d.start_date <= end) and (
        start is None or d.end_date is None or d.end_date >= start
    )


def load_report_data(
    db: Database, actor: Principal, mrn: str, start: date | None = None,
    end: date | None = None, therapist: str | None = None, now: datetime | None = None,
) -> ReportData:
    """Read the patient (by MRN), chart and letterhead in one unit of work.

    Raises :class:`NotFoundError` for an unknown MRN or a patient marked entered in error,
    :class:`ValidationError` for a period that ends before it starts.
    """
    principal = as_principal(actor)
    require(principal, Action.EXPORT)
    _check_period(start, end)
    key = (mrn or "").strip().upper()
    with db.unit_of_work(principal) as uow:
        patient = uow.patients.by_mrn(key)
        if patient is None:
            raise NotFoundError(f"No patient with MRN {key!r}: check the number and try again.")
        if patient.stamp.entered_in_error:
            raise NotFoundError(
                f"Patient with MRN {key!r} is marked 'entered in error'; no report is produced."
            )
        chart = load_chart(uow, patient.id, start, end, include_in_error=False)
        on = min(end or (now or datetime.now(UTC)).date(), (now or datetime.now(UTC)).date())
        plans = {ep.episode.id: load_plan(uow, ep.episode, on) for ep in chart.episodes}
        clinic = uow.clinic.get()
        choices = read_clinical_settings(uow)
        if not therapist or not therapist.strip():
            user = uow.users.by_username(principal.username)
            therapist = user.full_name if user and user.full_name else principal.username
    episodes = tuple(ep for ep in chart.episodes if _relevant(ep, start, end))
    return ReportData(
        clinic=clinic,
        chart=PatientChart(chart.patient, episodes),
        period_start=start,
        period_end=end,
        therapist=therapist.strip(),
        generated_at=now or datetime.now(UTC),
        report_id=str(uuid.uuid4()),
        criteria_set=choices.criteria_set,
        bwt_fall_flag=choices.bwt_fall_flag,
        plans=plans,
    )


def report_filename(patient: Patient | str, on: date) -> str:
    """A safe file name such as ``DEMO-00001_progress_2026-03-05.pdf``."""
    mrn = patient if isinstance(patient, str) else patient.draft.mrn
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", mrn).strip("._") or "patient"
    return f"{safe}_progress_{on.isoformat()}.pdf"


def _period_text(start: date | None, end: date | None) -> str:
    return f"{start.isoformat() if start else 'first record'} to " \
           f"{end.isoformat() if end else 'latest record'}"


def _write(data: ReportData, out: Path, force: bool) -> int:
    """Draw into ``out.part`` and move it into place when complete (a ``.part`` left by a
    killed process is removed at the next start)."""
    from clinic_app.reports import build_progress_report

    with part_file(out, parts_registry()) as tmp:
        pages = build_progress_report(data, tmp)
        publish(tmp, out, force)
    return pages


def _record_export(
    db: Database, actor: Principal, data: ReportData, out: Path, pages: int
) -> None:
    with db.unit_of_work(as_principal(actor)) as uow:
        uow.audit.record(
            "export", "report", data.report_id, data.patient.id,
            detail=f"progress report {out.name}; {pages} page(s); period "
                   f"{_period_text(data.period_start, data.period_end)}",
        )


def generate_report(
    db: Database, actor: Principal, mrn: str, out: Path, start: date | None = None,
    end: date | None = None, therapist: str | None = None, *,
    now: datetime | None = None, force: bool = True,
) -> ReportOutcome:
    """Write the progress report for ``mrn`` to ``out`` and record the export in the audit trail.

    ``out`` may be a folder (the file is named by :func:`report_filename`); without
    ``force`` an existing file is kept and the report refused. The file appears only once
    complete. If the audit row cannot be written the file is removed again, so there is
    never an unaudited export on disk.
    """
    when = now or datetime.now(UTC)
    out = target_in(Path(out), report_filename(mrn.strip().upper(), when.astimezone().date()))
    refuse_existing(out, force)
    data = load_report_data(db, actor, mrn, start, end, therapist, when)
    pages = _write(data, out, force)
    try:
        _record_export(db, actor, data, out, pages)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return ReportOutcome(out, pages, data.report_id)


def generate_batch(
    db: Database, actor: Principal, mrns: Sequence[str], out_dir: Path,
    start: date | None = None, end: date | None = None, therapist: str | None = None, *,
    now: datetime | None = None, force: bool = True,
) -> list[ReportOutcome]:
    """One report per MRN into ``out_dir`` (named by :func:`report_filename`).

    Every MRN is checked first, so an unknown one fails the batch before any file is written.
    """
    require(as_principal(actor), Action.EXPORT)
    _check_period(start, end)
    keys = list(dict.fromkeys((m or "").strip().upper() for m in mrns))
    with db.unit_of_work(as_principal(actor)) as uow:
        missing = [k for k in keys if uow.patients.by_mrn(k) is None]
    if missing:
        raise NotFoundError(f"No patient with MRN {', '.join(map(repr, missing))}; "
                            "nothing was generated.")
    when = now or datetime.now(UTC)
    out_dir = Path(out_dir)
    return [
        generate_report(db, actor, key, out_dir / report_filename(key, when.astimezone().date()),
                        start, end, therapist, now=when, force=force)
        for key in keys
    ]

