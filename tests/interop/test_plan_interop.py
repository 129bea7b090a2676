"""The plan of care travels in the exports, on SQLite and PostgreSQL: goals (entered in
error and achieved ones included), prescriptions, session checklists, home sessions and
dose overrides go out as CSV and come back identical (ids kept, a second import skips
them), a bad plan row stops the whole import with its file, row and column, and the FHIR
bundle carries Goal, CarePlan and checklist Observations that validate as R4."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from accounts import as_user
from fhir.resources.R4B import construct_fhir_element
from fhir.resources.R4B.bundle import Bundle

from clinic_app.domain.imports import ImportRejected
from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Dose,
    EpisodePlanRecords,
    GoalDraft,
    PrescriptionDraft,
    SafetyDraft,
)
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.interop.fhir_plan import GOAL_ACHIEVEMENT
from clinic_app.persistence.uow import Database
from clinic_app.services.facade import Clinic
from clinic_app.services.interop import export_csv, export_fhir, import_csv

START = date.today() - timedelta(days=60)


def _seed(db: Database) -> tuple[UUID, UUID]:
    c = Clinic(db, as_user(db, "thera", Role.THERAPIST, "Thera"))
    p = c.charting.register_patient(PatientDraft("PC-1", "Kowalski", "Jan", date(1958, 7, 9)))
    ep = c.charting.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                                    START, referring_doctor="Dr Peeters"))
    c.plan.save_prescription(ep.id, PrescriptionDraft(
        Dose(10, 2.0 / KMH_PER_MS, dual_task="=count backwards"), 3, notes="-flat track"))
    for day, home, over in ((2, False, ""), (5, True, ""), (9, False, "knee sore after work")):
        c.plan.record_session(ep.id, WalkSessionDraft(
            datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC)
            + timedelta(hours=9), duration_min=8 if over else 10,
            speed_m_s=2.0 / KMH_PER_MS, pain_before=2, pain_after=3, rpe=3),
            SafetyDraft(home=home, path_clear=None if home else True, surface_checked=not home
                        or None, spotter_present=not home,
                        suggestion="" if home else "Hold: 1 of 2 sessions at this dose so far",
                        overridden=bool(over), override_reason=over))
    for day, value in ((0, 40), (20, 50), (40, 58)):
        c.charting.record_test(ep.id, TestResultDraft("lefs", START + timedelta(days=day),
                                                      value))
    c.plan.add_goal(ep.id, GoalDraft("lefs", 55, START + timedelta(weeks=10), "stairs"))
    words = c.plan.add_goal(ep.id, GoalDraft(text="walk to church"))
    c.plan.set_goal_achieved(words.id, 1, START + timedelta(days=45))
    wrong = c.plan.add_goal(ep.id, GoalDraft("tug", 9, START + timedelta(weeks=6)))
    c.plan.mark_goal_in_error(wrong.id, 1, "another patient's goal")
    return p.id, ep.id


def _records(db: Database, episode_id: UUID) -> EpisodePlanRecords:
    with db.unit_of_work(as_user(db, "reader", Role.THERAPIST), read_only=True) as uow:
        return uow.plan.records_for([episode_id])[episode_id]


def _content(r: EpisodePlanRecords) -> list[tuple[object, ...]]:
    """What must survive a round trip: ids, drafts, in-error state and reason."""
    rows = [(x.id, x.draft, x.stamp.entered_in_error, x.stamp.error_reason)
            for x in (*r.goals, *r.prescriptions, *r.safety)]
    return sorted(rows, key=lambda t: str(t[0]))


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_round_trip_keeps_every_plan_record(db: Database, second_db: Database,
                                                tmp_path: Path) -> None:
    _pid, ep = _seed(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, "thera"), out)
    goals = _csv(out / "goals.csv")
    assert len(goals) == 3
    gone = [g for g in goals if g["entered_in_error"] == "true"]
    assert [g["error_reason"] for g in gone] == ["another patient's goal"]
    ticked = [g for g in goals if g["achieved"] == "true"]
    assert ticked[0]["achieved_on"] == (START + timedelta(days=45)).isoformat()
    (rx,) = _csv(out / "prescriptions.csv")
    assert rx["dual_task"] == "'=count backwards" and rx["notes"] == "'-flat track"
    checks = _csv(out / "session_safety.csv")
    assert sorted(k["home"] for k in checks) == ["false", "false", "true"]
    assert [k["override_reason"] for k in checks if k["overridden"] == "true"] == [
        "knee sore after work"]
    assert [k["path_clear"] for k in checks if k["home"] == "true"] == [""]  # not checked

    summary = import_csv(second_db, as_user(second_db, "importer", Role.THERAPIST), out)
    assert (summary.goals, summary.prescriptions, summary.checklists) == (3, 1, 3)
    assert _content(_records(second_db, ep)) == _content(_records(db, ep))
    assert second_db.verify_audit().problems == []
    again = import_csv(second_db, as_user(second_db, "importer"), out)
    assert (again.total, again.skipped_plan) == (0, 7)
    # The imported plan is the same plan: same goals' status and the same home count.
    theirs = Clinic(second_db, as_user(second_db, "importer")).plan.plan(ep)
    ours = Clinic(db, as_user(db, "thera")).plan.plan(ep)
    def status(plan: object) -> list[object]:  # imported rows share one created_at
        return sorted((str(v.goal.id), v.assessment) for v in plan.goals)  # type: ignore[attr-defined]

    assert status(theirs) == status(ours)
    assert (theirs.home_sessions, theirs.sessions) == (ours.home_sessions, ours.sessions) == (
        1, 2)


def _rewrite(path: Path, edit: dict[int, dict[str, str]],
             extra: list[dict[str, str]] | None = None) -> None:
    rows = _csv(path)
    header = list(rows[0])
    for i, change in edit.items():
        rows[i].update(change)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows + (extra or []))


def test_bad_plan_rows_stop_the_whole_import(db: Database, second_db: Database,
                                            tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, "thera"), out)
    goals = _csv(out / "goals.csv")
    measured = next(i for i, g in enumerate(goals) if g["measure_id"] == "lefs")
    _rewrite(out / "goals.csv", {measured: {"target_value": "95"}})
    (rx,) = _csv(out / "prescriptions.csv")
    _rewrite(out / "prescriptions.csv", {0: {"speed_m_s": "fast"}},
             extra=[dict(rx, prescription_id="")])
    _rewrite(out / "session_safety.csv", {0: {"session_id": "no-such-session",
                                              "spotter_present": "maybe"}})
    with pytest.raises(ImportRejected) as rejected:
        import_csv(second_db, as_user(second_db, "importer", Role.THERAPIST), out)
    found = {(p.file, p.row, p.field) for p in rejected.value.problems}
    assert ("goals.csv", measured + 2, "target_value") in found
    assert ("prescriptions.csv", 2, "speed_m_s") in found
    assert ("session_safety.csv", 2, "spotter_present") in found
    text = str(rejected.value)
    assert "0 to 80" in text and "'fast' is not a number" in text
    assert "'maybe' is not true or false" in text
    with second_db.unit_of_work("check", read_only=True) as uow:
        assert uow.bulk.patient_count() == 0  # the chart files were not stored either


def test_second_prescription_and_changed_goal_are_refused(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, "thera"), out)
    (rx,) = _csv(out / "prescriptions.csv")
    _rewrite(out / "prescriptions.csv", {}, extra=[dict(rx, prescription_id="")])
    _rewrite(out / "goals.csv", {0: {"text": "stairs, changed in a spreadsheet"}})
    with pytest.raises(ImportRejected) as rejected:
        import_csv(db, as_user(db, "thera"), out)  # into the same database
    by_field = {(p.file, p.field): p.message for p in rejected.value.problems}
    assert "one prescription per episode" in by_field[("prescriptions.csv", "episode_id")]
    assert "already stored with other values (text differ)" in by_field[
        ("goals.csv", "goal_id")]


def test_plan_file_alone_imports_into_existing_episodes(db: Database, second_db: Database,
                                                        tmp_path: Path) -> None:
    _pid, ep = _seed(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, "thera"), out)
    charts = tmp_path / "charts"
    charts.mkdir()
    for name in ("patients", "episodes", "sessions", "tests"):
        (out / f"{name}.csv").rename(charts / f"{name}.csv")
    import_csv(second_db, as_user(second_db, "importer", Role.THERAPIST), charts)
    got = import_csv(second_db, as_user(second_db, "importer"), out / "goals.csv")
    assert (got.goals, got.total) == (3, 3)
    assert len(_records(second_db, ep).goals) == 3
    # the folder of plan files alone: the goals are stored already, the rest is new
    rest = import_csv(second_db, as_user(second_db, "importer"), out)
    assert (rest.goals, rest.prescriptions, rest.checklists, rest.skipped) == (0, 1, 3, 3)
    assert _content(_records(second_db, ep)) == _content(_records(db, ep))
    assert second_db.verify_audit().problems == []


SESSION_A = "11111111-1111-4111-8111-111111111111"


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _plan_folder(folder: Path, *, mistakes: bool) -> None:
    """A hand-made clinic whose plan rows link by label and by id to rows of the chart
    files; with ``mistakes``, duplicates far from the rows they repeat."""
    folder.mkdir()
    _write(folder / "patients.csv", ["mrn", "family_name", "given_name", "date_of_birth"],
           [["A-1", "Doe", "Ann", "1960-01-01"]])
    _write(folder / "episodes.csv", ["episode_id", "mrn", "diagnosis", "affected_side",
                                     "start_date"],
           [["e1", "A-1", "knee_osteoarthritis", "left", START.isoformat()]])
    day = (START + timedelta(days=3)).isoformat()
    _write(folder / "sessions.csv", ["session_id", "episode_id", "performed_at",
                                     "duration_min"],
           [["s1", "e1", f"{day}T09:00:00+00:00", "10"],
            [SESSION_A, "e1", f"{day}T15:00:00+00:00", "10"]])
    goals = [["g1", "e1", "", "", "walk to church", ""],
             ["g2", "", "A-1", START.isoformat(), "stairs without a rail", ""]]
    rxs = [["e1", "12", "", ""], ["e1", "10", "true", "typed twice"]]
    checks = [["s1", "true", ""], [SESSION_A, "false", "true"]]
    if mistakes:
        goals += [["g1", "e1", "", "", "again", ""], ["g3", "e9", "", "", "nowhere", ""]]
        rxs += [["e1", "14", "", ""]]
        checks += [["s1", "", "true"], [SESSION_A, "true", ""], ["nope", "true", ""]]
    _write(folder / "goals.csv", ["goal_id", "episode_id", "mrn", "episode_start", "text",
                                  "entered_in_error"], goals)
    _write(folder / "prescriptions.csv", ["episode_id", "duration_min", "entered_in_error",
                                          "error_reason"], rxs)
    _write(folder / "session_safety.csv", ["session_id", "path_clear", "surface_checked"],
           checks)


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_plan_rows_are_checked_and_stored_whatever_the_chunk(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int,
) -> None:
    """The plan files are read in chunks like the chart files: a repeated id, a second live
    prescription or a second checklist of one session is found however far apart the
    rows are, links by label reach the chart files' rows, and all or nothing is stored."""
    from clinic_app.interop import csv_stream

    monkeypatch.setattr(csv_stream, "CHUNK_ROWS", chunk)
    _plan_folder(tmp_path / "bad", mistakes=True)
    with pytest.raises(ImportRejected) as rejected:
        import_csv(db, as_user(db, "thera", Role.THERAPIST), tmp_path / "bad")
    found = sorted(str(p) for p in rejected.value.problems)
    assert found == [
        "goals.csv row 4, column goal_id: goal_id g1 appears twice (also row 2)",
        "goals.csv row 5, column episode_id: no episode e9 in the file or the database "
        "(allowed: an episode_id from episodes.csv or the database, or leave blank and "
        "give mrn + episode_start)",
        "prescriptions.csv row 4, column episode_id: the episode already has a "
        "prescription in this file (row 2); allowed: one prescription per episode not "
        "entered in error",
        "session_safety.csv row 4, column session_id: session s1 already has a checklist "
        "row in this file (row 2); allowed: one per session",
        f"session_safety.csv row 5, column session_id: session {SESSION_A} already has a "
        "checklist row in this file (row 3); allowed: one per session",
        "session_safety.csv row 6, column session_id: no session nope in the file or the "
        "database (allowed: a session_id from sessions.csv or the database)",
    ]
    with db.unit_of_work("check", read_only=True) as uow:
        assert uow.bulk.patient_count() == 0  # nothing of any file was stored

    _plan_folder(tmp_path / "good", mistakes=False)
    got = import_csv(db, as_user(db, "thera"), tmp_path / "good")
    assert (got.patients, got.sessions, got.goals, got.prescriptions, got.checklists) == (
        1, 2, 2, 2, 2)
    c = Clinic(db, as_user(db, "thera"))
    patient = c.charting.find_by_mrn("A-1")
    assert patient is not None
    (ep,) = c.charting.chart(patient.id).episodes
    records = _records(db, ep.episode.id)
    assert sorted(g.draft.text for g in records.goals) == [
        "stairs without a rail", "walk to church"]
    assert sorted((p.draft.dose.duration_min, p.stamp.error_reason or "")
                  for p in records.prescriptions) == [(10, "typed twice"), (12, "")]
    sessions = {s.id: s.draft.performed_at for s in ep.sessions}
    assert sorted((sessions[k.session_id].hour, k.draft.path_clear, k.draft.surface_checked)
                  for k in records.safety) == [(9, True, None), (15, False, True)]
    with db.unit_of_work("check", read_only=True) as uow:
        (event,) = [e for e in uow.audit.latest(20)
                    if e.action == "import" and e.entity == "patient"]
    assert "6 plan record(s)" in (event.detail or "")
    assert db.verify_audit().problems == []


