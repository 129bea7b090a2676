"""Automatic daily backups with rotation, and the start-up damage check."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.persistence.backup import integrity_check
from clinic_app.persistence.uow import Database, DatabaseDamagedError
from clinic_app.services.maintenance import daily_backup_if_due, restore_from


def test_one_automatic_backup_per_day_and_rotation(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "auto"
    day0 = date(2026, 5, 1)
    first = daily_backup_if_due(db, as_user(db, "admin"), folder, keep=3, today=day0)
    assert first is not None
    assert daily_backup_if_due(db, as_user(db, "admin"), folder, keep=3, today=day0) is None
    for i in range(1, 6):
        assert daily_backup_if_due(db, as_user(db, "admin"), folder, keep=3,
                                   today=day0 + timedelta(days=i)) is not None
    backups = sorted(p for p in folder.iterdir() if p.suffix != ".sig")
    assert [p.name[:15] for p in backups] == [
        "auto-2026-05-04", "auto-2026-05-05", "auto-2026-05-06"]
    # Each kept backup keeps its signature; the rotated ones' signatures went with them.
    assert sorted(p.name for p in folder.glob("*.sig")) == [p.name + ".sig" for p in backups]
    if db.dialect == "sqlite":
        assert all(integrity_check(p) == "ok" for p in backups)


def test_damaged_sqlite_file_is_refused_at_start_and_can_be_restored(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    db = Database.open(f"sqlite:///{path}")
    from clinic_app.services.demo import seed_demo

    admin = as_user(db, "admin")  # signed in before the disk failed
    seed_demo(db, admin, patients=3)
    good = daily_backup_if_due(db, admin, tmp_path / "bk")
    assert good is not None
    db.close()
    data = bytearray(path.read_bytes())
    # Scribble over the middle of the file, as a failing disk would.
    for i in range(len(data) // 3, len(data) // 3 + 8192):
        data[i] = 0xA5
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseDamagedError, match="restore"):
        Database.open(f"sqlite:///{path}")
    from clinic_app.persistence.engine import make_engine

    broken = Database(f"sqlite:///{path}", make_engine(f"sqlite:///{path}"))
    safety = restore_from(broken, admin, good.path)
    broken.close()
    assert safety.path.exists()
    healed = Database.open(f"sqlite:///{path}")
    try:
        with healed.unit_of_work("t") as uow:
            assert uow.patients.count() == 3
    finally:
        healed.close()
