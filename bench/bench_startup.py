"""App start to a usable patient list, against a bare Qt window (issue 9: ratio <= 3x).

Each run is a fresh interpreter (subprocess), median of N:

(a) bare: ``QApplication`` + a shown 1280x800 ``QWidget`` + its first paint;
(b) app: the real ``MainWindow`` shown, ``Database.open`` on the synthetic clinic as the app
    opens it (schema check; the SQLite quick_check runs in a background thread, writes wait
    for it), ``attach`` with an administrator principal (the sign-in dialog is bypassed),
    until the patient list has its first page painted (the target's measure);
(c) signin: the real ``run_gui`` until its sign-in dialog is painted, which is what a user
    sees first (printed for information).

Children run with Python's bytecode cache on, as on a user's machine.

Times are from just before the process is started to that point (perf_counter is
CLOCK_MONOTONIC, shared by parent and child). Also prints whether pyqtgraph and reportlab
were imported by then (they must not be: the plot and the PDF report load lazily).

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python bench/bench_startup.py \
        --db sqlite:////tmp/syn.sqlite3 [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_RATIO = 3.0
sys.path.insert(0, str(HERE.parent))
from clinic_app import config  # noqa: E402 - the parent only; children are measured

AUDIT_KEY = config.load_audit_key()  # the key the synthetic clinic was signed with


def run_child(mode: str, url: str | None, data_dir: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    env = dict(os.environ, CLINIC_APP_DATA_DIR=data_dir)
    if AUDIT_KEY is not None:
        # The children's data folder is fresh, but the clinic's events are signed with this
        # workstation's key: without it the app rightly refuses the database.
        env.setdefault("CLINIC_APP_AUDIT_KEY", AUDIT_KEY.hex())
    # As on a user's machine, Python caches compiled modules (some CI images turn that off);
    # the warm-up run writes the cache for both kinds of run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cmd = [sys.executable, str(HERE / "_gui_child.py"), mode]
    if url:
        cmd += ["--db", url]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"the {mode} child failed ({out.returncode}): {last}")
    line = out.stdout.strip().splitlines()[-1]
    doc = json.loads(line)
    doc = {k: (v - t0 if isinstance(v, float) and k in {"marker", "exec", "imports_done",
                                                       "window_shown", "db_open",
                                                       "integrity_checked"} else v)
           for k, v in doc.items()}
    return doc["marker"], doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    bare: list[float] = []
    app: list[float] = []
    signin: list[float] = []
    docs: list[dict] = []  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as data_dir:
        run_child("bare", None, data_dir)  # warm the OS file cache for all
        run_child("app", args.db, data_dir)
        run_child("signin", args.db, data_dir)
        for _ in range(args.runs):  # interleaved, so machine load hits all alike
            bare.append(run_child("bare", None, data_dir)[0])
            t, doc = run_child("app", args.db, data_dir)
            app.append(t)
            docs.append(doc)
            signin.append(run_child("signin", args.db, data_dir)[0])
    b, a = statistics.median(bare), statistics.median(app)
    mid = sorted(docs, key=lambda d: d["marker"])[len(docs) // 2]
    print(f"bare Qt window, first paint : median {b * 1000:7.0f} ms "
          f"(min {min(bare) * 1000:.0f}, max {max(bare) * 1000:.0f}; {args.runs} runs)")
    print(f"MainWindow + first page     : median {a * 1000:7.0f} ms "
          f"(min {min(app) * 1000:.0f}, max {max(app) * 1000:.0f}; {args.runs} runs)")
    print(f"  median run: interpreter up {mid['exec'] * 1000:.0f} ms, imports done "
          f"{mid['imports_done'] * 1000:.0f}, window shown {mid['window_shown'] * 1000:.0f}, "
          f"database open {mid['db_open'] * 1000:.0f}, list painted {mid['marker'] * 1000:.0f}"
          f" ({mid['rows']} patients shown; the count follows)")
    print(f"  background integrity check (SQLite quick_check; none on PostgreSQL) done at "
          f"{mid['integrity_checked'] * 1000:.0f} ms: writes, incl. the sign-in, wait for it")
    print(f"  pyqtgraph imported: {mid['pyqtgraph']}; reportlab imported: {mid['reportlab']}")
    sg = statistics.median(signin)
    print(f"real run_gui to its sign-in dialog painted (what a user sees first): median "
          f"{sg * 1000:.0f} ms = {sg / b:.2f}x (min {min(signin) * 1000:.0f}, "
          f"max {max(signin) * 1000:.0f})")
    ratio = a / b
    ok = ratio <= TARGET_RATIO and not mid["pyqtgraph"] and not mid["reportlab"]
    print(f"ratio {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x) {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
