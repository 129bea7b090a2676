"""An episode's surgery type and treating therapist, on SQLite and PostgreSQL: checked in
the service (a type needs a surgery date; the therapist is an active clinician), stored,
audited and signed; episodes signed before migration 0009 still verify after it and read
their creator as the treating therapist; the cohort summary follows every edit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import select, text

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    SurgeryType,
    TestResultDraft,
    surgery_label,
)
from clinic_app.domain.validation import validate_episode
from clinic_app.persistence.cohort_summary import cohort_week
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService

START = date.today() - timedelta(days=60)
SURGERY = START - timedelta(days=5)
BIRTH = date(1990, 3, 4)


def _service(db: Database, name: str, role: Role = Role.THERAPIST) -> ChartingService:
    return ChartingService(db, as_user(db, name, role, name.title()))


def _patient(c: ChartingService, mrn: str = "S-1") -> object:
    return c.register_patient(PatientDraft(mrn, "Lind", "Eva", BIRTH))


def _acl(**kw: object) -> EpisodeDraft:
    base = EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.RIGHT, START, surgery_date=SURGERY)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_type_without_a_date_is_refused_naming_both_fields() -> None:
    draft = _acl(surgery_date=None, surgery_type=SurgeryType.ACL_PATELLAR)
    with pytest.raises(ValidationError) as err:
        validate_episode(draft, BIRTH)
    assert err.value.field == "Surgery type" and "Surgery date" in str(err.value)
    validate_episode(_acl(), BIRTH)  # a date without a type: "not recorded"
    assert surgery_label(None) == "not recorded"
    with pytest.raises(ValidationError, match="Surgery type.*allowed: acl_recon_hamstring"):
        validate_episode(_acl(surgery_type="knee_swap"), BIRTH)


def test_every_listed_operation_has_a_stable_code_and_words() -> None:
    assert len(SurgeryType) == 11
    assert SurgeryType("acl_recon_hamstring").label == "ACL reconstruction (hamstring graft)"
    assert SurgeryType("mpfl_reconstruction").label == "MPFL reconstruction"


def test_therapist_defaults_to_the_opener_and_can_be_changed(db: Database) -> None:
    anna, _ben = _service(db, "anna"), _service(db, "ben")
    desk = _service(db, "desk", Role.FRONT_DESK)
    p = _patient(anna)
    ep = anna.open_episode(p.id, _acl(surgery_type=SurgeryType.ACL_HAMSTRING))  # type: ignore[attr-defined]
    assert ep.draft.treating_therapist == "anna"
    assert anna.episodes(p.id)[0].draft.surgery_type is SurgeryType.ACL_HAMSTRING  # type: ignore[attr-defined]
    assert [u.username for u in anna.clinicians()] == ["anna", "ben"]
    assert "desk" not in [u.username for u in desk.clinicians()]
    moved = anna.update_episode(ep.id, ep.stamp.version,
                                replace(ep.draft, treating_therapist="ben"))
    assert moved.draft.treating_therapist == "ben"
    for bad in ("desk", "nobody"):
        with pytest.raises(ValidationError, match="Treating therapist.*allowed: an active"):
            anna.update_episode(ep.id, moved.stamp.version,
                                replace(ep.draft, treating_therapist=bad))
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT surgery_type, treating_therapist FROM episode")).one()
        audit = conn.execute(select(AuditRow.after).where(
            AuditRow.entity == "episode", AuditRow.action == "update")).scalars().all()
    assert tuple(stored) == ("acl_recon_hamstring", "ben")
    assert any("ben" in str(a) for a in audit)
    assert db.verify_audit().problems == []


def test_a_deactivated_therapist_stays_on_the_episode(db: Database) -> None:
    anna = _service(db, "anna")
    _service(db, "ben")
    p = _patient(anna)
    ep = anna.open_episode(p.id, _acl(treating_therapist="ben"))  # type: ignore[attr-defined]
    with db.engine.begin() as conn:  # ben leaves; the signature of his account is not checked
        conn.execute(text("UPDATE app_user SET active = false WHERE username = 'ben'"))
    kept = anna.update_episode(ep.id, ep.stamp.version, replace(ep.draft, notes="week 8"))
    assert kept.draft.treating_therapist == "ben"


def test_changing_type_or_therapist_outside_backstep_is_detected(db: Database) -> None:
    anna = _service(db, "anna")
    _service(db, "ben")
    p = _patient(anna)
    anna.open_episode(p.id, _acl(surgery_type=SurgeryType.TKA))  # type: ignore[attr-defined]
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE episode SET treating_therapist = 'ben'"))
    assert any("outside Backstep" in x for x in db.verify_audit().problems)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE episode SET treating_therapist = NULL, surgery_type = NULL"))
    assert any("outside Backstep" in x for x in db.verify_audit().problems)


def test_the_summary_follows_type_and_therapist_edits(db: Database) -> None:
    from test_cohort_summary import assert_exact

    anna = _service(db, "anna")
    _service(db, "ben")
    p = _patient(anna)
    ep = anna.open_episode(p.id, _acl())  # type: ignore[attr-defined]
    for week in (1, 3):
        anna.record_test(ep.id, TestResultDraft("lefs", SURGERY + timedelta(weeks=week), 40))
    rows = assert_exact(db)
    cols = [c.name for c in cohort_week.columns]
    at_type, at_ther = cols.index("surgery_type"), cols.index("therapist")
    assert {(r[at_type], r[at_ther]) for r in rows} == {(None, "anna")}
    ep = anna.episodes(p.id)[0]  # type: ignore[attr-defined]
    anna.update_episode(ep.id, ep.stamp.version, replace(
        ep.draft, surgery_type=SurgeryType.MENISCUS_REPAIR, treating_therapist="ben"))
    rows = assert_exact(db)
    assert {(r[at_type], r[at_ther]) for r in rows} == {("meniscus_repair", "ben")}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_episodes_signed_before_0009_verify_and_read_their_creator(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from alembic import command
    from test_cohort_summary import assert_exact

    from clinic_app.persistence import migrate
    from clinic_app.persistence.engine import make_engine

    url = (f"sqlite:///{tmp_path / 'm.sqlite3'}" if kind == "sqlite"
           else request.getfixturevalue("pg_server").create())
    db = Database.open(url, tmp_path / "bk")
    anna = _service(db, "anna")
    p = _patient(anna)
    ep = anna.open_episode(p.id, _acl())  # type: ignore[attr-defined]
    anna.record_test(ep.id, TestResultDraft("lefs", SURGERY + timedelta(weeks=2), 44))
    db.close()
    engine = make_engine(url)
    with engine.begin() as conn:  # back to the schema that episode was signed under
        command.downgrade(migrate.alembic_config(conn), "0007")
    engine.dispose()
    db = Database.open(url, tmp_path / "bk")
    try:
        assert db.migration is not None and db.migration.to_revision == "0009"
        assert db.verify_audit().problems == []
        anna = _service(db, "anna")
        _service(db, "ben")
        old = anna.episodes(p.id)[0]  # type: ignore[attr-defined]
        assert (old.draft.treating_therapist, old.draft.surgery_type) == ("anna", None)
        rows = assert_exact(db)  # 0009 filled the summary 0008 created
        assert rows
        anna.update_episode(old.id, old.stamp.version, replace(
            old.draft, surgery_type=SurgeryType.ACL_QUADRICEPS, treating_therapist="ben"))
        assert db.verify_audit().problems == []
    finally:
        db.close()


def _two_episodes(db: Database) -> ChartingService:
    """An operated episode with its type, treated by ben, and one without surgery."""
    anna = _service(db, "anna")
    _service(db, "ben")
    p = _patient(anna)
    anna.open_episode(p.id, _acl(surgery_type=SurgeryType.MPFL,  # type: ignore[attr-defined]
                                 treating_therapist="ben", referring_doctor="Dr Roy"))
    anna.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,  # type: ignore[attr-defined]
                                         START + timedelta(days=1)))
    return anna


def test_csv_round_trip_keeps_type_and_therapist(db: Database, tmp_path: Path) -> None:
    from clinic_app.services.interop import export_csv, import_csv

    _two_episodes(db)
    export_csv(db, as_user(db, "admin"), tmp_path / "out")
    header = (tmp_path / "out" / "episodes.csv").read_text("utf-8-sig").splitlines()[0]
    assert header.endswith("surgery_type,treating_therapist")
    (tmp_path / "target").mkdir()
    target = Database.open(f"sqlite:///{tmp_path / 'target.sqlite3'}", tmp_path / "bk2",
                           audit_key=db.audit_key, state_dir=tmp_path / "target")
    try:
        for place in (target, db):  # a new clinic, and the same one again (all skipped)
            import_csv(place, as_user(place, "admin"), tmp_path / "out")
            svc = ChartingService(place, as_user(place, "admin"))
            found = svc.find_by_mrn("S-1")
            assert found is not None
            eps = sorted(svc.episodes(found.id), key=lambda e: e.draft.start_date)
            got = [(e.draft.surgery_type, e.draft.treating_therapist) for e in eps]
            assert got == [(SurgeryType.MPFL, "ben"), (None, "anna")]
            assert place.verify_audit().problems == []
    finally:
        target.close()


def test_report_discharge_and_fhir_show_the_operation(db: Database, tmp_path: Path) -> None:
    import json

    from pypdf import PdfReader

    from clinic_app.services.interop import export_fhir
    from clinic_app.services.reporting import generate_report

    _two_episodes(db)
    out = tmp_path / "r.pdf"
    generate_report(db, as_user(db, "anna"), "S-1", out)
    text = " ".join(" ".join(p.extract_text() or "" for p in PdfReader(out).pages).split())
    assert "MPFL reconstruction" in text and "Treating therapist" in text
    bundle = json.loads(export_fhir(db, as_user(db, "admin"), tmp_path / "b.json").path
                        .read_text("utf-8"))
    res = [e["resource"] for e in bundle["entry"]]
    (proc,) = [r for r in res if r["resourceType"] == "Procedure"]
    assert proc["code"]["coding"][0]["code"] == "mpfl_reconstruction"
    assert proc["code"]["text"] == "MPFL reconstruction"
    managers = sorted(r["careManager"]["identifier"]["value"] for r in res
                      if r["resourceType"] == "EpisodeOfCare")
    assert managers == ["anna", "ben"]
