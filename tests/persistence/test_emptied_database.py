"""A database file cut to 0 bytes is damage, not a new clinic, once the data folder has
served a clinic; only a missing file starts a new one."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.config import data_dir
from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import PatientDraft, Role
from clinic_app.persistence.engine import make_engine
from clinic_app.persistence.uow import Database, DatabaseDamagedError
from clinic_app.services.maintenance import backup_now, restore_from

ROOT = Path(__file__).resolve().parents[2]


def _clinic(path: Path, patients: int = 3) -> Path:
    """A clinic in ``path`` with a few patients and one backup; returns the backup."""
    db = Database.open(f"sqlite:///{path}")
    try:
        for i in range(patients):
            with db.unit_of_work("t") as uow:
                p = uow.patients.add(PatientDraft(f"E-{i}", "Ekström", "Eva", date(1960, 1, 1)))
                uow.audit.record("create", "patient", p.id, p.id)
        return backup_now(db, as_user(db, "admin")).path
    finally:
        db.close()


def _count(url: str) -> int:
    db = Database.open(url)
    try:
        with db.unit_of_work("t", read_only=True) as uow:
            return uow.patients.count()
    finally:
        db.close()


def test_emptied_file_is_refused_as_damaged_and_restore_brings_the_clinic_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clinic.sqlite3"
    url = f"sqlite:///{path}"
    good = _clinic(path)
    path.write_bytes(b"")  # truncated, as after a full disk or a bad copy
    with pytest.raises(DatabaseDamagedError) as refused:
        Database.open(url)
    message = str(refused.value)
    assert "empty (0 bytes)" in message and "clinic-app restore" in message
    assert path.stat().st_size == 0, "the refused file must stay as it was"
    broken = Database(url, make_engine(url))
    try:
        # Signed in moments ago (the emptied file has no accounts to re-read).
        restore_from(broken, Principal("admin", Role.ADMIN), good)
    finally:
        broken.close()
    assert _count(url) == 3


def test_emptied_file_is_refused_by_every_command(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite3"
    _clinic(path)
    path.write_bytes(b"")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLINIC_APP_USER": "cli-tester"}
    for command in (["export", "csv", "--out", str(tmp_path / "csv")], ["audit", "verify"]):
        done = subprocess.run([sys.executable, "-m", "clinic_app", "--db", f"sqlite:///{path}",
                               *command], env=env, text=True, capture_output=True, timeout=120)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "empty (0 bytes)" in done.stderr and "Traceback" not in done.stderr
        assert "intact" not in done.stdout
    assert path.stat().st_size == 0
    assert not (tmp_path / "csv").exists()


def test_a_missing_file_still_starts_a_new_clinic_in_a_used_data_folder(tmp_path: Path) -> None:
    _clinic(tmp_path / "first.sqlite3")
    url = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    assert _count(url) == 0


def test_an_empty_file_in_a_fresh_data_folder_is_a_new_clinic(tmp_path: Path) -> None:
    assert not any(data_dir().iterdir())
    path = tmp_path / "new.sqlite3"
    path.write_bytes(b"")
    assert _count(f"sqlite:///{path}") == 0
