"""CSV import throughput (issue 9 target: 1M sessions in <= 30 s, with progress).

Builds a patients/episodes/sessions file set with the same generator as the import test,
imports it into a fresh database through ``clinic_app.services.interop.import_csv`` (what the
command line and the GUI call) and prints rows/s, split by the progress phases:
checking (reading the files, parsing, domain validators), linking (the checks that need
the database, between the last checking and the first storing report) and storing
(batched INSERTs, audit, commit). Also prints when the first progress report came.

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

from _principal import bench_user  # noqa: E402 - bench/ is this script's folder

from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.interop import ImportPhase, ImportRejected, import_csv  # noqa: E402


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
    calls: list[tuple[float, ImportPhase, int, int]] = []
    t0 = 0.0

    def progress(phase: ImportPhase, done: int, total: int) -> None:
        calls.append((time.perf_counter() - t0, phase, done, total))
        if args.progress:
            print(f"\r  {phase.label}: {done:,}/{total:,}", end="", file=sys.stderr,
                  flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = _generator()(folder / "files", args.sessions)
        db = Database.open(args.db or f"sqlite:///{folder / 'bench.sqlite3'}",
                           state_dir=folder)
        who = bench_user(db)
        t0 = time.perf_counter()
        try:
            summary = import_csv(db, who, folder / "files", progress=progress)
        except ImportRejected as exc:
            raise SystemExit(f"import rejected: {len(exc.problems):,} problem(s); first: "
                             f"{exc.problems[0]}") from None
        elapsed = time.perf_counter() - t0
        db.close()
    if args.progress:
        print(file=sys.stderr)
    checking = [c for c in calls if c[1] is ImportPhase.CHECKING]
    storing = [c for c in calls if c[1] is ImportPhase.STORING]
    t_checked = checking[-1][0]
    t_store = storing[0][0]
    rate = summary.total / elapsed
    print(f"{db.dialect}: imported {summary.total:,} rows ({rows:,} in files) in {elapsed:.1f} s "
          f"= {rate:,.0f} rows/s (checking {t_checked:.1f} s, linking "
          f"{t_store - t_checked:.1f} s, storing {elapsed - t_store:.1f} s); "
          f"1M sessions would take ~{1_000_000 / rate:.0f} s (target 30 s)")
    print(f"progress: first call at {calls[0][0]:.3f} s; {len(checking)} checking calls "
          f"(0 to {checking[-1][3]:,} bytes), then {len(storing)} storing calls "
          f"(0 to {storing[-1][3]:,} rows); phases in order: "
          f"{' -> '.join(dict.fromkeys(c[1].label for c in calls))}")


if __name__ == "__main__":
    main()
