"""Synthetic clinic for benchmarks: realistic names, N patients, sessions and tests.

Rows go in through the CSV import's writer (signed, ``COPY`` on PostgreSQL, executemany on
SQLite) in batches of 20,000, one transaction per batch. Usage:

    python bench/synthetic.py --db sqlite:////tmp/clinic.sqlite3 --patients 100000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clinic_app.persistence.bulk import COLUMNS  # noqa: E402
from clinic_app.persistence.mapping import search_key  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.demo import DOCTORS, FAMILY, FEMALE, MALE  # noqa: E402

BATCH = 20_000
DIAGNOSES = ("acl_reconstruction", "knee_osteoarthritis", "anterior_knee_pain",
             "post_surgery_other")


def _stamp(now: datetime) -> dict[str, object]:
    return {"created_at": now, "created_by": "synthetic", "updated_at": now,
            "updated_by": "synthetic", "version": 1, "entered_in_error": False,
            "error_reason": None}


def _batches(rows: Iterator[dict[str, object]], size: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict[str, object]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def generate(db: Database, patients: int, sessions_per_patient: int = 10,
             tests_per_patient: int = 10, seed: int = 1,
             progress: bool = True) -> dict[str, float]:
    """Insert a synthetic clinic; returns row counts and seconds taken."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    today = now.date()
    patient_rows: list[dict[str, object]] = []
    episode_rows: list[dict[str, object]] = []
    for i in range(patients):
        female = rng.random() < 0.5
        given = rng.choice(FEMALE if female else MALE)
        family = rng.choice(FAMILY) + ("" if rng.random() < 0.7 else f"-{rng.choice(FAMILY)}")
        pid, eid = uuid.uuid4(), uuid.uuid4()
        dob = date(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 65))
        patient_rows.append({"id": pid, "mrn": f"SYN-{i:07d}", "family_name": family,
                             "given_name": given, "family_key": search_key(family),
                             "given_key": search_key(given), "date_of_birth": dob,
                             "sex": "female" if female else "male", "phone": "", "email": "",
                             "notes": "", **_stamp(now)})
        start = today - timedelta(days=rng.randint(30, 3000))
        episode_rows.append({"id": eid, "patient_id": pid, "diagnosis": rng.choice(DIAGNOSES),
                             "affected_side": rng.choice(("left", "right")), "start_date": start,
                             "surgery_date": start - timedelta(days=10), "end_date": None,
                             "referring_doctor": rng.choice(DOCTORS), "notes": "",
                             **_stamp(now)})
    t0 = time.perf_counter()
    counts = {"patients": 0, "episodes": 0, "sessions": 0, "tests": 0}

    stamps = {"created_at": now, "created_by": "synthetic", "updated_at": now,
              "updated_by": "synthetic", "version": 1}

    def put(kind: str, rows: Iterator[dict[str, object]], key: str) -> None:
        # The import's writer (persistence/bulk.py): rows signed like any row Backstep
        # writes, so `audit verify` and edits work on this clinic, and stored with COPY on
        # PostgreSQL and one executemany per batch on SQLite, one transaction per batch.
        columns = COLUMNS[kind]
        for batch in _batches(rows):
            with db.unit_of_work("synthetic") as uow:
                uow.bulk.insert(kind, [tuple(row[c] for c in columns) for row in batch],
                                stamps)
            counts[key] += len(batch)
            if progress:
                rate = counts[key] / max(time.perf_counter() - t0, 1e-9)
                print(f"\r  {key}: {counts[key]:,}  ({rate:,.0f} rows/s since start)", end="",
                      file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)

    put("patient", iter(patient_rows), "patients")
    put("episode", iter(episode_rows), "episodes")

    def sessions() -> Iterator[dict[str, object]]:
        for ep in episode_rows:
            begin = datetime.combine(ep["start_date"], datetime.min.time(), UTC)  # type: ignore[arg-type]
            for k in range(sessions_per_patient):
                speed = round(0.3 + 0.05 * k + rng.random() * 0.05, 2)
                yield {"id": uuid.uuid4(), "episode_id": ep["id"],
                       "performed_at": begin + timedelta(days=3 * k, hours=9),
                       "mode": "treadmill", "surface": "treadmill_belt", "duration_min": 15.0,
                       "distance_m": round(speed * 900), "speed_m_s": speed, "incline_pct": 2.0,
                       "assistance": "independent", "pain_before": 3, "pain_after": 2,
                       "rpe": 4.0, "heart_rate": 100, "adverse_events": "", "subjective": "",
                       "objective": "", "assessment": "", "plan": "", **_stamp(now)}

    def tests() -> Iterator[dict[str, object]]:
        for ep in episode_rows:
            for k in range(tests_per_patient):
                yield {"id": uuid.uuid4(), "episode_id": ep["id"], "session_id": None,
                       "measure_id": "tug" if k % 2 else "bwt_3m",
                       "performed_on": ep["start_date"] + timedelta(days=7 * k),  # type: ignore[operator]
                       "side": None, "value": round(12 - 0.3 * k + rng.random(), 1),
                       "items": None, "notes": "", **_stamp(now)}

    put("session", sessions(), "sessions")
    put("test", tests(), "tests")
    counts["seconds"] = time.perf_counter() - t0
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=10, help="sessions per patient")
    parser.add_argument("--tests", type=int, default=10, help="test results per patient")
    args = parser.parse_args()
    db = Database.open(args.db)
    try:
        c = generate(db, args.patients, args.sessions, args.tests)
    finally:
        db.close()
    rows = c["patients"] + c["episodes"] + c["sessions"] + c["tests"]
    print(f"inserted {int(c['patients']):,} patients, {int(c['sessions']):,} sessions, "
          f"{int(c['tests']):,} tests in {c['seconds']:.1f} s ({rows / c['seconds']:,.0f} rows/s)")


if __name__ == "__main__":
    main()
