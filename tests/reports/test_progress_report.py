"""Progress report PDFs from real databases (SQLite and PostgreSQL), read back with pypdf."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from pypdf import PdfReader

from clinic_app.domain.errors import NotFoundError, ValidationError
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.progress import Point, format_date, interpret
from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
    Surface,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.demo import seed_demo
from clinic_app.services.reporting import generate_batch, generate_report

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 3, 5)
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
ACTOR = "therapist1"
SURGERY = date(2025, 12, 1)
# 3MBWT results of the Unicode patient, oldest first (s)
BWT = ((date(2026, 1, 5), 6.4), (date(2026, 1, 26), 5.2), (date(2026, 2, 16), 4.1))
OUTSIDE_DAY = date(2026, 2, 27)  # a session after the report period used by the filter test


def _text(path: Path) -> str:
    """All page text with whitespace collapsed (paragraphs wrap anywhere)."""
    reader = PdfReader(path)
    return " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)


def _session(day: date, speed: float, distance: float, mode: WalkMode) -> WalkSessionDraft:
    return WalkSessionDraft(
        performed_at=datetime.combine(day, time(12, 0), UTC), mode=mode,
        surface=Surface.TREADMILL_BELT if mode == WalkMode.TREADMILL else Surface.FLAT,
        duration_min=12.0,
        distance_m=distance, speed_m_s=speed, incline_pct=0.0,
        assistance=Assistance.SUPERVISED, pain_before=4, pain_after=3, rpe=4.0,
    )


def _register_unicode_patient(db: Database) -> tuple[ChartingService, object]:
    svc = ChartingService(db, as_user(db, ACTOR))
    patient = svc.register_patient(PatientDraft(
        mrn="UNI-001", family_name="Nguyễn", given_name="Thị Øyvind-Wójcik Yılmaz",
        date_of_birth=date(1990, 4, 2), sex=Sex.FEMALE,
    ))
    episode = svc.open_episode(patient.id, EpisodeDraft(
        diagnosis=Diagnosis.ACL_RECONSTRUCTION, affected_side=Side.LEFT,
        start_date=date(2025, 12, 15), surgery_date=SURGERY,
        referring_doctor="Dr. Łucja Zieliński (Orthopaedics)",
    ))
    for (day, value), speed in zip(BWT, (0.31, 0.42, 0.55), strict=True):
        svc.record_session(
            episode.id, _session(day, speed, round(speed * 720), WalkMode.TREADMILL),
            [TestResultDraft("bwt_3m", day, value),
             TestResultDraft("nprs", day, 6.0 if day == BWT[0][0] else 3.0)],
        )
    # Outside the period used below: a distinctive 777 m overground session.
    svc.record_session(episode.id, _session(OUTSIDE_DAY, 0.9, 777.0, WalkMode.OVERGROUND))
    return svc, patient


@pytest.fixture
def seeded(db: Database) -> Database:
    seed_demo(db, as_user(db, ACTOR), patients=3, today=TODAY)
    _register_unicode_patient(db)
    return db


def assert_qpdf_check_passes(path: Path) -> None:
    """``qpdf --check``; where the qpdf tool is not installed, the same checker via pikepdf
    (which bundles libqpdf), so a fresh machine runs the check instead of skipping it."""
    if shutil.which("qpdf"):
        check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    else:
        import pikepdf

        with pikepdf.Pdf.open(path) as pdf:
            assert pdf.check_pdf_syntax() == []


def test_report_content_unicode_summary_pages(seeded: Database, tmp_path: Path) -> None:
    out = tmp_path / "uni.pdf"
    outcome = generate_report(seeded, as_user(seeded, ACTOR),
                              "uni-001", out, therapist="Siobhán O'Brien",
                              now=NOW)
    reader = PdfReader(out)
    assert outcome.path == out and outcome.pages == len(reader.pages) >= 1
    text = _text(out)
    assert "Nguyễn, Thị Øyvind-Wójcik Yılmaz" in text
    assert "UNI-001" in text and "Dr. Łucja Zieliński" in text
    assert "Rehabilitation progress report" in text and "Siobhán O'Brien" in text
    # stored values as the tests table formats them, and the change
    bwt = MEASURES["bwt_3m"]
    assert "6.4 s" in text and "4.1 s" in text and "-2.3 s" in text
    # the plain-language sentence comes from the domain's interpret()
    sentence = interpret(bwt, [Point(d, v) for d, v in BWT])
    assert "fall-risk cut-off" in sentence
    assert " ".join(sentence.split()) in text
    n = len(reader.pages)
    assert f"Page 1 of {n}" in text and f"Page {n} of {n}" in text
    assert "CONFIDENTIAL" in (reader.pages[-1].extract_text() or "")
    assert text.count("CONFIDENTIAL") == n
    # weeks after surgery at the last record (27 Feb 2026 - 1 Dec 2025 = 12.6 weeks)
    assert "1 Dec 2025 (13 weeks post-op on 27 Feb 2026)" in text
    assert_qpdf_check_passes(out)


def test_tests_table_says_how_each_measure_reads(seeded: Database, tmp_path: Path) -> None:
    """Under each measure's name: its scale where it is a score, and which way is better (a
    falling 3MBWT time or NPRS is an improvement, a falling KOOS is not)."""
    out = tmp_path / "uni.pdf"
    generate_report(seeded, as_user(seeded, ACTOR), "uni-001", out, now=NOW)
    text = _text(out)
    assert "3-metre backward walk test lower is better" in text
    assert "Numeric pain rating scale 0-10 points, lower is better" in text
    assert MEASURES["koos_pain"].reading == "0-100 points, higher is better"
    assert MEASURES["lefs"].reading == "0-80 points, higher is better"
    assert MEASURES["hop_6m_timed"].reading == "lower is better"
    assert MEASURES["tegner"].reading == "0-10, higher is better"


def test_report_gives_the_koos4_when_all_four_subscales_were_scored(
        db: Database, tmp_path: Path) -> None:
    svc, patient = _register_unicode_patient(db)
    ep = svc.chart(patient.id).episodes[0].episode  # type: ignore[attr-defined]
    day1, day2 = date(2026, 1, 5), date(2026, 2, 16)
    items = {  # KOOS items 0 = none to 4 = extreme
        "koos_pain": ((2,) * 9, (1,) * 9), "koos_symptoms": ((2,) * 7, (1,) * 7),
        "koos_sport_rec": ((3,) * 5, (2,) * 5), "koos_qol": ((3,) * 4, (2,) * 4),
    }
    for day, k in ((day1, 0), (day2, 1)):
        svc.record_session(ep.id, _session(day, 0.5, 360, WalkMode.OVERGROUND),
                           [TestResultDraft(mid, day, items=v[k]) for mid, v in items.items()])
    out = tmp_path / "koos.pdf"
    generate_report(db, as_user(db, ACTOR), "uni-001", out, now=NOW)
    text = _text(out)
    # day 1: (50 + 50 + 25 + 25) / 4 = 37.5; day 2: (75 + 75 + 50 + 50) / 4 = 62.5
    assert ("KOOS4 (mean of Pain, Symptoms, Sport/Rec and QoL; Frobell et al. 2010; 0-100 "
            "points, higher is better): 37.5 points on 5 Jan 2026, 62.5 points on 16 Feb "
            "2026 (+25.0 points).") in text


def test_demo_patient_report_shows_stored_test_value(seeded: Database, tmp_path: Path) -> None:
    svc = ChartingService(seeded, as_user(seeded, ACTOR))
    patient = svc.find_by_mrn("DEMO-00001")
    assert patient is not None
    chart = svc.chart(patient.id)
    tests = [t for ep in chart.episodes for t in ep.tests if t.draft.measure_id == "tug"]
    assert len(tests) >= 2
    out = tmp_path / "demo.pdf"
    outcome = generate_report(seeded, as_user(seeded, ACTOR),
                              "DEMO-00001", out, now=NOW)
    text = _text(out)
    tug = MEASURES["tug"]
    baseline, latest = tests[0], tests[-1]
    assert f"{tug.format_value(baseline.value)} {format_date(baseline.draft.performed_on)}" in text
    assert f"{tug.format_value(latest.value)} {format_date(latest.draft.performed_on)}" in text
    assert patient.draft.family_name in text and "DEMO-00001" in text
    assert f"Page 1 of {outcome.pages}" in text
    for s in chart.episodes[0].sessions[:3]:
        assert format_date(s.draft.performed_at.date()) in text


def _has_outside_distance(text: str) -> bool:
    """Whether the 777 m session's distance is printed: as a number of its own, since the
    report's random id (hex digits) may contain the digits 777."""
    return re.search(r"(?<![\w-])777(?![\w-])", text) is not None


