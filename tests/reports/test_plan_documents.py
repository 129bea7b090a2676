"""Home-programme handout and discharge summary: generated from a stored plan of care on
SQLite and PostgreSQL, parsed back with pypdf, audited; refused without a prescription."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from accounts import as_user
from pypdf import PdfReader
from sqlalchemy import select

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.permissions import PermissionDeniedError
from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Dose,
    GoalDraft,
    PrescriptionDraft,
    SafetyDraft,
)
from clinic_app.domain.records import (
    ClinicInfo,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.plan_documents import generate_document
from clinic_app.services.plan_of_care import PlanService

START = date(2026, 3, 2)
NOW = datetime(2026, 3, 30, 12, tzinfo=UTC)


def _text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def _seed(db: Database, prescription: bool = True) -> UUID:
    who = as_user(db, "thera", Role.THERAPIST, "Ana Lopes")
    charting = ChartingService(db, who)
    plan = PlanService(db, who)
    with db.unit_of_work(as_user(db)) as uow:
        uow.clinic.save(ClinicInfo("Riverside Physio", "1 Main St", "+32 2 555 01 23"))
    p = charting.register_patient(PatientDraft("P-7", "Marchal", "Lea", date(1962, 5, 4)))
    ep = charting.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.RIGHT,
                                                  START, referring_doctor="Dr Wouters"))
    if prescription:
        plan.save_prescription(ep.id, PrescriptionDraft(
            Dose(12, 2.0 / KMH_PER_MS, spotter=True, dual_task="count backwards from 100"), 3))
    for day, adverse, home in ((0, "", False), (3, "", False), (5, "", True),
                               (9, "knee gave way, no fall", False)):
        plan.record_session(ep.id, WalkSessionDraft(
            datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(days=day), duration_min=12,
            speed_m_s=2.0 / KMH_PER_MS, pain_before=2, pain_after=3, rpe=3,
            adverse_events=adverse), SafetyDraft(home=home, spotter_present=not home,
                                                 path_clear=True))
    for day, value in ((0, 38), (14, 47), (27, 56)):
        charting.record_test(ep.id, TestResultDraft("lefs", START + timedelta(days=day), value))
    plan.add_goal(ep.id, GoalDraft("lefs", 55, START + timedelta(weeks=6), "stairs at home"))
    plan.add_goal(ep.id, GoalDraft(text="walk the dog for 20 minutes"))
    return p.id


def test_handout_is_large_plain_and_audited(db: Database, tmp_path: Path) -> None:
    _seed(db)
    who = as_user(db, "thera")
    got = generate_document(db, who, "p-7", "handout", tmp_path, now=NOW)
    assert got.path.name == "P-7_handout_2026-03-30.pdf" and 1 <= got.pages <= 2
    text = _text(got.path)
    for words in ("Your backward-walking programme", "12 minutes of walking backwards",
                  "3 times a week", "About 2.0 km/h", "Have someone walk beside you",
                  "count backwards from 100", "call the clinic on +32 2 555 01 23",
                  "more than 2 points", "My walking log", "Pain before"):
        assert words in text, words
    with db.unit_of_work("check", read_only=True) as uow:
        ev = uow.session.scalars(select(AuditRow).where(AuditRow.entity == "handout")).one()
    assert ev.action == "export" and got.path.name in ev.detail


def test_discharge_summary_lists_goals_outcomes_attendance(db: Database,
                                                           tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "d.pdf"
    got = generate_document(db, as_user(db, "thera"), "P-7", "discharge", out, now=NOW)
    text = _text(out)
    assert got.pages <= 2
    for words in ("Discharge summary", "Dr Wouters", "1 of 2 goal(s) met", "Met",
                  "walk the dog for 20 minutes", "Functional Scale",
                  "+18 points", "9 points", "3 in the clinic, 1 reported from home",
                  "Adverse events",
                  "knee gave way, no fall", "Sessions with a spotter"):
        assert words in text, words


def test_handout_needs_a_prescription_and_a_permission(db: Database, tmp_path: Path) -> None:
    _seed(db, prescription=False)
    with pytest.raises(ValidationError, match="Prescription"):
        generate_document(db, as_user(db, "thera"), "P-7", "handout", tmp_path, now=NOW)
    assert list(tmp_path.glob("*.pdf")) == []
    with pytest.raises(PermissionDeniedError):
        generate_document(db, as_user(db, "desk", Role.FRONT_DESK), "P-7", "discharge",
                          tmp_path, now=NOW)


def test_progress_report_lists_goals_and_safety_counts(db: Database, tmp_path: Path) -> None:
    from clinic_app.services.reporting import generate_report

    _seed(db)
    got = generate_report(db, as_user(db, "thera"), "P-7", tmp_path / "r.pdf", now=NOW)
    text = _text(got.path)
    for words in ("Plan of care", "stairs at home", "walk the dog for 20 minutes",
                  "3 sessions with a spotter", "1 adverse event", "1 home session"):
        assert words in text, words
