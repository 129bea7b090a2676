"""A large import (patients, episodes and sessions in one file set) arrives complete.

Size from ``BACKSTEP_IMPORT_BENCH_ROWS`` (session rows, default 5000 so the suite stays
fast). Speed is measured by bench/bench_import.py, which reuses ``make_files``: timed
assertions do not belong in tests on shared machines.
"""

from __future__ import annotations

import csv
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from accounts import as_user

from clinic_app.persistence.uow import Database
from clinic_app.services.interop import import_csv

SESSIONS = int(os.environ.get("BACKSTEP_IMPORT_BENCH_ROWS", "5000"))
PER_PATIENT = 100


def make_files(folder: Path, sessions: int) -> int:
    folder.mkdir()
    patients = max(1, sessions // PER_PATIENT)
    start = date(2024, 1, 8)
    with open(folder / "patients.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["mrn", "family_name", "given_name", "date_of_birth", "sex"])
        for p in range(patients):
            w.writerow([f"B-{p:06d}", f"Family{p}", "Given", "1970-05-17", "female"])
    with open(folder / "episodes.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["episode_id", "mrn", "diagnosis", "affected_side", "start_date"])
        for p in range(patients):
            w.writerow([f"ep{p}", f"B-{p:06d}", "knee_osteoarthritis", "left", start])
    # One minute apart: even 1M sessions stay in the past (they end in late 2025).
    base = datetime(2024, 1, 9, 9, 0, tzinfo=UTC)
    with open(folder / "sessions.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["episode_id", "performed_at", "mode", "surface", "duration_min",
                    "distance_m", "speed_m_s", "incline_pct", "assistance", "pain_before",
                    "pain_after", "rpe", "heart_rate", "subjective"])
        for i in range(sessions):
            w.writerow([f"ep{i % patients}", (base + timedelta(minutes=i)).isoformat(),
                        "treadmill", "treadmill_belt", 15.0, 540.0, 0.6, 2.0, "handrail",
                        3, 2, 4.5, 104, "Feels steadier."])
    return patients * 2 + sessions


def test_large_import_is_complete(db: Database, tmp_path: Path) -> None:
    rows = make_files(tmp_path / "bench", SESSIONS)
    summary = import_csv(db, as_user(db, "bench"), tmp_path / "bench")
    assert summary.total == rows
    assert (summary.patients, summary.sessions) == (SESSIONS // PER_PATIENT, SESSIONS)
    with db.unit_of_work("t") as uow:
        assert uow.patients.count() == SESSIONS // PER_PATIENT
