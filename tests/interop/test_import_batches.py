"""What a large import holds at once: the patients' audit events are written a batch at a
time, the chunks it read are freed once handled (but never rows a caller handed in), and
the stored rows' signatures are looked up by id, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from clinic_app.domain.imports import ImportBatch
from clinic_app.interop import csv_stream
from clinic_app.interop.csv_io import read_import
from clinic_app.persistence import bulk
from clinic_app.persistence.models import AuditRow, PatientRow, WalkSessionRow
from clinic_app.persistence.uow import Database
from clinic_app.services import interop
from clinic_app.services.import_plan import ImportPlan
from clinic_app.services.interop import export_csv, import_csv, store_batch
from tests.interop.conftest import ACTOR, seed_charts


def _patient_events(db: Database) -> list[tuple[str | None, str | None]]:
    with db.unit_of_work(ACTOR) as uow:
        return [(r.entity_id, r.detail) for r in uow.session.execute(
            select(AuditRow.entity_id, AuditRow.detail)
            .where(AuditRow.action == "import", AuditRow.entity == "patient")
            .order_by(AuditRow.seq))]


def test_patient_audit_events_in_batches_are_one_chain_in_id_order(
        db: Database, second_db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_charts(db)
    export_csv(db, as_user(db, ACTOR), tmp_path / "out")
    monkeypatch.setattr(interop, "WRITE_BATCH", 2)  # several batches of events
    summary = import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    events = _patient_events(second_db)
    with second_db.unit_of_work(ACTOR) as uow:
        patients = sorted(str(i) for i in uow.session.scalars(select(PatientRow.id)))
    assert summary.patients == len(patients) >= 5
    assert [entity for entity, _ in events] == patients  # one each, in the order of the ids
    assert all(detail and detail.startswith("from out: 1 patient, ") for _, detail in events)
    report = second_db.verify_audit()
    assert report.ok, report.problems


def test_an_import_frees_the_chunks_it_read_but_not_rows_handed_in(
        db: Database, second_db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_charts(db)
    export_csv(db, as_user(db, ACTOR), tmp_path / "out")
    handed: list[list[object]] = []
    read = csv_stream.read_chunks

    def kept(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for kind, rows in read(*args, **kwargs):  # type: ignore[arg-type]
            if isinstance(rows, list):
                handed.append(rows)
            yield kind, rows

    monkeypatch.setattr(csv_stream, "read_chunks", kept)
    import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    assert handed and all(rows == [] for rows in handed)  # emptied once handled

    batch = read_import(tmp_path / "out")
    sizes = (len(batch.patients), len(batch.episodes), len(batch.sessions), len(batch.tests))
    again = store_batch(second_db, as_user(second_db, "importer"), batch)
    assert again.total == 0  # all stored already
    assert (len(batch.patients), len(batch.episodes), len(batch.sessions),
            len(batch.tests)) == sizes  # the caller's rows are left as they were
    assert isinstance(batch, ImportBatch) and sizes[0] >= 5


def test_stored_signatures_answer_for_the_stored_ids_only(db: Database) -> None:
    seed_charts(db)
    with db.unit_of_work(ACTOR) as uow:
        stored = [str(i) for i in uow.session.scalars(select(WalkSessionRow.id))]
        unknown = "0" * 8 + "-0000-4000-8000-" + "0" * 12
        found = uow.bulk.stored_signatures("session", [unknown, *reversed(stored)])
    assert sorted(found) == sorted(stored) and len(stored) >= 5
    assert all(len(mac) == 64 for _stamps, mac in found.values())


def test_signatures_read_beside_the_check_see_its_snapshot_only(db: Database) -> None:
    """The stamps and signatures an import's check reads ahead (on PostgreSQL on a second
    connection, on a thread) are those of the check's own snapshot, not of a save that
    another workstation committed after the check began."""
    seed_charts(db)
    with db.unit_of_work(ACTOR, read_only=True, snapshot=True) as check:
        ids = [str(i) for i in check.session.scalars(select(WalkSessionRow.id))]
        before = check.bulk.stored_signatures("session", ids)
        with db.unit_of_work(ACTOR) as other:  # another workstation saves meanwhile
            row = other.session.get(WalkSessionRow, uuid.UUID(ids[0]))
            assert row is not None
            row.subjective = "changed after the check began"
        try:
            pending = check.bulk.stored_signatures_soon("session", ids, in_snapshot=True)
            seen = pending.result()
            assert not pending.running()
        finally:
            check.bulk.close_side_reader()
    assert seen == before and len(seen) == len(ids) >= 5
    with db.unit_of_work(ACTOR, read_only=True) as later:
        now = later.bulk.stored_signatures("session", ids)
    assert now[ids[0]] != before[ids[0]]  # the save is there for a later reading
    assert {k: v for k, v in now.items() if k != ids[0]} == \
        {k: v for k, v in before.items() if k != ids[0]}


def test_a_check_that_fails_midway_ends_its_second_connection(
        db: Database, second_db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_charts(db)
    export_csv(db, as_user(db, ACTOR), tmp_path / "out")
    import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")

    def broken(self: object, rows: object) -> None:
        raise RuntimeError("the tests file could not be checked")

    monkeypatch.setattr(ImportPlan, "_tests", broken)  # after the sessions were checked
    with pytest.raises(RuntimeError):
        import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    assert not [t for t in threading.enumerate() if t.name.startswith("import-signatures")]
    assert second_db.engine.pool.checkedout() == 0  # every connection is back in the pool


def test_a_check_without_a_second_connection_reads_in_turn(
        db: Database, second_db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server with no connection to spare (PostgreSQL's side reader refused) slows the
    check down but gives the same answer."""
    seed_charts(db)
    export_csv(db, as_user(db, ACTOR), tmp_path / "out")
    first = import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    asked: list[int] = []

    def refused(engine: object) -> object:
        asked.append(1)
        raise OperationalError("connect", {}, Exception("too many clients already"))

    monkeypatch.setattr(bulk, "_second_connection", refused)
    again = import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    assert again.total == 0 and again.skipped == first.total > 0
    assert len(asked) == (1 if second_db.dialect == "postgresql" else 0)  # asked once only


def test_a_bulk_write_plans_every_lookup_for_its_own_ids(db: Database) -> None:
    """PostgreSQL: inside an import's writing transaction no lookup runs on a generic plan.
    psycopg prepares a statement run five times and the server then settles on one plan;
    made while a new clinic's tables were empty, that plan scanned whole tables while the
    import filled them (seconds a lookup; an import into an empty clinic never finished).
    SQLite: the large page cache while it writes, the earlier size after."""
    ids = [uuid.uuid4() for _ in range(3)]
    with db.unit_of_work(ACTOR) as uow:
        conn = uow.session.connection()
        cache = conn.exec_driver_sql("PRAGMA cache_size").scalar() \
            if db.dialect == "sqlite" else None
        with uow.bulk.bulk_writing():
            for _ in range(12):  # prepared after 5 runs; a generic plan tried after 5 more
                assert uow.bulk.stored("session", ids) == {}
            if db.dialect == "postgresql":
                assert conn.exec_driver_sql(
                    "SELECT count(*), coalesce(sum(generic_plans), 0) "
                    "FROM pg_prepared_statements").one() == (1, 0)
            else:
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == \
                    -bulk.SQLITE_IMPORT_CACHE_KIB
        if db.dialect == "sqlite":
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == cache
