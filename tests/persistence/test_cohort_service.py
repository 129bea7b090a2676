"""Cohort and outcomes use cases: roles, audit, the overlay's minimum, the report's figures
(against an independent computation) on SQLite and PostgreSQL, the PDF and CSV."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from cohort_data import build_clinic, expected_curve, expected_outcomes
from pypdf import PdfReader

from clinic_app.domain.cohorts import MIN_COHORT_PATIENTS, CohortFilter, WeekBasis
from clinic_app.domain.errors import PermissionDeniedError, ValidationError
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Sex,
    Side,
    TestResultDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.services import cohorts
from clinic_app.services.charting import ChartingService


@pytest.fixture
def clinic(db: Database) -> list:
    svcs = {name: ChartingService(db, as_user(db, name, Role.THERAPIST))
            for name in ("anna", "ben")}
    return build_clinic(svcs)


def _events(db: Database, entity: str) -> list:
    with db.unit_of_work("t", read_only=True) as uow:
        return [e for e in uow.audit.latest(10_000) if e.entity == entity]


def test_front_desk_is_refused(db: Database) -> None:
    desk = as_user(db, "desk", Role.FRONT_DESK)
    with pytest.raises(PermissionDeniedError):
        cohorts.cohort_curve(db, desk, CohortFilter("tug"))
    with pytest.raises(PermissionDeniedError):
        cohorts.load_outcomes(db, desk)
    assert _events(db, "cohort") == [] and _events(db, "outcomes") == []


def test_curve_is_audited_without_patient_data(db: Database, clinic: list) -> None:
    anna = as_user(db, "anna", Role.THERAPIST)
    curve = cohorts.cohort_curve(db, anna,
                                 CohortFilter("walk_6min", diagnosis="acl_reconstruction"))
    assert curve.patients == expected_curve(clinic, "walk_6min",
                                            diagnosis="acl_reconstruction")[0]
    (event,) = _events(db, "cohort")
    assert event.actor == "anna" and event.action == "view" and event.patient_id is None
    assert "acl_reconstruction" in event.detail and "Fam" not in event.detail


def test_unknown_measure_names_the_field(db: Database) -> None:
    with pytest.raises(ValidationError, match="Measure"):
        cohorts.cohort_curve(db, as_user(db), CohortFilter("nonsense"))


def test_overlay_hidden_below_the_minimum(db: Database, clinic: list) -> None:
    anna = as_user(db, "anna", Role.THERAPIST)
    svc = ChartingService(db, anna)
    p = svc.find_by_mrn("C0000")
    assert p is not None
    (ep,) = svc.episodes(p.id)
    curve = cohorts.expected_recovery(db, anna, ep.id, "walk_6min")
    others = [e for e in clinic if e.patient != str(p.id)]
    n, weeks = expected_curve(others, "walk_6min", diagnosis="acl_reconstruction")
    assert curve.patients == n
    if n >= MIN_COHORT_PATIENTS:
        assert [w.week for w in curve.weeks] == [w.week for w in weeks]
    else:
        assert curve.weeks == ()
    assert curve.filter.basis is WeekBasis.SURGERY and curve.filter.exclude_episode
    (event,) = _events(db, "cohort")
    assert event.patient_id == p.id


def test_overlay_shown_from_the_minimum(db: Database) -> None:
    anna = as_user(db, "anna", Role.THERAPIST)
    svc = ChartingService(db, anna)
    eps = []
    for i in range(MIN_COHORT_PATIENTS + 1):
        p = svc.register_patient(PatientDraft(f"M{i:03d}", "Fam", "G", date(1990, 1, 1)))
        ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                                 date(2025, 1, 6)))
        svc.record_test(ep.id, TestResultDraft("tug", date(2025, 1, 7), 10.0 + i))
        eps.append(ep)
    full = cohorts.expected_recovery(db, anna, eps[0].id, "tug")
    assert full.patients == MIN_COHORT_PATIENTS and full.large_enough
    assert [(w.week, w.count, w.median) for w in full.weeks] == [(0, 10, 15.5)]
    svc.mark_episode_in_error(eps[1].id, eps[1].stamp.version, "duplicate episode")
    short = cohorts.expected_recovery(db, anna, eps[0].id, "tug")
    assert short.patients == MIN_COHORT_PATIENTS - 1 and short.weeks == ()


def _acl_ready(svc: ChartingService, mrn: str, surgery: date, tested: date) -> None:
    p = svc.register_patient(PatientDraft(mrn, "Fam", "G", date(1995, 5, 5), Sex.MALE))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                             surgery + timedelta(days=7), surgery))
    for mid, involved, uninvolved in (("quad_strength", 190.0, 200.0),
                                      ("hop_single", 180.0, 190.0),
                                      ("hop_crossover", 460.0, 480.0),
                                      ("hop_triple", 520.0, 540.0),
                                      ("hop_6m_timed", 2.0, 1.9)):
        svc.record_test(ep.id, TestResultDraft(mid, tested, involved, side=Side.LEFT))
        svc.record_test(ep.id, TestResultDraft(mid, tested, uninvolved, side=Side.RIGHT))
    svc.record_test(ep.id, TestResultDraft("kos_adls", tested, 95.0))
    svc.record_test(ep.id, TestResultDraft("global_rating", tested, 92.0))


def test_outcomes_match_python_and_return_to_sport(db: Database, clinic: list) -> None:
    anna = as_user(db, "anna", Role.THERAPIST)
    svc = ChartingService(db, anna)
    # Criteria met at 10 months: ready that day; met at 6 months: ready at 9 months.
    _acl_ready(svc, "R1", date(2024, 1, 10), date(2024, 11, 10))
    _acl_ready(svc, "R2", date(2024, 2, 1), date(2024, 8, 1))
    data = cohorts.load_outcomes(db, anna, today=date(2026, 1, 1))
    expected = expected_outcomes(clinic)
    by = {r.diagnosis: r for r in data.rows}
    acl = by["acl_reconstruction"]
    assert acl.episodes == expected["acl_reconstruction"]["episodes"] + 2
    assert acl.rts_episodes == 2
    weeks = sorted([(date(2024, 11, 10) - date(2024, 1, 10)).days / 7,
                    (date(2024, 11, 1) - date(2024, 2, 1)).days / 7])
    assert acl.median_weeks_to_rts == pytest.approx(sum(weeks) / 2)
    oa = by["knee_osteoarthritis"]
    exp = expected["knee_osteoarthritis"]
    assert (oa.episodes, oa.sessions, oa.sessions_with_adverse_event) == (
        exp["episodes"], exp["sessions"], exp["adverse"])
    assert oa.median_sessions == pytest.approx(exp["median_sessions"])
    assert {m.measure_id: (m.episodes, m.reached_mcid, pytest.approx(m.median_change))
            for m in oa.measures} == exp["measures"]
    assert oa.rts_episodes == 0 and oa.median_weeks_to_rts is None


def test_outcomes_pdf_and_csv(db: Database, clinic: list, tmp_path: Path) -> None:
    anna = as_user(db, "anna", Role.THERAPIST)
    pdf, table = tmp_path / "outcomes.pdf", tmp_path / "outcomes.csv"
    result = cohorts.write_outcomes(db, anna, pdf, table, today=date(2026, 1, 1))
    text = "\n".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert result.pages == len(PdfReader(pdf).pages) >= 1
    assert "ACL reconstruction" in text and "Knee osteoarthritis" in text
    assert "Adverse-event rate" in text and "6MWT" in text
    # No patient-identifying data: no MRN, name or birth date of anyone stored.
    for e in clinic:
        assert e.born.isoformat() not in text
    assert "Fam" not in text and "C000" not in text and "Given" not in text
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    exp = expected_outcomes(clinic)
    oa = [r for r in rows if r["diagnosis"] == "knee_osteoarthritis"]
    assert int(oa[0]["episodes"]) == exp["knee_osteoarthritis"]["episodes"]
    walk = next(r for r in oa if r["measure"] == "walk_6min")
    n, reached, med = exp["knee_osteoarthritis"]["measures"]["walk_6min"]
    assert (int(walk["episodes"]), int(walk["reached_mcid"])) == (n, reached)
    assert float(walk["median_change"]) == pytest.approx(med, abs=1e-6)
    assert not any("Fam" in v or "C00" in v for r in rows for v in r.values())
    (event,) = [e for e in _events(db, "outcomes") if e.action == "export"]
    assert "outcomes.pdf" in event.detail and "outcomes.csv" in event.detail


def test_outcomes_refuses_unknown_diagnosis(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="Diagnosis"):
        cohorts.write_outcomes(db, as_user(db), tmp_path / "o.pdf", diagnosis="flu")
    assert not (tmp_path / "o.pdf").exists()
