"""Cohort curves at clinic scale: the use case against the same aggregation as raw SQL.

Needs a synthetic clinic (bench/synthetic.py: every episode is a knee episode with a surgery
date, every patient has TUG and 3MBWT results). Measures, median of ``--runs``:

* a cohort curve over all knee patients (TUG by weeks since surgery): the service call
  (permission, unit of work, audit event, SQL built by SQLAlchemy, mapping) against the
  hand-written SQL on a bare DB-API cursor; target <= 1 s and <= 3x;
* a patient's expected-recovery overlay (the other episodes of the same diagnosis):
  the service call, i.e. what opening the overlay adds to opening the patient; target
  <= 200 ms and <= 3x the raw SQL.

    PYTHONPATH=. python bench/bench_cohort.py --db sqlite:////tmp/syn.sqlite3 [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _principal import bench_account  # noqa: E402 - bench/ is this script's folder

from clinic_app.domain.cohorts import CohortFilter  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services import cohorts  # noqa: E402

# The same aggregation as persistence/cohorts.py, written out by hand: one mean per episode
# and week, then quartiles by linear interpolation between ranks.
WEEKLY_SQLITE = """
WITH weekly AS (
  SELECT e.patient_id, CAST(julianday(t.performed_on) - julianday(e.surgery_date) AS INTEGER) / 7
         AS week, avg(t.value) AS v
  FROM test_result t JOIN episode e ON e.id = t.episode_id
  WHERE t.measure_id = ? AND t.entered_in_error = 0 AND e.entered_in_error = 0
    AND e.patient_id NOT IN (SELECT id FROM patient WHERE entered_in_error = 1)
    AND e.surgery_date IS NOT NULL {extra}
    AND julianday(t.performed_on) - julianday(e.surgery_date) BETWEEN 0 AND 734
  GROUP BY e.id, week
)"""
CURVE_SQLITE = WEEKLY_SQLITE + """,
ranked AS (
  SELECT week, v, row_number() OVER (PARTITION BY week ORDER BY v) AS rn,
         count(*) OVER (PARTITION BY week) AS n FROM weekly
)
SELECT week, max(n),
  {quartiles},
  (SELECT count(DISTINCT patient_id) FROM weekly)
FROM ranked GROUP BY week ORDER BY week
"""
QUART_SQLITE = ("max(CASE WHEN rn = (n - 1) * {k} / 4 + 1 THEN v END) + coalesce(("
                "max(CASE WHEN rn = (n - 1) * {k} / 4 + 2 THEN v END) - "
                "max(CASE WHEN rn = (n - 1) * {k} / 4 + 1 THEN v END)) "
                "* (((n - 1) * {k}) % 4) / 4.0, 0)")
WEEKLY_PG = """
WITH weekly AS (
  SELECT e.patient_id, (t.performed_on - e.surgery_date) / 7 AS week, avg(t.value) AS v
  FROM test_result t JOIN episode e ON e.id = t.episode_id
  WHERE t.measure_id = %s AND NOT t.entered_in_error AND NOT e.entered_in_error
    AND e.patient_id NOT IN (SELECT id FROM patient WHERE entered_in_error)
    AND e.surgery_date IS NOT NULL {extra}
    AND t.performed_on - e.surgery_date BETWEEN 0 AND 734
  GROUP BY e.id, week
)"""
CURVE_PG = WEEKLY_PG + """
SELECT week, count(*), percentile_cont(0.25) WITHIN GROUP (ORDER BY v),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY v), percentile_cont(0.75) WITHIN GROUP (ORDER BY v),
  (SELECT count(DISTINCT patient_id) FROM weekly)
FROM weekly GROUP BY week ORDER BY week
"""


def raw_sql(dialect: str, overlay: bool) -> str:
    """The curve and the patient count in one statement, for all patients or for one
    diagnosis without one episode."""
    mark = "%s" if dialect == "postgresql" else "?"
    extra = f"AND e.diagnosis = {mark} AND e.id <> {mark}" if overlay else ""
    if dialect == "postgresql":
        return CURVE_PG.format(extra=extra)
    quartiles = ",\n  ".join(QUART_SQLITE.format(k=k) for k in (1, 2, 3))
    return CURVE_SQLITE.format(extra=extra, quartiles=quartiles)


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    fn()  # warm the page cache and the statement caches
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    db = Database.open(args.db)
    who = bench_account(db)
    dialect = db.dialect
    conn = db.engine.raw_connection()
    with db.unit_of_work(who, read_only=True) as uow:
        episodes = uow.session.execute(__import__("sqlalchemy").text(
            "SELECT id, diagnosis FROM episode WHERE diagnosis = 'acl_reconstruction' "
            "ORDER BY id LIMIT 1")).all()
    episode_id, diagnosis = episodes[0]
    if isinstance(episode_id, str):
        import uuid

        episode_id = uuid.UUID(episode_id)
    stored_id = episode_id.hex if dialect == "sqlite" else str(episode_id)

    def raw(overlay: bool) -> tuple[list[tuple[Any, ...]], int]:
        params: tuple[Any, ...] = ("tug", diagnosis, stored_id) if overlay else ("tug",)
        cur = conn.cursor()
        cur.execute(raw_sql(dialect, overlay), params)
        rows = cur.fetchall()
        cur.close()
        return rows, rows[0][-1] if rows else 0

    print(f"{dialect}; {args.runs} runs each, median (ms)")
    svc_t, curve = timed(lambda: cohorts.cohort_curve(db, who, CohortFilter("tug")), args.runs)
    raw_t, (rows, n) = timed(lambda: raw(False), args.runs)
    assert curve.patients == n and len(curve.weeks) == len(rows), (curve.patients, n)
    assert all(abs(w.median - r[3]) < 1e-9 for w, r in zip(curve.weeks, rows, strict=True))
    print(f"cohort curve, all knee patients ({n:,} patients, {len(rows)} weeks, "
          f"{sum(w.count for w in curve.weeks):,} episode-weeks): service "
          f"{svc_t * 1000:.0f} ms, raw SQL {raw_t * 1000:.0f} ms, ratio {svc_t / raw_t:.2f}x")
    svc_t, curve = timed(lambda: cohorts.expected_recovery(db, who, episode_id, "tug"),
                         args.runs)
    raw_t, (rows, n) = timed(lambda: raw(True), args.runs)
    assert curve.patients == n and len(curve.weeks) == len(rows), (curve.patients, n)
    print(f"patient overlay ({diagnosis}, {n:,} other patients): service "
          f"{svc_t * 1000:.0f} ms, raw SQL {raw_t * 1000:.0f} ms, ratio {svc_t / raw_t:.2f}x")
    conn.close()
    db.close()


if __name__ == "__main__":
    main()
