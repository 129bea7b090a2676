"""What the plan of care adds to an export: the CSV and FHIR exports with their goals,
prescriptions and session checklists, against the same exports of the charts alone,
measured in the same run on the same database.

    PYTHONPATH=. python bench/bench_plan_export.py [--patients 1200] [--runs 3] [--db URL]

The demo clinic is seeded (``seed_demo``: every twelfth patient has a plan of care) and
then every other episode is given goals and a prescription too, so that most charts carry
a plan. The baseline is the same export (same files, audit events and snapshot) with the
plan-of-care records left unread; the ratio is the full export's median time over
the baseline's. Target: the plan of care costs a small fraction of an export (ratio
<= 1.3), and the CSV export stays page by page (peak memory is not measured here; see
``bench_heavy.py export``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _principal import bench_account  # noqa: E402 - bench/ is this script's folder

from clinic_app.domain.plan_of_care import (  # noqa: E402
    KMH_PER_MS,
    Dose,
    GoalDraft,
    PrescriptionDraft,
)
from clinic_app.persistence.uow import Database  # noqa: E402


def _seed(db: Database, patients: int) -> int:
    from clinic_app.services.demo import seed_demo
    from clinic_app.services.plan_of_care import PlanService

    who = bench_account(db)
    seed_demo(db, who, patients=patients, seed=7, today=date(2026, 6, 1))
    plan = PlanService(db, who)
    with db.unit_of_work(who, read_only=True) as uow:
        episodes = [(ec.episode.id, ec.episode.draft.start_date)
                    for page in uow.bulk.chart_pages() for c in page for ec in c.episodes]
    added = 0
    for i, (eid, start) in enumerate(episodes):
        if i % 2 or plan.prescription(eid) is not None:
            continue
        plan.save_prescription(eid, PrescriptionDraft(Dose(12, 2.0 / KMH_PER_MS), 3))
        plan.add_goal(eid, GoalDraft("lefs", 60, start + timedelta(weeks=12), "stairs"))
        plan.add_goal(eid, GoalDraft(text="walk to the shop and back"))
        added += 1
    return added


def _paired(base: Callable[[], object], full: Callable[[], object],
            runs: int) -> tuple[float, float]:
    """Median times of ``base`` and ``full`` run alternately, so a change in the machine's
    load during the bench weighs on both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((base, times[0]), (full, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=1200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", help="an empty database URL (default: a temporary SQLite file)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    db = Database.open(args.db or f"sqlite:///{tmp / 'clinic.sqlite3'}", tmp / "bk")
    t0 = time.perf_counter()
    extra = _seed(db, args.patients)
    print(f"seeded {args.patients} patients (+{extra} episodes given a plan) in "
          f"{time.perf_counter() - t0:.1f} s")
    who = bench_account(db)
    from clinic_app.services import plan_interop
    from clinic_app.services.interop import export_csv, export_fhir, load_charts

    with db.unit_of_work(who, read_only=True) as uow:
        rows = sum(len(ec.plan or ()) for c in load_charts(uow) for ec in c.episodes)
    print(f"plan-of-care rows: {rows}")
    real = plan_interop.with_plans, plan_interop.page_plans

    def charts_only(fn: Callable[[], object]) -> Callable[[], object]:
        """The same export with the plan-of-care records left unread (empty plan files):
        FHIR reads them into the charts (``with_plans``), the CSV export per page of rows
        (``page_plans``)."""
        def run() -> object:
            plan_interop.with_plans = lambda _uow, charts: charts  # type: ignore[assignment]
            plan_interop.page_plans = lambda _uow, _episodes: []  # type: ignore[assignment]
            try:
                return fn()
            finally:
                plan_interop.with_plans, plan_interop.page_plans = real
        return run

    def csv_full() -> object:
        return export_csv(db, who, tmp / "csv", force=True)

    def fhir_full() -> object:
        return export_fhir(db, who, tmp / "bundle.json", force=True)

    for name, full in (("CSV export", csv_full), ("FHIR export", fhir_full)):
        b, f = _paired(charts_only(full), full, args.runs)
        print(f"{name}: charts only {b * 1000:.0f} ms, with the plan of care "
              f"{f * 1000:.0f} ms, ratio {f / b:.2f} (medians of {args.runs}, run alternately)")
    db.close()


if __name__ == "__main__":
    main()
