"""CSV import throughput (issue 9 target: 1M sessions in <= 30 s, with progress).

Builds a patients/episodes/sessions file set with the same generator as the import test,
imports it into a fresh database and prints rows/s, split into reading + checking the files
(``read_import``: parsing and the domain validators) and storing (``store_batch``: links,
duplicate checks, batched INSERTs, audit, commit). Progress is reported per written batch
through ``progress(done, total)``. Usage:

    PYTHONPATH=. python bench/bench_import.py --sessions 100000 [--db URL] [--progress]
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

from clinic_app.interop.csv_io import read_import  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services import interop as service  # noqa: E402


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
    parser.add_argument("--progress", action="store_true", help="print each progress call")
    args = parser.parse_args()
    calls: list[tuple[float, int, int]] = []
    t0 = 0.0

    def progress(done: int, total: int) -> None:
        calls.append((time.perf_counter() - t0, done, total))
        if args.progress:
            print(f"\r  {done:,}/{total:,} rows written", end="", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = _generator()(folder / "files", args.sessions)
        db = Database.open(args.db or f"sqlite:///{folder / 'bench.sqlite3'}",
                           state_dir=folder)
        t0 = time.perf_counter()
        # What clinic_app.interop.import_csv does, with the phases timed separately.
        batch = read_import(folder / "files")
        t_read = time.perf_counter() - t0
        try:
            summary = service.store_batch(db, "bench", batch, progress=progress)
        except service.ImportRejected as exc:  # e.g. generated dates past "now" at ~216k+
            raise SystemExit(f"import rejected: {len(exc.problems):,} problem(s); first: "
                             f"{exc.problems[0]}") from None
        elapsed = time.perf_counter() - t0
        db.close()
    if args.progress:
        print(file=sys.stderr)
    rate = summary.total / elapsed
    print(f"{db.dialect}: imported {summary.total:,} rows ({rows:,} in files) in {elapsed:.1f} s "
          f"= {rate:,.0f} rows/s (read+validate {t_read:.1f} s, store {elapsed - t_read:.1f} s); "
          f"1M sessions would take ~{1_000_000 / rate:.0f} s (target 30 s)")
    if calls:
        print(f"progress: {len(calls)} calls, first at {calls[0][0]:.1f} s "
              f"({calls[0][1]:,}/{calls[0][2]:,}), last at {calls[-1][0]:.1f} s "
              f"({calls[-1][1]:,}/{calls[-1][2]:,})")


if __name__ == "__main__":
    main()
