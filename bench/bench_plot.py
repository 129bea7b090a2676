"""Benchmark: progress-plot update time for large series.

Run: ``QT_QPA_PLATFORM=offscreen PYTHONPATH=. python bench/bench_plot.py [--repeats N]``

The real widget is shown (offscreen) at 1200x800 with a demo ACL episode from a throw-away
SQLite file and the default four plots. For each size, one curve of one plot gets a new
series spanning the visible x range (a random walk, so peak downsampling has real work to do);
the time measured is ``setData`` + ``processEvents`` + a forced synchronous repaint of the
graphics view, median of N. The hover look-up (nearest point) is timed too. Target: <= 50 ms
at 100k points.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _principal import bench_user  # noqa: E402 - bench/ is this script's folder
from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from clinic_app.domain.records import Diagnosis  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.charting import ChartingService, EpisodeChart  # noqa: E402
from clinic_app.services.demo import seed_demo  # noqa: E402

SIZES = (1_000, 100_000, 1_000_000)
TARGET_MS_100K = 50.0


def _acl_episode(tmp: Path) -> tuple[EpisodeChart, object]:
    db = Database.open(f"sqlite:///{tmp / 'bench.sqlite3'}", tmp / "backups")
    who = bench_user(db)
    seed_demo(db, who, patients=4)
    svc = ChartingService(db, who)
    for p in svc.search_patients(""):
        chart = svc.chart(p.id)
        if chart.episodes[0].episode.draft.diagnosis == Diagnosis.ACL_RECONSTRUCTION:
            db.close()
            return chart.episodes[0], chart.patient
    raise SystemExit("no ACL demo patient")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    t0 = time.perf_counter()
    from clinic_app.ui.progress_plot import ProgressPlot  # lazy, as in the app

    import_ms = (time.perf_counter() - t0) * 1000
    with tempfile.TemporaryDirectory() as tmp:
        episode, patient = _acl_episode(Path(tmp))
    widget = ProgressPlot()
    widget.resize(1200, 800)
    t0 = time.perf_counter()
    widget.set_episode(episode, patient)  # type: ignore[arg-type]
    widget.show()
    app.processEvents()
    build_ms = (time.perf_counter() - t0) * 1000
    panel = widget.panel("bwt_3m")
    assert panel is not None
    view = widget.findChild(object, "progressGraphics")
    vb = panel.plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    rng = np.random.default_rng(1)
    base = panel.series[0]

    print(f"import progress_plot: {import_ms:.0f} ms; build 4 plots + first show: "
          f"{build_ms:.0f} ms; platform {app.platformName()}")
    print(f"{'points':>10} | {'median ms':>9} | {'min ms':>7} | {'max ms':>7} | "
          f"{'hover ms':>8} | repeats")
    print("-" * 64)
    for n in SIZES:
        x = np.linspace(x0, x1, n, dtype=np.float64)
        walk = np.cumsum(rng.normal(0, 1, n))
        walk = (walk - walk.min()) / max(float(np.ptp(walk)), 1e-9)
        y = y0 + (y1 - y0) * (0.1 + 0.8 * walk)
        repeats = args.repeats if n < 1_000_000 else max(5, args.repeats // 2)
        times = []
        for _ in range(repeats + 1):  # first run warms caches, not counted
            yy = y + rng.normal(0, 0.01, n)
            t = time.perf_counter()
            panel.update_series(0, replace(base, x_date=x, x_weeks=None, y=yy))
            app.processEvents()
            view.viewport().repaint()
            times.append((time.perf_counter() - t) * 1000)
        times = times[1:]
        # hover: nearest point to the centre of the plot, as on a mouse move
        centre = vb.mapViewToScene(QPointF((x0 + x1) / 2, (y0 + y1) / 2))
        hover = []
        for _ in range(repeats):
            t = time.perf_counter()
            panel.nearest(centre)
            hover.append((time.perf_counter() - t) * 1000)
        print(f"{n:>10,} | {statistics.median(times):>9.1f} | {min(times):>7.1f} | "
              f"{max(times):>7.1f} | {statistics.median(hover):>8.2f} | {repeats}")
    widget.close()


if __name__ == "__main__":
    main()