def test_fhir_bundle_carries_goals_care_plan_and_checklists(db: Database,
                                                            tmp_path: Path) -> None:
    pid, ep = _seed(db)
    out = tmp_path / "b.json"
    export_fhir(db, as_user(db, "thera"), out, "PC-1")
    doc = json.loads(out.read_text(encoding="utf-8"))
    Bundle.parse_obj(doc)
    for e in doc["entry"]:
        construct_fhir_element(e["resource"]["resourceType"], e["resource"])
    res = [e["resource"] for e in doc["entry"]]
    goals = {g["description"]["text"]: g for g in res if g["resourceType"] == "Goal"}
    assert len(goals) == 3
    measured = next(g for t, g in goals.items() if t.startswith("LEFS"))
    assert measured["lifecycleStatus"] == "active"
    assert measured["achievementStatus"]["coding"][0] == {
        "system": GOAL_ACHIEVEMENT, "code": "achieved", "display": "Achieved"}
    target = measured["target"][0]
    assert target["detailQuantity"]["value"] == 55
    assert target["dueDate"] == (START + timedelta(weeks=10)).isoformat()
    assert {"system": "urn:backstep:measure", "code": "lefs",
            "display": "Lower Extremity Functional Scale"} in target["measure"]["coding"]
    ticked = goals["walk to church"]
    assert ticked["lifecycleStatus"] == "completed"
    assert ticked["statusDate"] == (START + timedelta(days=45)).isoformat()
    wrong = next(g for g in goals.values() if g["lifecycleStatus"] == "entered-in-error")
    assert "another patient's goal" in wrong["note"][0]["text"]
    (plan,) = [r for r in res if r["resourceType"] == "CarePlan"]
    assert plan["status"] == "active" and plan["intent"] == "plan"
    detail = plan["activity"][0]["detail"]
    assert detail["scheduledTiming"]["repeat"] == {"frequency": 3, "period": 1,
                                                   "periodUnit": "wk"}
    assert "8 min at 2.0 km/h" in detail["description"]  # the last session's dose
    assert {g["reference"] for g in plan["goal"]} == {
        f"urn:uuid:{g['id']}" for g in goals.values() if g is not wrong}
    checks = [r for r in res if r["resourceType"] == "Observation"
              and r["code"]["coding"][0]["code"] == "session-safety"]
    assert len(checks) == 3
    home = [c for c in checks if "performer" in c]
    assert [c["performer"] for c in home] == [[{"reference": f"urn:uuid:{pid}"}]]
    urls = {e["fullUrl"] for e in doc["entry"]}
    for r in (*goals.values(), plan, *checks):
        for ref in json.dumps(r).split('"reference": "')[1:]:
            assert ref.split('"')[0] in urls


def test_batch_read_into_memory_carries_the_plan_of_care(db: Database, second_db: Database,
                                                         tmp_path: Path) -> None:
    """``read_import`` + ``store_batch`` (rows held in memory) keep the plan files too."""
    from clinic_app.interop.csv_io import read_import
    from clinic_app.services.interop import store_batch

    _pid, ep = _seed(db)
    out = tmp_path / "out"
    export_csv(db, as_user(db, "thera"), out)
    batch = read_import(out)
    assert (len(batch.goals), len(batch.prescriptions), len(batch.safety)) == (3, 1, 3)
    got = store_batch(second_db, as_user(second_db, "importer", Role.THERAPIST), batch)
    assert (got.goals, got.prescriptions, got.checklists) == (3, 1, 3)
    assert _content(_records(second_db, ep)) == _content(_records(db, ep))
