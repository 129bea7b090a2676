"""CSV import throughput (issue 9 target: 1M sessions in <= 30 s).

Builds a patients/episodes/sessions file set with the same generator as the import test,
imports it into a fresh database and prints rows/s. Usage:

    python bench/bench_import.py --sessions 100000 [--db URL]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinic_app.interop import import_csv  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "import_files", ROOT / "tests/interop/test_import_throughput.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = _generator()(folder / "files", args.sessions)
        db = Database.open(args.db or f"sqlite:///{folder / 'bench.sqlite3'}",
                           state_dir=folder)
        t0 = time.perf_counter()
        summary = import_csv(db, "bench", folder / "files")
        elapsed = time.perf_counter() - t0
        db.close()
    print(f"{db.dialect}: imported {summary.total:,} rows ({rows:,} in files) in {elapsed:.1f} s "
          f"= {summary.total / elapsed:,.0f} rows/s; 1M sessions would take "
          f"~{1_000_000 / (summary.total / elapsed):.0f} s (target 30 s)")


if __name__ == "__main__":
    main()
