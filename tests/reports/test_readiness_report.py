"""The report's return-to-sport section matches the screen's tab: same criteria, values,
thresholds, statuses, dates and phase; it follows the clinic's criteria set; read back with
pypdf, against SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from accounts import as_user
from pypdf import PdfReader

from clinic_app.domain.progress import format_date
from clinic_app.domain.readiness import episode_readiness, next_phase_text, phase_line
from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Side, TestResultDraft
from clinic_app.persistence.uow import Database
from clinic_app.reports.readiness_section import STATUS_WORD
from clinic_app.services.charting import ChartingService
from clinic_app.services.clinical_settings import get_clinical_settings, save_clinical_settings
from clinic_app.services.demo import seed_demo
from clinic_app.services.reporting import generate_report


def _text(path: Path) -> str:
    text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return re.sub(r"\s+", " ", text)


def _expected(db: Database, mrn: str, set_id: str):  # type: ignore[no-untyped-def]
    svc = ChartingService(db, as_user(db))
    patient = svc.find_by_mrn(mrn)
    assert patient is not None
    ep = svc.chart(patient.id).episodes[0]
    d = ep.episode.draft
    return episode_readiness(ep.tests, affected=Side(d.affected_side),
                             surgery_date=d.surgery_date, as_of=date.today(),
                             criteria_set=set_id)


def test_readiness_section_matches_the_screen(db: Database, tmp_path: Path) -> None:
    admin = as_user(db)
    seed_demo(db, admin, patients=4)
    now = datetime.now(UTC)
    out = generate_report(db, admin, "DEMO-00004", tmp_path / "r.pdf", now=now).path
    text = _text(out)
    view = _expected(db, "DEMO-00004", "delaware_oslo")
    assert "Return-to-sport readiness" in text
    assert "Criteria set: Delaware-Oslo (Grindem 2016)" in text
    assert view.readiness.verdict_text in text
    section = text[text.index("Return-to-sport readiness"):text.index("Standardized tests")]
    for res in view.readiness.results:
        assert res.value is not None  # the demo ACL patient has every criterion measured
        row = re.escape(res.criterion.label) + r".{0,40}?" + re.escape(res.value_text)
        assert re.search(row, section), res.criterion.label
        assert res.threshold_text.split(" (")[0] in section
        assert STATUS_WORD[res.status] in section
        if res.measured_on is not None:
            assert format_date(res.measured_on).split(" ")[0] in section
    assert view.phase is not None
    assert phase_line(view.phase) in section
    assert next_phase_text(view.phase).split(";")[0] in section
    assert len(view.pairs) == 3  # Tegner, Y-Balance and H:Q ratio of the demo battery
    for line in view.pairs:
        assert line[:45] in text


def test_the_clinics_criteria_set_is_used_and_other_diagnoses_have_no_section(
        db: Database, tmp_path: Path) -> None:
    admin = as_user(db)
    seed_demo(db, admin, patients=4)
    save_clinical_settings(db, admin, replace(get_clinical_settings(db, admin),
                                              criteria_set="welling_2018"))
    text = _text(generate_report(db, admin, "DEMO-00004", tmp_path / "w.pdf").path)
    assert "ACL-RSI and IKDC battery (Welling 2018)" in text
    view = _expected(db, "DEMO-00004", "welling_2018")
    acl_rsi = next(r for r in view.readiness.results if r.criterion.key == "acl_rsi")
    assert f"ACL-RSI {acl_rsi.value_text} more than 56 points" in text
    other = _text(generate_report(db, admin, "DEMO-00001", tmp_path / "o.pdf").path)
    assert "Return-to-sport readiness" not in other


def test_the_3mbwt_flag_follows_the_clinics_choice(db: Database, tmp_path: Path) -> None:
    admin = as_user(db)
    svc = ChartingService(db, admin)
    p = svc.register_patient(PatientDraft("BW-1", "Costa", "Rafael", date(1995, 1, 9)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ANTERIOR_KNEE_PAIN, Side.RIGHT,
                                             date(2026, 1, 5)))
    for day, value in ((date(2026, 1, 6), 5.6), (date(2026, 2, 3), 5.1)):
        svc.record_test(ep.id, TestResultDraft("bwt_3m", day, value))
    on = _text(generate_report(db, admin, "BW-1", tmp_path / "on.pdf").path)
    assert "above the fall-risk cut-off (older adults)" in on
    save_clinical_settings(db, admin, replace(get_clinical_settings(db, admin),
                                              bwt_fall_flag=False))
    off = _text(generate_report(db, admin, "BW-1", tmp_path / "off.pdf").path)
    assert "fall-risk" not in off and "5.1 s" in off  # the result, without the verdict
