"""Cohort curves at clinic scale: the use case against the same aggregation as raw SQL.

Needs a synthetic clinic (bench/synthetic.py: every episode is a knee episode with a surgery
date, every patient has TUG and 3MBWT results). Curves read the weekly summary
(persistence/cohort_summary.py), and so does the raw SQL they are compared with. Measures,
median of ``--runs``:

* a cohort curve over all knee patients (TUG by weeks since surgery): the service call
  (permission, unit of work, audit event, SQL built by SQLAlchemy, mapping) against the
  hand-written SQL on a bare DB-API cursor; target <= 1 s and <= 3x;
* a patient's expected-recovery overlay (the other episodes of the same diagnosis):
  the service call, i.e. what opening the overlay adds to opening the patient; target
  <= 200 ms and <= 3x the raw SQL.

    PYTHONPATH=. python bench/bench_cohort.py --db sqlite:////tmp/syn.sqlite3 [--runs 7]
        [--from-results]

``--from-results`` also times the hand-written aggregation from the results themselves,
what every curve cost before the summary.
"""

from __future__ import annotations

import argparse
import os
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

# The same aggregation as persistence/cohorts.py, written out by hand over the weekly
# summary (persistence/cohort_summary.py). SQLite: the counts per week, the patients (each
# episode's first week), then per week the three quartiles, each read at its rank in the
# summary's value order and interpolated with the next value.
COUNTS_SQLITE = """SELECT week, count(*) FROM cohort_week
WHERE measure_id = ? AND basis = 'surgery' {extra} GROUP BY week ORDER BY week"""
PATIENTS_SQLITE = """SELECT count(DISTINCT patient_id) FROM cohort_week
WHERE measure_id = ? AND basis = 'surgery' {extra} AND first_week IS 1"""
AT_RANK_SQLITE = """(SELECT min(v) + ? * (max(v) - min(v)) FROM (SELECT v FROM cohort_week
WHERE measure_id = ? AND basis = 'surgery' {extra} AND week = ? ORDER BY v LIMIT 2 OFFSET ?))"""
CURVE_PG = """
SELECT week, count(*), percentile_cont(0.25) WITHIN GROUP (ORDER BY v),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY v), percentile_cont(0.75) WITHIN GROUP (ORDER BY v),
  (SELECT count(DISTINCT patient_id) FROM cohort_week
   WHERE measure_id = %(m)s AND basis = 'surgery' {extra} AND first_week IS true)
FROM cohort_week WHERE measure_id = %(m)s AND basis = 'surgery' {extra}
GROUP BY week ORDER BY week
"""
# What every curve computed before the summary existed: the weekly means from the results
# themselves (printed with --from-results, for comparison).
FROM_RESULTS_SQLITE = """
WITH weekly AS (
  SELECT e.patient_id, CAST(julianday(t.performed_on) - julianday(e.surgery_date) AS INTEGER) / 7
         AS week, avg(t.value) AS v
  FROM test_result t JOIN episode e ON e.id = t.episode_id
  WHERE t.measure_id = ? AND t.entered_in_error = 0 AND e.entered_in_error = 0
    AND e.patient_id NOT IN (SELECT id FROM patient WHERE entered_in_error = 1)
    AND e.surgery_date IS NOT NULL
    AND julianday(t.performed_on) - julianday(e.surgery_date) BETWEEN 0 AND 734
  GROUP BY e.id, week
),
ranked AS (
  SELECT week, v, row_number() OVER (PARTITION BY week ORDER BY v) AS rn,
         count(*) OVER (PARTITION BY week) AS n FROM weekly
)
SELECT week, max(n), max(CASE WHEN rn = (n - 1) / 2 + 1 THEN v END),
  (SELECT count(DISTINCT patient_id) FROM weekly)
FROM ranked GROUP BY week ORDER BY week
"""
FROM_RESULTS_PG = """
WITH weekly AS (
  SELECT e.patient_id, (t.performed_on - e.surgery_date) / 7 AS week, avg(t.value) AS v
  FROM test_result t JOIN episode e ON e.id = t.episode_id
  WHERE t.measure_id = %s AND NOT t.entered_in_error AND NOT e.entered_in_error
    AND e.patient_id NOT IN (SELECT id FROM patient WHERE entered_in_error)
    AND e.surgery_date IS NOT NULL AND t.performed_on - e.surgery_date BETWEEN 0 AND 734
  GROUP BY e.id, week
)
SELECT week, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY v),
  (SELECT count(DISTINCT patient_id) FROM weekly)
FROM weekly GROUP BY week ORDER BY week
"""