def test_period_filter_excludes_session_outside(seeded: Database, tmp_path: Path) -> None:
    everything = tmp_path / "all.pdf"
    generate_report(seeded, as_user(seeded, ACTOR),
                    "UNI-001", everything, now=NOW)
    whole = _text(everything)
    assert _has_outside_distance(whole) and format_date(OUTSIDE_DAY) in whole

    period = tmp_path / "period.pdf"
    generate_report(seeded, as_user(seeded, ACTOR), "UNI-001", period, start=date(2026, 1, 1),
                    end=date(2026, 2, 20), now=NOW)
    text = _text(period)
    assert "1 Jan 2026 to 20 Feb 2026" in text
    assert not _has_outside_distance(text) and format_date(OUTSIDE_DAY) not in text
    assert format_date(BWT[-1][0]) in text


def test_entered_in_error_session_is_left_out(seeded: Database, tmp_path: Path) -> None:
    svc = ChartingService(seeded, as_user(seeded, ACTOR))
    patient = svc.find_by_mrn("UNI-001")
    assert patient is not None
    outside = next(s for s in svc.chart(patient.id).episodes[0].sessions
                   if s.draft.performed_at.date() == OUTSIDE_DAY)
    svc.mark_session_in_error(outside.id, outside.stamp.version, "recorded for wrong patient")
    out = tmp_path / "r.pdf"
    generate_report(seeded, as_user(seeded, ACTOR),
                    "UNI-001", out, now=NOW)
    text = _text(out)
    assert not _has_outside_distance(text) and format_date(OUTSIDE_DAY) not in text


