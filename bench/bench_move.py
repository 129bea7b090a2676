"""Moving a whole clinic from SQLite to PostgreSQL: time and peak memory.

Target: the 100k-patient synthetic clinic (1M sessions, 1M test results) in <= 2 minutes
with peak RSS <= 500 MB. The source is built fresh in a temporary folder by
``bench/synthetic.py`` in a child process (so its memory does not count), then moved into a
throw-away database on the PostgreSQL server, which is dropped afterwards.

    PYTHONPATH=. python bench/bench_move.py --patients 100000 [--pg URL] [--batch N]
    PYTHONPATH=. python bench/bench_move.py --db sqlite:////tmp/syn-copy.sqlite3

``--db`` moves an existing clinic instead; it is then marked as moved (use a copy).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from clinic_app.persistence.move import check_table, move_clinic  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402

PG = os.environ.get("CLINIC_APP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--db", help="move this clinic instead of a fresh synthetic one")
    parser.add_argument("--pg", default=PG, help="server URL used to create the target")
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    admin = create_engine(make_url(args.pg).set(drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    name = f"backstep_bench_move_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        source_url = args.db or f"sqlite:///{Path(tmp) / 'source.sqlite3'}"
        if not args.db:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "bench/synthetic.py"), "--db", source_url,
                            "--patients", str(args.patients)], check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
            print(f"synthetic clinic built in {time.perf_counter() - t0:.1f} s")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        target = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
        try:
            db = Database.open(source_url, state_dir=Path(tmp))
            base = _rss_mb()
            last = [0.0]
            cpu0 = time.process_time()
            t0 = time.perf_counter()

            def progress(phase: str, table: str, done: int, total: int) -> None:
                now = time.perf_counter() - t0
                if now - last[0] > 1 or done == total:
                    last[0] = now
                    print(f"\r  {now:6.1f} s  {phase} {table}: {done:,}/{total:,}    ",
                          end="", file=sys.stderr, flush=True)

            try:
                result = move_clinic(db, target, "bench", progress, batch=args.batch)
            finally:
                db.close()
            seconds = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            print(file=sys.stderr)
            print(check_table(result.tables))
            print(f"moved {result.rows:,} rows SQLite -> PostgreSQL in {seconds:.1f} s "
                  f"({result.rows / seconds:,.0f} rows/s; mover CPU {cpu:.1f} s, load average "
                  f"{os.getloadavg()[0]:.1f}); peak RSS {_rss_mb():.0f} MB "
                  f"(before the move {base:.0f} MB); targets <= 120 s and <= 500 MB")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
