"""Backups, exports and reports never overwrite a file unless asked, accept a folder, audit
only what was written, and no half-written copy of the database outlives its writer."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.config import data_dir
from clinic_app.domain.records import PatientDraft
from clinic_app.interop import fhir
from clinic_app.persistence import backup as backups
from clinic_app.persistence.outfiles import OutputExistsError, part_file
from clinic_app.persistence.uow import Database
from clinic_app.services import interop
from clinic_app.services import interop as interop_service
from clinic_app.services.maintenance import backup_now
from clinic_app.services.reporting import generate_report, report_filename


def _add(db: Database, mrn: str) -> None:
    with db.unit_of_work("t") as uow:
        p = uow.patients.add(PatientDraft(mrn, "Fjeld", "Frida", date(1971, 3, 4)))
        uow.audit.record("create", "patient", p.id, p.id)


def _events(db: Database) -> int:
    with db.unit_of_work("t", read_only=True) as uow:
        return uow.audit.count()


def test_backup_refuses_to_overwrite_without_force(db: Database, tmp_path: Path) -> None:
    _add(db, "B-1")
    out = tmp_path / "precious.bin"
    out.write_bytes(b"someone's other file")
    before = _events(db)
    with pytest.raises(OutputExistsError, match="--force"):
        backup_now(db, as_user(db, "admin"), out)
    assert out.read_bytes() == b"someone's other file"
    assert _events(db) == before, "a backup that was not written is not audited"
    result = backup_now(db, as_user(db, "admin"), out, force=True)
    assert result.path == out and out.stat().st_size > 100
    assert _events(db) == before + 1


def test_backup_into_a_folder_writes_a_dated_file(db: Database, tmp_path: Path) -> None:
    _add(db, "B-1")
    folder = tmp_path / "usb"
    folder.mkdir()
    result = backup_now(db, as_user(db, "admin"), folder)
    assert result.path.parent == folder and result.path.name.startswith("backstep-")
    # The backup and its signature, nothing else (no .part left behind).
    assert sorted(p.name for p in folder.iterdir()) == [result.path.name,
                                                        result.path.name + ".sig"]


def test_fhir_export_into_a_folder_and_no_overwrite(db: Database, tmp_path: Path) -> None:
    _add(db, "F-1")
    _add(db, "F-2")
    folder = tmp_path / "exports"
    folder.mkdir()
    before = _events(db)
    summary = interop.export_fhir(db, as_user(db, "admin"), folder)
    assert summary.path.parent == folder and summary.path.suffix == ".json"
    assert json.loads(summary.path.read_text())["resourceType"] == "Bundle"
    assert _events(db) == before + 3  # one per patient and one for the bundle
    with pytest.raises(OutputExistsError):
        interop.export_fhir(db, as_user(db, "admin"), summary.path)
    assert _events(db) == before + 3
    # Into the folder: a new name, nothing lost.
    again = interop.export_fhir(db, as_user(db, "admin"), folder)
    assert again.path != summary.path and again.path.parent == folder
    assert json.loads(summary.path.read_text())["resourceType"] == "Bundle"


def test_failed_fhir_export_records_no_export(db: Database, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _add(db, "F-1")
    _add(db, "F-2")
    out = tmp_path / "bundle.json"
    before = _events(db)

    def write_then_lose_the_race(charts: object, tmp: Path) -> None:
        Path(tmp).write_text("{}")
        out.write_text("written by someone else meanwhile")

    monkeypatch.setattr(fhir, "write_bundle", write_then_lose_the_race)
    with pytest.raises(OutputExistsError):
        interop_service.export_fhir(db, as_user(db, "admin"), out)
    assert out.read_text() == "written by someone else meanwhile"
    assert _events(db) == before, "nothing was exported, so nothing is audited"
    assert not list(tmp_path.glob("*.part"))


def test_report_into_a_folder_and_no_overwrite_without_force(
    db: Database, tmp_path: Path
) -> None:
    from clinic_app.domain.records import Diagnosis, EpisodeDraft, Side
    from clinic_app.services.charting import ChartingService

    svc = ChartingService(db, as_user(db, "admin"))
    p = svc.register_patient(PatientDraft("R-1", "Rask", "Rolf", date(1980, 5, 5)))
    svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                        date(2026, 1, 5)))
    folder = tmp_path / "reports"
    folder.mkdir()
    outcome = generate_report(db, as_user(db, "admin"), "R-1", folder, force=False)
    assert outcome.path.parent == folder
    assert outcome.path.name == report_filename("R-1", _local_today())
    before = _events(db)
    with pytest.raises(OutputExistsError):
        generate_report(db, as_user(db, "admin"), "R-1", outcome.path, force=False)
    assert _events(db) == before


def _local_today() -> date:
    from datetime import datetime

    return datetime.now().astimezone().date()


def test_stale_part_of_a_killed_backup_is_removed_at_the_next_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    Database.open(url).close()
    folder = data_dir() / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder / "backstep-20260101T000000_000000Z.sqlite3.part"
    stale.write_bytes(b"a full copy of every patient" * 100)
    with part_file(folder / "in-progress.sqlite3") as busy:
        busy.write_bytes(b"being written right now")
        Database.open(url).close()
        assert busy.exists(), "a .part that a live writer holds is not touched"
    assert not stale.exists()


def test_backup_cli_force_and_folder(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    password = "cli tester password"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "clinic_app", "--db", url, *args],
                              env=env, text=True, capture_output=True, timeout=120,
                              input=password + "\n")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        """As a script signs in: ``echo "$PW" | clinic-app --user … --password-stdin …``."""
        return run("--user", "cli-tester", "--password-stdin", *args)

    added = run("users", "add", "cli-tester", "--role", "admin", "--password-stdin")
    assert added.returncode == 0, added.stderr
    assert cli("demo", "--patients", "2").returncode == 0
    out = tmp_path / "b.sqlite3"
    out.write_bytes(b"keep me")
    refused = cli("backup", "--out", str(out))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert out.read_bytes() == b"keep me"
    forced = cli("backup", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert backups.integrity_check(out) == "ok"
    folder = tmp_path / "folder"
    folder.mkdir()
    for command in (["backup", "--out", str(folder)],
                    ["export", "fhir", "--out", str(folder)],
                    ["report", "DEMO-00001", "--out", str(folder)]):
        done = cli(*command)
        assert done.returncode == 0, (command, done.stderr)
        assert "Traceback" not in done.stderr
    names = sorted(p.suffix for p in folder.iterdir())
    assert names == [".json", ".pdf", ".sig", ".sqlite3"]  # the backup comes with its signature


def test_part_of_a_backup_killed_elsewhere_is_removed_at_the_next_start(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    Database.open(url).close()
    out = tmp_path / "usb" / "backup.sqlite3"
    # A writer that dies by SIGKILL halfway through, as `backup --out` on a USB drive would.
    dies_writing = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from clinic_app.persistence.backup import parts_registry\n"
        "from clinic_app.persistence.outfiles import part_file\n"
        "with part_file(Path(sys.argv[1]), parts_registry()) as tmp:\n"
        "    tmp.write_bytes(b'every patient' * 10000)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", dies_writing, str(out)], env=env, timeout=60)
    assert done.returncode == -signal.SIGKILL
    part = out.with_name(out.name + ".part")
    assert part.stat().st_size > 0
    Database.open(url).close()
    assert not part.exists()
    assert not list((data_dir() / "unfinished-files").iterdir())