def test_export_is_audited(seeded: Database, tmp_path: Path) -> None:
    out = tmp_path / "audited.pdf"
    outcome = generate_report(seeded, as_user(seeded, ACTOR),
                              "UNI-001", out, now=NOW)
    patient = ChartingService(seeded, as_user(seeded, ACTOR)).find_by_mrn("UNI-001")
    assert patient is not None
    with seeded.unit_of_work(ACTOR) as uow:
        events = [e for e in uow.audit.for_patient(patient.id) if e.action == "export"]
    assert len(events) == 1
    event = events[0]
    assert event.entity == "report" and event.actor == ACTOR
    assert event.entity_id == outcome.report_id and "audited.pdf" in event.detail
    assert outcome.report_id in _text(out)  # the printed report ID leads back to the audit row


def test_unknown_mrn_is_a_clear_not_found(seeded: Database, tmp_path: Path) -> None:
    out = tmp_path / "none.pdf"
    with pytest.raises(NotFoundError, match="NOPE-9"):
        generate_report(seeded, as_user(seeded, ACTOR), "nope-9", out)
    assert not out.exists() and list(tmp_path.glob("*.part")) == []


def test_reversed_period_is_rejected(sqlite_db: Database, tmp_path: Path) -> None:
    _register_unicode_patient(sqlite_db)
    with pytest.raises(ValidationError, match="Period"):
        generate_report(sqlite_db, as_user(sqlite_db, ACTOR),
                        "UNI-001", tmp_path / "x.pdf", start=date(2026, 2, 1),
                        end=date(2026, 1, 1))


def test_batch_writes_one_file_per_patient(seeded: Database, tmp_path: Path) -> None:
    mrns = ["DEMO-00001", "DEMO-00002", "UNI-001"]
    outcomes = generate_batch(seeded, as_user(seeded, ACTOR), mrns, tmp_path / "batch",
                              now=NOW)
    files = sorted(p.name for p in (tmp_path / "batch").iterdir())
    assert files == sorted(f"{m}_progress_2026-03-05.pdf" for m in mrns)
    for mrn, outcome in zip(mrns, outcomes, strict=True):
        assert outcome.path.name.startswith(mrn)
        assert outcome.pages == len(PdfReader(outcome.path).pages)
        assert mrn in _text(outcome.path)
    with seeded.unit_of_work(ACTOR) as uow:
        exports = [e for e in uow.audit.latest(50) if e.action == "export"]
    assert len(exports) == 3


def test_batch_with_unknown_mrn_writes_nothing(seeded: Database, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="MISSING-1"):
        generate_batch(seeded, as_user(seeded, ACTOR), ["DEMO-00001", "missing-1"],
                       tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_long_session_table_repeats_header_on_every_page(
    sqlite_db: Database, tmp_path: Path
) -> None:
    svc, patient = _register_unicode_patient(sqlite_db)
    episode = svc.episodes(patient.id)[0]
    start = date(2025, 12, 16)
    for i in range(120):
        day = start + timedelta(days=i % 80)
        svc.record_session(episode.id, _session(day, 0.5, 360.0, WalkMode.TREADMILL))
    out = tmp_path / "long.pdf"
    outcome = generate_report(sqlite_db, as_user(sqlite_db, ACTOR),
                              "UNI-001", out, now=NOW)
    assert outcome.pages >= 4
    pages = [" ".join((p.extract_text() or "").split()) for p in PdfReader(out).pages]
    with_rows = [t for t in pages if "Overground" in t or "Treadmill" in t]
    assert len(with_rows) >= 3
    assert all("Assistance" in t and "before → after" in t for t in with_rows)
    assert all(re.search(r"Page \d+ of \d+", t) for t in pages)
    # the running header names the patient on every page after the first
    assert all("Nguyễn, Thị Øyvind-Wójcik Yılmaz · MRN UNI-001" in t for t in pages[1:])


def test_importing_reports_loads_neither_qt_nor_reportlab() -> None:
    code = (
        "import sys\n"
        "import clinic_app.reports, clinic_app.services.reporting\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'shiboken6', 'reportlab')]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
