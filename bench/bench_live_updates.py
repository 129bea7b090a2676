"""Live updates: how soon another workstation sees a save.

Two ``Database`` objects on one clinic (two workstations). Workstation A updates a patient
``--runs`` times; the bench measures the time from the end of A's save (commit done) to the
moment B's live-updates watcher delivers the change. Baseline, measured in the same run: a
bare DB-API connection polling ``SELECT MAX(seq) FROM audit_event`` in a tight loop, the
fastest any reader can notice the commit. Target: p95 well under 2 s (the watcher polls
every 0.5 s on SQLite; PostgreSQL pushes).

    PYTHONPATH=. python bench/bench_live_updates.py [--runs 30] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _principal import bench_account  # noqa: E402 - bench/ is this script's folder

from clinic_app.domain.records import PatientDraft  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.charting import ChartingService  # noqa: E402
from clinic_app.services.live import LiveUpdates  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(url: str, runs: int) -> None:
    a, b = Database.open(url), Database.open(url)
    who_a, who_b = bench_account(a), bench_account(b)
    svc = ChartingService(a, who_a)
    p = svc.register_patient(PatientDraft(f"LIVE-{time.time_ns()}", "Bench", "Live",
                                          date(1970, 1, 1)))  # fmt: skip
    arrived = threading.Event()
    live = LiveUpdates(b, who_b, lambda _c: arrived.set()).start()
    time.sleep(1.0)
    arrived.clear()
    watcher: list[float] = []
    bare: list[float] = []
    raw = b.engine.raw_connection()
    try:
        for i in range(runs):
            cur = raw.cursor()
            cur.execute("SELECT MAX(seq) FROM audit_event")
            before = cur.fetchone()[0]
            raw.rollback()
            p = svc.update_patient(p.id, p.stamp.version, replace(p.draft, phone=f"{i:04d}"))
            saved = time.perf_counter()
            while True:  # baseline: the bare reader's first sight of the commit
                cur.execute("SELECT MAX(seq) FROM audit_event")
                seen = cur.fetchone()[0]
                raw.rollback()
                if seen != before:
                    bare.append(time.perf_counter() - saved)
                    break
            if not arrived.wait(10):
                raise SystemExit("the watcher delivered nothing within 10 s")
            watcher.append(time.perf_counter() - saved)
            arrived.clear()
            time.sleep(0.05 + (i % 7) * 0.07)  # saves land at every phase of the poll
    finally:
        raw.close()
        live.stop()
        a.close()
        b.close()
    w50, w95 = statistics.median(watcher) * 1000, pct(watcher, 0.95) * 1000
    b50 = statistics.median(bare) * 1000
    print(f"{a.dialect:10s} runs {runs}: watcher p50 {w50:7.1f} ms  p95 {w95:7.1f} ms  "
          f"max {max(watcher) * 1000:7.1f} ms | bare poll p50 {b50:6.2f} ms | "
          f"ratio p50 {w50 / max(b50, 0.001):,.0f}x | target p95 < 2000 ms: "
          f"{'met' if w95 < 2000 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--db", help="SQLite URL (default: a fresh file in a temporary folder)")
    ap.add_argument("--pg", help="also measure this PostgreSQL database")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure(args.db or f"sqlite:///{Path(tmp) / 'live.sqlite3'}", args.runs)
    if args.pg:
        measure(args.pg, args.runs)


if __name__ == "__main__":
    main()
