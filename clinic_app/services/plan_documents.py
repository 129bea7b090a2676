"""The home-programme handout and the discharge summary: load the episode's plan of care,
have the PDF drawn, audit the export (as the progress report does)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from clinic_app.domain.charts import EpisodeChart
from clinic_app.domain.errors import NotFoundError, ValidationError
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.plan_of_care import PlanDocument
from clinic_app.persistence.backup import parts_registry
from clinic_app.persistence.outfiles import part_file, publish, refuse_existing, target_in
from clinic_app.persistence.uow import Database
from clinic_app.services.plan_of_care import load_plan
from clinic_app.services.reporting import ReportOutcome

Kind = Literal["handout", "discharge"]
LABEL = {"handout": "home programme handout", "discharge": "discharge summary"}


def document_filename(mrn: str, kind: Kind, on: date) -> str:
    """A safe file name such as ``DEMO-00001_handout_2026-03-05.pdf``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", mrn).strip("._") or "patient"
    return f"{safe}_{kind}_{on.isoformat()}.pdf"


def load_document(db: Database, actor: Principal, mrn: str, kind: Kind,
                  episode_id: uuid.UUID | None = None,
                  now: datetime | None = None) -> PlanDocument:
    """The patient's episode (``episode_id``, else the latest one) with its plan of care."""
    principal = as_principal(actor)
    require(principal, Action.EXPORT)
    key = (mrn or "").strip().upper()
    when = now or datetime.now(UTC)
    with db.unit_of_work(principal, read_only=True) as uow:
        patient = uow.patients.by_mrn(key)
        if patient is None or patient.stamp.entered_in_error:
            raise NotFoundError(f"No patient with MRN {key!r}: check the number and try again.")
        episodes = uow.episodes.for_patient(patient.id, False)
        if episode_id is not None:
            episodes = [e for e in episodes if e.id == episode_id]
        if not episodes:
            raise NotFoundError(f"Patient {key} has no episode of care.")
        episode = max(episodes, key=lambda e: (e.draft.start_date, e.stamp.created_at))
        plan = load_plan(uow, episode, when.astimezone().date())
        if kind == "handout" and plan.prescription is None:
            raise ValidationError("Prescription", "none recorded for this episode",
                                  "a retro-walking prescription (Plan of care)")
        chart = EpisodeChart(episode, tuple(uow.sessions.for_episode(episode.id, False)),
                             tuple(uow.tests.for_episode(episode.id, include_in_error=False)))
        clinic = uow.clinic.get()
        user = uow.users.by_username(principal.username)
        therapist = user.full_name if user and user.full_name else principal.username
    return PlanDocument(clinic, patient, chart, plan, therapist, when, str(uuid.uuid4()))


def generate_document(db: Database, actor: Principal, mrn: str, kind: Kind, out: Path, *,
                      episode_id: uuid.UUID | None = None, now: datetime | None = None,
                      force: bool = True) -> ReportOutcome:
    """Write the handout or discharge summary to ``out`` (a file or a folder) and audit it;
    the file is removed again if the audit event cannot be written."""
    when = now or datetime.now(UTC)
    out = target_in(Path(out), document_filename(mrn.strip().upper(), kind,
                                                 when.astimezone().date()))
    refuse_existing(out, force)
    doc = load_document(db, actor, mrn, kind, episode_id, when)
    from clinic_app.reports.plan_documents import build_discharge, build_handout

    build = build_handout if kind == "handout" else build_discharge
    with part_file(out, parts_registry()) as tmp:
        pages = build(doc, tmp)
        publish(tmp, out, force)
    try:
        with db.unit_of_work(as_principal(actor)) as uow:
            uow.audit.record("export", kind, doc.document_id, doc.patient.id,
                             detail=f"{LABEL[kind]} {out.name}; {pages} page(s); episode "
                                    f"{doc.chart.episode.id}")
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return ReportOutcome(out, pages, doc.document_id)
