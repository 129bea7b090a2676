"""Patient search at clinic scale: the service call versus the raw SQL it runs.

Needs a synthetic clinic (bench/synthetic.py). Prints p50/p95 per query kind and the ratio
of the full service call (unit of work, query building, mapping to dataclasses) to the same
SQL text executed on a bare DB-API cursor. Targets (issue 9): ratio <= 5x, p95 <= 50 ms.

    python bench/bench_search.py --db sqlite:////tmp/syn.sqlite3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _principal import bench_user  # noqa: E402 - bench/ is this script's folder

from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.charting import ChartingService  # noqa: E402

QUERIES = {
    "first page (empty box)": "",
    "family prefix": "schm",
    "two words": "müller an",
    "MRN prefix": "SYN-00123",
    "birth date": "23.04.1961",
    "no match": "zzzq",
}
RUNS = 60


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--limit", type=int, default=200, help="page size the list fetches")
    args = parser.parse_args()
    db = Database.open(args.db)
    svc = ChartingService(db, bench_user(db))
    n = svc.count_patients()
    print(f"{n:,} patients; page size {args.limit}; {RUNS} runs each (ms)")
    print(f"{'query':26} {'svc p50':>8} {'svc p95':>8} {'raw p50':>8} {'raw p95':>8} "
          f"{'ratio':>6} {'rows':>5}")
    raw_conn = db.engine.raw_connection()
    for label, typed in QUERIES.items():
        # The very SQL text and DB-API parameters the service's list query runs.
        sql, bound = db.patient_list.statement(typed, 0, args.limit)
        svc_t, raw_t = [], []
        rows = 0
        for _ in range(RUNS):
            t = time.perf_counter()
            rows = len(svc.search_patients(typed, 0, args.limit))
            svc_t.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            cur = raw_conn.cursor()
            cur.execute(sql, bound)
            cur.fetchall()
            cur.close()
            raw_t.append((time.perf_counter() - t) * 1000)
        ratio = statistics.median(svc_t) / max(statistics.median(raw_t), 1e-6)
        print(f"{label:26} {statistics.median(svc_t):8.2f} {pct(svc_t, .95):8.2f} "
              f"{statistics.median(raw_t):8.2f} {pct(raw_t, .95):8.2f} {ratio:6.1f} {rows:5}")
    raw_conn.close()
    db.close()


if __name__ == "__main__":
    main()
