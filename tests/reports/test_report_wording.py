"""What page 1 says first, how the unaffected knee is worded, verdict precision, and that
the signature never stands on a page of its own - all read back from real PDFs with pypdf."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from accounts import as_user
from pypdf import PdfReader

from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    Surface,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.reporting import generate_report

ACTOR = "therapist1"
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
SURGERY = date(2026, 1, 12)
D1, D2 = date(2026, 2, 2), date(2026, 4, 13)


def _flat(text: str | None) -> str:
    return " ".join((text or "").split())


def _session(day: date) -> WalkSessionDraft:
    return WalkSessionDraft(
        performed_at=datetime.combine(day, time(10, 0), UTC), mode=WalkMode.TREADMILL,
        surface=Surface.TREADMILL_BELT, duration_min=12.0, distance_m=400.0, speed_m_s=0.55,
        incline_pct=0.0, assistance=Assistance.INDEPENDENT, pain_before=3, pain_after=2,
        rpe=4.0,
    )


def _acl_patient(db: Database) -> tuple[ChartingService, object]:
    """Left ACL reconstruction. The right (unaffected) knee loses 2° of hyperextension and
    sits exactly at 0° (inside the full-extension goal); quadriceps LSI ends at 89.96 %."""
    svc = ChartingService(db, as_user(db, ACTOR))
    patient = svc.register_patient(PatientDraft("ACL-7", "Okafor", "Chidi", date(1994, 6, 1)))
    ep = svc.open_episode(patient.id, EpisodeDraft(
        Diagnosis.ACL_RECONSTRUCTION, Side.LEFT, date(2026, 1, 19), surgery_date=SURGERY,
        referring_doctor="Dr. Haas",
    ))
    results = {
        D1: [("knee_extension_rom", -8.0, Side.LEFT), ("knee_extension_rom", 2.0, Side.RIGHT),
             ("quad_lsi", 70.0, None), ("bwt_3m", 6.0, None), ("lefs", 40.0, None)],
        D2: [("knee_extension_rom", -3.0, Side.LEFT), ("knee_extension_rom", 0.0, Side.RIGHT),
             ("quad_lsi", 89.96, None), ("bwt_3m", 4.2, None), ("lefs", 58.0, None)],
    }
    for day, tests in results.items():
        svc.record_session(ep.id, _session(day), [
            TestResultDraft(mid, day, value, side=side) for mid, value, side in tests
        ])
    return svc, ep


def test_page_one_opens_with_headlines_and_the_unaffected_knee_is_the_reference(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _acl_patient(sqlite_db)
    out = tmp_path / "acl.pdf"
    generate_report(sqlite_db, as_user(sqlite_db, ACTOR), "ACL-7", out,
                    now=NOW)
    pages = [_flat(p.extract_text()) for p in PdfReader(out).pages]
    first, text = pages[0], " ".join(pages)

    # at most five headlines, before the episode's details
    leads = re.findall(r"(Diagnosis|Weeks since surgery|Improved beyond the MCID|"
                       r"Needs attention|Criteria met): ", first.split("Episode of care")[0])
    assert leads[:4] == ["Diagnosis", "Weeks since surgery", "Improved beyond the MCID",
                         "Needs attention"] and len(leads) <= 5
    head = first.split("Episode of care")[0]
    assert "Diagnosis: ACL reconstruction, left knee" in head
    assert "Weeks since surgery: 13 (surgery 12 Jan 2026, as of 13 Apr 2026)" in head
    assert "Improved beyond the MCID: LEFS" in head
    assert "Quad LSI 89.96 % (return-to-sport criterion: at least 90 %)" in head

    # the right knee is named as the reference, never as a result
    assert not re.search(r"Worsened:[^.]*Knee extension \(right\)", text)
    assert not re.search(r"Criteria met:[^.]*Knee extension \(right\)", text)
    assert "Knee extension (right) worsened" not in text
    assert "Knee extension (right), the unaffected reference side: 0° on 13 Apr 2026" in text
    assert "side-to-side difference of 3°" in text
    assert "The right (unaffected) knee is the reference for the affected left knee" in text
    # the affected knee still gets its verdict
    assert "Knee extension (left) improved from -8° to -3°" in text

    # a verdict is printed with the precision that decided it
    assert "90.0 %" not in text
    assert "89.96 %" in text and "Not yet at the return-to-sport criterion" in text


def test_signature_is_never_alone_with_a_few_rows(sqlite_db: Database, tmp_path: Path) -> None:
    """Whatever the number of sessions, the signature page carries at least four session rows
    (or the whole table) - never the signature alone or under one or two stray rows."""
    svc, ep = _acl_patient(sqlite_db)
    first = date(2026, 2, 3)
    for i in range(60):
        svc.record_session(ep.id, _session(first + timedelta(days=i)))  # type: ignore[attr-defined]
    out = tmp_path / "long.pdf"
    breaks = 0
    for end_day in range(60):  # 2 to 61 sessions: the table ends at every height of a page
        end = first + timedelta(days=end_day)
        generate_report(sqlite_db, as_user(sqlite_db, ACTOR), "ACL-7", out, date(2026, 2, 1), end,
                        now=NOW)
        pages = [_flat(p.extract_text()) for p in PdfReader(out).pages]
        assert [i for i, t in enumerate(pages) if "Signature" in t] == [len(pages) - 1]
        last = pages[-1]
        rows_here = len(re.findall(r"\d{1,2} (?:Feb|Mar|Apr) 2026 Treadmill", last))
        breaks += "Retro-walking sessions" not in last
        assert rows_here >= 4 or "Retro-walking sessions" in last, (end_day, last)
    assert breaks > 0  # some tables did continue on the signature's page


def test_a_long_list_of_adverse_events_keeps_the_signature_with_its_last_line(
    sqlite_db: Database, tmp_path: Path
) -> None:
    svc, ep = _acl_patient(sqlite_db)
    first = date(2026, 2, 3)
    for i in range(60):
        draft = _session(first + timedelta(days=i))
        if i % 2:
            draft = replace(draft, adverse_events="Swelling after the session, ice applied; "
                            "mild giving way on the stairs reported the next morning.")
        svc.record_session(ep.id, draft)  # type: ignore[attr-defined]
    out = tmp_path / "events.pdf"
    generate_report(sqlite_db, as_user(sqlite_db, ACTOR), "ACL-7", out, date(2026, 2, 1),
                    date(2026, 4, 30), now=NOW)
    pages = [_flat(p.extract_text()) for p in PdfReader(out).pages]
    assert "Signature" in pages[-1] and "giving way" in pages[-1]
    assert sum(t.count("giving way") for t in pages) == 30
    # the session table is not cut short to wait for a trailer that cannot fit anyway
    rows = [len(re.findall(r"\d{1,2} (?:Feb|Mar|Apr) 2026 Treadmill", t)) for t in pages]
    full = [n for n in rows if n]
    # (rows that share the signature's page are at least half a page, or the long trailer
    # starts on a page of its own after the last rows)
    assert full[-1] >= 30 or rows[-1] == 0
