"""Fixtures for interop tests: demo charts with records entered in error, a second database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.demo import seed_demo

ACTOR = "interop-tester"


@pytest.fixture
def second_db(db: Database, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A second empty, migrated database of the same kind as ``db``."""
    if db.dialect == "sqlite":
        other = Database.open(f"sqlite:///{tmp_path / 'second.sqlite3'}", tmp_path / "bk2")
    else:
        url = request.getfixturevalue("pg_server").create()
        other = Database.open(url)
    try:
        yield other
    finally:
        other.close()


def seed_charts(db: Database) -> dict[str, object]:
    """Demo data plus a hand-made patient with in-error records and awkward text.

    Returns the hand-made records so tests can find them.
    """
    seed_demo(db, as_user(db, ACTOR), patients=4, seed=11, today=date(2025, 6, 1))
    svc = ChartingService(db, as_user(db, ACTOR))
    patient = svc.register_patient(PatientDraft(
        mrn="X-100", family_name="Ó Súilleabháin", given_name="Zoë, \"Jo\"",
        date_of_birth=date(1980, 2, 29), sex=Sex.OTHER, email="zoe@example.org",
        notes="=HYPERLINK(\"http://evil\")\nsecond line; with semicolon",
    ))
    episode = svc.open_episode(patient.id, EpisodeDraft(
        Diagnosis.ACL_RECONSTRUCTION, Side.RIGHT, date(2025, 1, 6), date(2024, 12, 20),
        referring_doctor="Dr. Ünal", notes="Graft: hamstring",
    ))
    session, tests = svc.record_session(
        episode.id,
        WalkSessionDraft(performed_at=datetime(2025, 1, 8, 9, 30, 15, 123456, tzinfo=UTC),
                         duration_min=12.5, distance_m=390.0, speed_m_s=0.52, incline_pct=-2.5,
                         pain_before=3, pain_after=2, rpe=4.5, heart_rate=101,
                         adverse_events="-dizzy briefly", plan="+5 min next time"),
        [TestResultDraft("knee_flexion_rom", date(2025, 1, 8), 95.0, side=Side.RIGHT),
         TestResultDraft("koos_qol", date(2025, 1, 8), items=(2, None, 3, 1))],
    )
    wrong = svc.record_test(episode.id, TestResultDraft("tug", date(2025, 1, 9), 14.2))
    wrong = svc.mark_test_in_error(wrong.id, wrong.stamp.version, "typed into wrong patient")
    bad_session, _ = svc.record_session(
        episode.id, WalkSessionDraft(performed_at=datetime(2025, 1, 9, 10, 0, tzinfo=UTC),
                                     duration_min=10.0))
    bad_session = svc.mark_session_in_error(bad_session.id, bad_session.stamp.version,
                                            "duplicate entry")
    return {"patient": patient, "episode": episode, "session": session, "tests": tests,
            "wrong_test": wrong, "wrong_session": bad_session}
