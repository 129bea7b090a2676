"""Damaged SQLite files for the integrity-check tests (storage and GUI)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from accounts import as_user

from clinic_app.persistence.uow import Database
from clinic_app.services.demo import seed_demo


def damage_table(path: Path, table: str) -> None:
    """Scribble over the root page of ``table`` (as a failing disk would), sparing the
    schema page and the revision table, so the file still opens and reports its schema."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with path.open("r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xa5" * page_size)


def seeded_file(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite3"
    db = Database.open(f"sqlite:///{path}")
    seed_demo(db, as_user(db, "admin"), patients=3)
    db.close()
    return path
