"""Clinic-wide clinical choices are stored in the database (shared by workstations), audited,
admin-only and conflict-checked; against SQLite and PostgreSQL. New knee measures round-trip
through storage with their items and sides."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from accounts import as_user
from sqlalchemy import select

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.permissions import PermissionDeniedError
from clinic_app.domain.readiness import ClinicalSettings
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    TestResultDraft,
)
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.clinical_settings import get_clinical_settings, save_clinical_settings


def test_defaults_then_saved_choice_is_shared(db: Database) -> None:
    admin = as_user(db)
    first = get_clinical_settings(db, admin)
    assert first == ClinicalSettings("delaware_oslo", True, (0, 0))
    saved = save_clinical_settings(db, admin, replace(first, criteria_set="welling_2018",
                                                      bwt_fall_flag=False))
    assert (saved.criteria_set, saved.bwt_fall_flag, saved.versions) == (
        "welling_2018", False, (1, 1))
    therapist = as_user(db, "thera", Role.THERAPIST)
    assert get_clinical_settings(db, therapist) == saved  # another user, same database
    with db.unit_of_work("check", read_only=True) as uow:
        event = uow.session.scalars(
            select(AuditRow).where(AuditRow.entity == "clinic_setting")).one()
    assert event.before == {"criteria_set": "delaware_oslo", "bwt_fall_flag": True}
    assert event.after == {"criteria_set": "welling_2018", "bwt_fall_flag": False}


def test_only_admins_and_no_silent_overwrite(db: Database) -> None:
    admin = as_user(db)
    therapist = as_user(db, "thera", Role.THERAPIST)
    stale = get_clinical_settings(db, admin)
    with pytest.raises(PermissionDeniedError):
        save_clinical_settings(db, therapist, replace(stale, bwt_fall_flag=False))
    save_clinical_settings(db, admin, replace(stale, criteria_set="welling_2018"))
    with pytest.raises(ConflictError):
        save_clinical_settings(db, admin, replace(stale, bwt_fall_flag=False))
    now = get_clinical_settings(db, admin)
    assert (now.criteria_set, now.bwt_fall_flag) == ("welling_2018", True)
    with pytest.raises(ValidationError, match="Criteria set"):
        ClinicalSettings("no_such_set")


def test_knee_measures_round_trip_with_items_and_sides(db: Database) -> None:
    svc = ChartingService(db, as_user(db))
    patient = svc.register_patient(PatientDraft("ACL-1", "Berg", "Ola", date(1998, 4, 2)))
    ep = svc.open_episode(patient.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                                   date(2026, 1, 5), date(2026, 1, 5)))
    day = date(2026, 3, 2)
    ikdc = (2, 3, 4, 3, 2, 1, 3, 2, 3, 3, 2, 2, 3, 2, 1, 2, 3, 7)
    stored = [
        svc.record_test(ep.id, TestResultDraft("ikdc", day, items=ikdc)),
        svc.record_test(ep.id, TestResultDraft("tegner", day, items=(9, 3))),
        svc.record_test(ep.id, TestResultDraft("y_balance", day, side=Side.LEFT,
                                               items=(600, 1000, 950, 900))),
        svc.record_test(ep.id, TestResultDraft("hop_6m_timed", day, value=2.4, side=Side.LEFT)),
    ]
    chart = svc.chart(patient.id)
    tests = {t.draft.measure_id: t for t in chart.episodes[0].tests}
    assert tests["ikdc"].draft.items == ikdc and tests["ikdc"].value == pytest.approx(54 / 87 * 100)
    assert tests["tegner"].value == 3.0 and tests["tegner"].draft.items == (9, 3)
    assert tests["y_balance"].value == pytest.approx(2550 / 2700 * 100)
    assert tests["hop_6m_timed"].draft.side == Side.LEFT
    assert len(stored) == 4


def test_a_setting_changed_outside_backstep_is_detected_and_not_laundered(
        db: Database) -> None:
    from sqlalchemy import text

    from clinic_app.persistence.rowmac import TamperedRowError, verify_rows

    admin = as_user(db)
    saved = save_clinical_settings(db, admin, replace(get_clinical_settings(db, admin),
                                                      bwt_fall_flag=False))
    with db.unit_of_work("check", read_only=True) as uow:
        assert verify_rows(uow.session, uow.audit_key).problems == []
    with db.engine.begin() as conn:  # someone edits the database directly
        conn.execute(text("UPDATE clinic_setting SET value = 'on' "
                          "WHERE id = 'bwt_fall_risk_flag'"))
    with db.unit_of_work("check", read_only=True) as uow:
        problems = verify_rows(uow.session, uow.audit_key).problems
    assert problems == ["clinic setting bwt_fall_risk_flag: changed outside Backstep "
                        "(its signature does not match)"]
    with pytest.raises(TamperedRowError):  # saving over it would re-sign the forgery
        save_clinical_settings(db, admin, replace(saved, criteria_set="welling_2018"))
