"""Backups are streamed: progress as they go, a line-per-row PostgreSQL format that is
checked to its last line, older whole-document backups still restorable, and one
automatic backup per clinic per day on a shared PostgreSQL database."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.domain.records import ClinicInfo, PatientDraft
from clinic_app.persistence import backup as backups
from clinic_app.persistence.uow import Database
from clinic_app.services.maintenance import backup_now, daily_backup_if_due, restore_from


def _add(db: Database, mrn: str) -> None:
    with db.unit_of_work("t") as uow:
        p = uow.patients.add(PatientDraft(mrn, "Ødegård", "Åse", date(1970, 1, 1)))
        uow.audit.record("create", "patient", p.id, p.id)


def _mrns(db: Database) -> list[str]:
    with db.unit_of_work("t") as uow:
        return sorted(p.draft.mrn for p in uow.patients.search(include_in_error=True))


def test_backup_reports_progress_up_to_its_total(db: Database, tmp_path: Path) -> None:
    for i in range(30):
        _add(db, f"P-{i}")
    seen: list[tuple[int, int]] = []
    backup_now(db, as_user(db, "admin"), tmp_path / "b.bak",
               progress=lambda done, total: seen.append((done, total)))
    assert seen, "no progress was reported"
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert seen[-1][0] == seen[-1][1] > 0


def _pg_backup(db: Database, tmp_path: Path) -> Path:
    _add(db, "KEEP-1")
    with db.unit_of_work("t") as uow:
        uow.clinic.save(ClinicInfo("Knee Clinic", "Straße 1", logo_png=b"\x89PNG\r\n\x00\\x"))
    return backup_now(db, as_user(db, "admin"), tmp_path / "b.json.gz").path


def test_postgresql_backup_is_one_json_value_per_line_with_a_trailer(
    clean_pg_url: str, tmp_path: Path
) -> None:
    db = Database.open(clean_pg_url)
    try:
        path = _pg_backup(db, tmp_path)
    finally:
        db.close()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert lines[0]["format_version"] == backups.STREAM_FORMAT_VERSION
    assert lines[-1][0] == "end" and lines[-1][1]["patient"] == 1
    patients = [row for table, row in backups.pg_dump_rows(path) if table == "patient"]
    assert [p["mrn"] for p in patients] == ["KEEP-1"]


def test_postgresql_backup_cut_short_is_refused(clean_pg_url: str, tmp_path: Path) -> None:
    db = Database.open(clean_pg_url)
    try:
        path = _pg_backup(db, tmp_path)
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = fh.read().splitlines(keepends=True)
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.writelines(lines[:-1])  # the trailer is gone: the copy stopped early
        backups.sign_file(path, db.audit_key)  # signed: the content check must refuse it
        _add(db, "LATER-2")
        with pytest.raises(backups.BackupError, match="incomplete"):
            restore_from(db, as_user(db, "admin"), path)
        assert _mrns(db) == ["KEEP-1", "LATER-2"]
    finally:
        db.close()


def test_backup_in_the_first_whole_document_format_still_restores(
    clean_pg_url: str, tmp_path: Path
) -> None:
    db = Database.open(clean_pg_url)
    try:
        path = _pg_backup(db, tmp_path)
        tables: dict[str, list[dict[str, object]]] = {
            t.name: [] for t in backups.Base.metadata.sorted_tables}
        for table, row in backups.pg_dump_rows(path):
            if table == "clinic" and row.get("logo_png"):
                # The first format kept bytes as base64, not as PostgreSQL's hex text.
                row["logo_png"] = base64.b64encode(
                    bytes.fromhex(str(row["logo_png"])[2:])).decode("ascii")
            tables[table].append(row)
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            head = json.loads(fh.readline())
        old = tmp_path / "old.json.gz"
        with gzip.open(old, "wt", encoding="utf-8") as fh:
            json.dump({"format": backups.PG_MAGIC, "format_version": backups.FORMAT_VERSION,
                       "revision": head["revision"], "written_at": head["written_at"],
                       "tables": tables}, fh)
        backups.sign_file(old, db.audit_key)
        _add(db, "LATER-2")
        restore_from(db, as_user(db, "admin"), old)
        assert _mrns(db) == ["KEEP-1"]
        with db.unit_of_work("t") as uow:
            assert uow.clinic.get().logo_png == b"\x89PNG\r\n\x00\\x"
        assert db.verify_audit().problems == []
    finally:
        db.close()


def test_one_automatic_backup_per_clinic_per_day_on_postgresql(
    clean_pg_url: str, tmp_path: Path
) -> None:
    first, second = Database.open(clean_pg_url), Database.open(clean_pg_url)
    try:
        day = date.today()
        marker = f"auto-{day.isoformat()}-"
        # While one workstation is taking it, another does not start a second copy.
        with backups.daily_backup_turn(first, marker) as mine:
            assert mine
            assert daily_backup_if_due(second, as_user(second, "admin"), tmp_path / "ws2",
                                       today=day) is None
        taken = daily_backup_if_due(first, as_user(first, "admin"), tmp_path / "ws1",
                                    today=day)
        assert taken is not None
        # Its audited marker tells every other workstation the clinic has today's backup.
        assert daily_backup_if_due(second, as_user(second, "admin"), tmp_path / "ws2",
                                   today=day) is None
        assert not (tmp_path / "ws2").exists() or not any((tmp_path / "ws2").iterdir())
    finally:
        first.close()
        second.close()


def test_streamed_postgresql_backup_restores_every_value_and_signature(
    clean_pg_url: str, tmp_path: Path
) -> None:
    db = Database.open(clean_pg_url)
    try:
        path = _pg_backup(db, tmp_path)
        with db.unit_of_work("t") as uow:
            before = uow.clinic.get()
        _add(db, "LATER-2")
        restore_from(db, as_user(db, "admin"), path)
        assert _mrns(db) == ["KEEP-1"]
        with db.unit_of_work("t") as uow:
            after = uow.clinic.get()
        assert after == before  # bytes, umlauts and stamps came back exactly
        # Every row's signature and the whole audit chain still check out.
        assert db.verify_audit().problems == []
    finally:
        db.close()


def test_a_backup_is_paced_in_a_thread_of_its_own(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy and its check call the pacer between chunks, off the calling thread; the
    paced backup restores like any other."""
    import threading

    from clinic_app.persistence import pacing

    for i in range(30):
        _add(db, f"P-{i}")
    threads: list[int] = []

    class Counting(pacing.Pacer):
        def __call__(self) -> None:
            threads.append(threading.get_native_id())
            super().__call__()

    monkeypatch.setattr(pacing, "Pacer", Counting)
    result = backup_now(db, as_user(db, "admin"), tmp_path / "b.bak")
    assert threads and threading.get_native_id() not in threads
    _add(db, "LATER")
    restore_from(db, as_user(db, "admin"), result.path, refuse_connected=False)
    assert _mrns(db) == sorted(f"P-{i}" for i in range(30))
