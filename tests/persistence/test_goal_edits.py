"""Goals changed after they were set, on SQLite and PostgreSQL: a goal in words ticked
achieved with its date (checked, versioned, audited, signed), edits refused to the front
desk, two workstations saving the same goal or prescription meet a conflict that carries
the stored version, and the discharge summary shows the goals as they now stand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from pypdf import PdfReader
from sqlalchemy import select, text

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.permissions import PermissionDeniedError
from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Dose,
    Goal,
    GoalDraft,
    GoalStatus,
    Prescription,
    PrescriptionDraft,
)
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    TestResultDraft,
)
from clinic_app.persistence import rowmac
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.uow import Database
from clinic_app.services.facade import Clinic

START = date.today() - timedelta(days=40)


def _clinic(db: Database, name: str = "thera", role: Role = Role.THERAPIST) -> Clinic:
    return Clinic(db, as_user(db, name, role, name.title()))


def _episode(db: Database) -> tuple[Clinic, object]:
    c = _clinic(db)
    p = c.charting.register_patient(PatientDraft("G-1", "Nowak", "Ola", date(1966, 4, 2)))
    ep = c.charting.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                                    START, referring_doctor="Dr Smet"))
    return c, ep


def test_goal_in_words_achieved_with_its_date(db: Database) -> None:
    c, ep = _episode(db)
    goal = c.plan.add_goal(ep.id, GoalDraft(text="carry shopping up the stairs"))
    with pytest.raises(ValidationError, match=r"Date achieved.*in the future.*up to today"):
        c.plan.set_goal_achieved(goal.id, 1, date.today() + timedelta(days=1))
    with pytest.raises(ValidationError, match=r"Date achieved.*before the episode started"):
        c.plan.set_goal_achieved(goal.id, 1, START - timedelta(days=1))
    day = START + timedelta(days=30)
    done = c.plan.set_goal_achieved(goal.id, 1, day)
    assert (done.draft.achieved, done.draft.achieved_on, done.stamp.version) == (True, day, 2)
    view = c.plan.plan(ep.id).goals[0]
    assert view.assessment.status == GoalStatus.MET
    assert day.strftime("%Y") in view.assessment.reason and "achieved on" in (
        view.assessment.reason)
    # An edit of the words keeps the achievement; unticking clears the date.
    edited = c.plan.update_goal(goal.id, 2, replace(done.draft, text="carry shopping upstairs"))
    assert edited.draft.achieved_on == day
    undone = c.plan.set_goal_achieved(goal.id, 3, None)
    assert (undone.draft.achieved, undone.draft.achieved_on) == (False, None)
    with db.unit_of_work("check", read_only=True) as uow:
        events = uow.session.scalars(select(AuditRow).where(
            AuditRow.entity == "goal").order_by(AuditRow.seq)).all()
    assert [e.action for e in events] == ["create", "update", "update", "update"]
    assert events[1].detail == "achieved" and events[3].detail == "not achieved"
    assert db.verify_audit().problems == []


def test_a_measured_goal_is_met_by_its_results_not_ticked(db: Database) -> None:
    c, ep = _episode(db)
    goal = c.plan.add_goal(ep.id, GoalDraft("lefs", 60, START + timedelta(weeks=8)))
    with pytest.raises(ValidationError, match="Achieved.*only a goal in words"):
        c.plan.set_goal_achieved(goal.id, 1, date.today())
    assert c.plan.goals(ep.id)[0].stamp.version == 1


def test_front_desk_cannot_edit_mark_or_tick_goals(db: Database) -> None:
    c, ep = _episode(db)
    goal = c.plan.add_goal(ep.id, GoalDraft(text="stairs"))
    desk = _clinic(db, "desk", Role.FRONT_DESK)
    with pytest.raises(PermissionDeniedError):
        desk.plan.update_goal(goal.id, 1, replace(goal.draft, text="lift"))
    with pytest.raises(PermissionDeniedError):
        desk.plan.mark_goal_in_error(goal.id, 1, "not mine to judge")
    with pytest.raises(PermissionDeniedError):
        desk.plan.set_goal_achieved(goal.id, 1, date.today())
    assert c.plan.goals(ep.id) == [goal]


def test_two_workstations_conflict_on_a_goal_and_the_prescription(db: Database) -> None:
    a, ep = _episode(db)
    b = _clinic(db, "colleague")
    goal = a.plan.add_goal(ep.id, GoalDraft("lefs", 60, START + timedelta(weeks=8)))
    rx = a.plan.save_prescription(ep.id, PrescriptionDraft(Dose(10, 2.0 / KMH_PER_MS), 3))
    b.plan.update_goal(goal.id, 1, replace(goal.draft, target_value=64))
    b.plan.save_prescription(ep.id, replace(rx.draft, sessions_per_week=4), 1)
    with pytest.raises(ConflictError) as goal_conflict:
        a.plan.update_goal(goal.id, 1, replace(goal.draft, target_value=70))
    cur = goal_conflict.value.current
    assert isinstance(cur, Goal) and cur.draft.target_value == 64
    assert cur.stamp.updated_by == "colleague" and cur.stamp.version == 2
    with pytest.raises(ConflictError) as rx_conflict:
        a.plan.save_prescription(ep.id, replace(rx.draft, dose=replace(rx.draft.dose,
                                                                       duration_min=14)), 1)
    stored = rx_conflict.value.current
    assert isinstance(stored, Prescription) and stored.draft.sessions_per_week == 4
    # Reviewed: saved against the stored versions, nothing of the other's lost.
    a.plan.update_goal(goal.id, 2, replace(cur.draft, target_value=70))
    final = a.plan.save_prescription(ep.id, replace(stored.draft, dose=replace(
        stored.draft.dose, duration_min=14)), stored.stamp.version)
    assert (final.draft.dose.duration_min, final.draft.sessions_per_week) == (14, 4)
    assert a.plan.goals(ep.id)[0].draft.target_value == 70


def test_achieved_date_is_signed_and_old_rows_still_verify(db: Database) -> None:
    c, ep = _episode(db)
    goal = c.plan.add_goal(ep.id, GoalDraft(text="garden"))
    c.plan.set_goal_achieved(goal.id, 1, START + timedelta(days=3))
    assert db.verify_audit().problems == []
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE care_goal SET achieved_on = NULL"))
    problems = db.verify_audit().problems
    assert any(p.startswith("goal ") and "outside Backstep" in p for p in problems)


def test_empty_added_column_leaves_the_signed_text_as_before() -> None:
    """A goal signed before migration 0007 (no achieved_on column) keeps a valid MAC: the
    empty column is not part of the signed text; a value is, in both signers."""
    key = b"k" * 32
    names = [n for n in rowmac.LAYOUTS["care_goal"].names]
    values = {n: None for n in names} | {
        "id": "6f1c1a56-4b7e-4d0e-9a51-0d2b6c1f0a11", "text": "garden", "achieved": False,
        "version": 1, "entered_in_error": False}
    before = rowmac.canonical("care_goal", values)
    assert b"achieved_on" not in before
    with_day = rowmac.canonical("care_goal", values | {"achieved_on": date(2026, 5, 1)})
    assert b"achieved_on\x1f2026-05-01" in with_day
    keys = [n for n in names if n not in ("created_at", "created_by", "updated_at",
                                          "updated_by", "version")]
    stamps = {"created_at": datetime(2026, 5, 1, tzinfo=UTC), "created_by": "t",
              "updated_at": datetime(2026, 5, 1, tzinfo=UTC), "updated_by": "t", "version": 1}
    sign = rowmac.row_signer(key, "care_goal", keys, stamps)
    for day in (None, date(2026, 5, 1)):
        row = values | stamps | {"achieved_on": day}
        assert sign(tuple(row[k] for k in keys)) == rowmac.compute(key, "care_goal", row)


def test_discharge_summary_shows_goals_as_edited(db: Database, tmp_path: Path) -> None:
    from clinic_app.services.plan_documents import generate_document

    c, ep = _episode(db)
    c.plan.save_prescription(ep.id, PrescriptionDraft(Dose(10, 2.0 / KMH_PER_MS), 3))
    for day, value in ((0, 40), (14, 50), (28, 58)):
        c.charting.record_test(ep.id, TestResultDraft("lefs", START + timedelta(days=day),
                                                      value))
    lefs = c.plan.add_goal(ep.id, GoalDraft("lefs", 70, START + timedelta(weeks=8)))
    words = c.plan.add_goal(ep.id, GoalDraft(text="dance at the wedding"))
    wrong = c.plan.add_goal(ep.id, GoalDraft(text="return to skiing this winter"))
    c.plan.update_goal(lefs.id, 1, replace(lefs.draft, target_value=55))  # met by results
    c.plan.set_goal_achieved(words.id, 1, START + timedelta(days=30))
    c.plan.mark_goal_in_error(wrong.id, 1, "another patient's goal")
    out = tmp_path / "discharge.pdf"
    generate_document(db, as_user(db, "thera"), "G-1", "discharge", out)
    got = "\n".join(p.extract_text() or "" for p in PdfReader(out).pages)
    squashed = " ".join(got.split())
    assert "2 of 2 goal(s) met" in squashed
    assert "dance at the wedding" in squashed and "achieved on" in squashed
    assert "55 points" in squashed and "70 points" not in squashed
    assert "skiing" not in squashed


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_goals_signed_before_0007_verify_after_the_upgrade(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from alembic import command

    from clinic_app.persistence import migrate
    from clinic_app.persistence.engine import make_engine

    url = (f"sqlite:///{tmp_path / 'm.sqlite3'}" if kind == "sqlite"
           else request.getfixturevalue("pg_server").create())
    db = Database.open(url, tmp_path / "bk")
    c, ep = _episode(db)
    c.plan.add_goal(ep.id, GoalDraft("lefs", 60, START + timedelta(weeks=8)))
    words = c.plan.add_goal(ep.id, GoalDraft(text="garden"))
    db.close()
    engine = make_engine(url)
    with engine.begin() as conn:  # back to the schema those rows were signed under
        command.downgrade(migrate.alembic_config(conn), "0006")
    engine.dispose()
    db = Database.open(url, tmp_path / "bk")
    try:
        assert db.migration is not None and db.migration.to_revision == migrate.HEAD_REVISION
        assert db.verify_audit().problems == []
        c = _clinic(db)
        done = c.plan.set_goal_achieved(words.id, 1, START + timedelta(days=2))
        assert done.draft.achieved_on == START + timedelta(days=2)
        assert db.verify_audit().problems == []
    finally:
        db.close()
