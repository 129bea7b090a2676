"""Opening a patient with 100 sessions and its progress plot (issue 9 target: <= 200 ms).

A throw-away SQLite file gets one ACL patient with 100 validated sessions and a test battery
every 5th session (the synthetic clinic has only 10 sessions per patient; the chart queries
use indexes, so the size of the rest of the database barely matters). Measured, offscreen,
median of N after one cold run (the cold run also imports pyqtgraph, reported separately):
``ChartingService.chart()`` (queries + mapping + the "view" audit event) +
``ProgressTab.set_chart`` (builds/updates the plots) + first paint of the tab.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python bench/bench_open_patient.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _principal import bench_user  # noqa: E402 - bench/ is this script's folder
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.bench_report import _patient  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.charting import ChartingService  # noqa: E402
from clinic_app.ui.progress_tab import ProgressTab  # noqa: E402

TARGET_MS = 200.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = Database.open(f"sqlite:///{folder / 'open.sqlite3'}", folder / "bk",
                           state_dir=folder)
        _patient(db, "OPEN-100", sessions=100, test_every=5,
                 start=date.today() - timedelta(days=210))
        svc = ChartingService(db, bench_user(db))
        pid = svc.search_patients("OPEN-100")[0].id
        tab = ProgressTab()
        tab.resize(1200, 800)
        tab.show()
        app.processEvents()

        def open_once() -> tuple[float, float]:
            t0 = time.perf_counter()
            chart = svc.chart(pid, include_in_error=True)
            t1 = time.perf_counter()
            tab.set_chart(chart, chart.episodes[0].episode.id)
            app.processEvents()
            tab.repaint()
            return t1 - t0, time.perf_counter() - t0

        cold_load, cold = open_once()
        loads, totals = [], []
        for _ in range(args.runs):
            tab.set_chart(None, None)  # as when another patient was shown in between
            app.processEvents()
            load, total = open_once()
            loads.append(load)
            totals.append(total)
        chart = svc.chart(pid)
        n_s = sum(len(e.sessions) for e in chart.episodes)
        n_t = sum(len(e.tests) for e in chart.episodes)
        db.close()
    med = statistics.median(totals) * 1000
    ok = med <= TARGET_MS
    print(f"patient with {n_s} sessions and {n_t} test results; 1200x800 offscreen")
    print(f"cold (first open, imports pyqtgraph): {cold * 1000:.0f} ms "
          f"(chart() {cold_load * 1000:.0f} ms)")
    print(f"warm: median {med:.0f} ms (min {min(totals) * 1000:.0f}, max "
          f"{max(totals) * 1000:.0f}); of which chart() median "
          f"{statistics.median(loads) * 1000:.1f} ms; {args.runs} runs")
    print(f"target <= {TARGET_MS:.0f} ms: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