def raw_curve(conn: Any, dialect: str, measure: str, overlay: tuple[str, str] | None
              ) -> tuple[list[tuple[Any, ...]], int]:
    """The curve (week, n, q1, q2, q3) and its patients on a bare DB-API connection, for
    all patients or for one diagnosis without one episode."""
    cur = conn.cursor()
    try:
        if dialect == "postgresql":
            extra = "AND diagnosis = %(d)s AND episode_id <> %(e)s" if overlay else ""
            d, e = overlay or (None, None)
            cur.execute(CURVE_PG.format(extra=extra), {"m": measure, "d": d, "e": e})
            rows = cur.fetchall()
            return [tuple(r[:5]) for r in rows], rows[0][5] if rows else 0
        extra = "AND diagnosis = ? AND episode_id <> ?" if overlay else ""
        more = tuple(overlay or ())
        cur.execute(COUNTS_SQLITE.format(extra=extra), (measure, *more))
        counts = cur.fetchall()
        cur.execute(PATIENTS_SQLITE.format(extra=extra), (measure, *more))
        patients = cur.fetchone()[0]
        sql = "SELECT " + ", ".join([AT_RANK_SQLITE.format(extra=extra)] * 3)
        rows = []
        for week, n in counts:
            params: list[Any] = []
            for i in (1, 2, 3):
                off, steps = divmod((n - 1) * i, 4)
                params += [steps / 4.0, measure, *more, week, off]
            cur.execute(sql, params)
            rows.append((week, n, *cur.fetchone()))
        return rows, patients
    finally:
        cur.close()


def from_results(conn: Any, dialect: str, measure: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(FROM_RESULTS_PG if dialect == "postgresql" else FROM_RESULTS_SQLITE,
                    (measure,))
        return cur.fetchall()
    finally:
        cur.close()


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
    parser.add_argument("--from-results", action="store_true",
                        help="also time the aggregation from the results (no summary)")
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

    def same(curve: Any, rows: list[tuple[Any, ...]], n: int) -> None:
        assert curve.patients == n and len(curve.weeks) == len(rows), (curve.patients, n)
        for w, r in zip(curve.weeks, rows, strict=True):
            assert (w.week, w.count) == (r[0], r[1]), (w, r)
            assert all(abs(a - b) < 1e-9 for a, b in zip((w.q1, w.median, w.q3), r[2:5],
                                                         strict=True)), (w, r)

    print(f"{dialect}; {args.runs} runs each, median (ms); load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    svc_t, curve = timed(lambda: cohorts.cohort_curve(db, who, CohortFilter("tug")), args.runs)
    raw_t, (rows, n) = timed(lambda: raw_curve(conn, dialect, "tug", None), args.runs)
    same(curve, rows, n)
    print(f"cohort curve, all knee patients ({n:,} patients, {len(rows)} weeks, "
          f"{sum(w.count for w in curve.weeks):,} episode-weeks): service "
          f"{svc_t * 1000:.0f} ms, raw SQL {raw_t * 1000:.0f} ms, ratio {svc_t / raw_t:.2f}x")
    svc_t, curve = timed(lambda: cohorts.expected_recovery(db, who, episode_id, "tug"),
                         args.runs)
    raw_t, (rows, n) = timed(lambda: raw_curve(conn, dialect, "tug", (diagnosis, stored_id)),
                             args.runs)
    same(curve, rows, n)
    print(f"patient overlay ({diagnosis}, {n:,} other patients): service "
          f"{svc_t * 1000:.0f} ms, raw SQL {raw_t * 1000:.0f} ms, ratio {svc_t / raw_t:.2f}x")
    if args.from_results:
        old_t, old = timed(lambda: from_results(conn, dialect, "tug"), max(1, args.runs // 3))
        assert [(r[0], r[1]) for r in old] == [(w.week, w.count) for w in
                                               cohorts.cohort_curve(db, who,
                                                                    CohortFilter("tug")).weeks]
        print(f"the same curve computed from the results (no summary), raw SQL: "
              f"{old_t * 1000:.0f} ms")
    print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    conn.close()
    db.close()


if __name__ == "__main__":
    main()
