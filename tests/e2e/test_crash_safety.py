"""Kill -9 a writer at random moments: no acknowledged write is lost, the file stays sound."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

from accounts import as_user

from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Side
from clinic_app.persistence.backup import integrity_check
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService

ROOT = Path(__file__).resolve().parents[2]
KILLS = 40


def _read_acks(proc: subprocess.Popen[str], until: float, acks: set[uuid.UUID]) -> None:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.01)
        if ready:
            line = proc.stdout.readline()
            if not line:
                return
            acks.add(uuid.UUID(line.split()[1]))


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    db = Database.open(f"sqlite:///{path}")
    svc = ChartingService(db, as_user(db, "setup"))
    p = svc.register_patient(PatientDraft("CRASH-1", "Horváth", "Bence", date(1975, 2, 2)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.RIGHT,
                                             date(2025, 1, 6)))
    db.close()
    rng = random.Random(20261125)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    acked: set[uuid.UUID] = set()
    kills_during_writes = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/e2e/crash_writer.py"), str(path), str(ep.id)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        # Wait for the first commit, then let it run a random while before SIGKILL.
        first: set[uuid.UUID] = set()
        deadline = time.monotonic() + 30
        while not first and time.monotonic() < deadline and proc.poll() is None:
            _read_acks(proc, time.monotonic() + 0.05, first)
        assert first, "writer never committed"
        _read_acks(proc, time.monotonic() + rng.uniform(0.0, 0.4), first)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        _read_acks(proc, time.monotonic() + 0.2, first)  # acks already in the pipe count
        assert proc.stdout is not None
        proc.stdout.close()
        acked |= first
        kills_during_writes += 1
        assert integrity_check(path) == "ok"
    db = Database.open(f"sqlite:///{path}")
    try:
        chart = ChartingService(db, as_user(db, "check")).chart(p.id)
        stored = {s.id for s in chart.episodes[0].sessions}
    finally:
        db.close()
    lost = acked - stored
    assert kills_during_writes == KILLS
    assert len(acked) > KILLS
    assert lost == set(), f"{len(lost)} acknowledged sessions lost"
    assert integrity_check(path) == "ok"
