"""What a user sees first, and how soon the list follows, against a bare Qt window.

Each run is a fresh interpreter (subprocess), median of N, the kinds of run interleaved so
that the machine's load hits all alike:

(a) bare: ``QApplication`` + a shown 1280x800 ``QWidget`` + its first paint;
(b) signin: the real ``run_gui`` on the clinic until its first window, the sign-in window,
    is painted (target: <= 1.5x bare); the data layers load and the database opens behind
    it, after the paint;
(c) firstrun: the same on a database file that does not exist yet: the first-run
    (administrator) window, painted (target: <= 1.5x bare);
(d) signin_list: the real ``run_gui``; the bench types the user name and password at once
    and presses Enter (the database is usually still opening: the window says so and goes
    on by itself); from the accepted password to the list's first page painted in the main
    window (target: <= 150 ms);
(e) app (``--modes app``): the main window attached without the sign-in (an administrator
    account row without a password) until the list's first page is painted (the start-up
    figure of issue 9; ``BENCH_WAIT_CHECK=1`` also waits for the integrity check).

Children run with Python's bytecode cache on, as on a user's machine. Times are from just
before the process is started (perf_counter is CLOCK_MONOTONIC, shared by parent and
child). The clinic's rows are signed with this data folder's audit key, passed to the
children in ``CLINIC_APP_AUDIT_KEY``.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python bench/bench_startup.py \\
        --db sqlite:////tmp/syn.sqlite3 [--runs 7] [--modes bare,signin,firstrun,signin_list]
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
TARGET_PAINT = 1.5
TARGET_LIST_MS = 150.0
MODES = ("bare", "signin", "firstrun", "signin_list")
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from clinic_app import config  # noqa: E402 - the parent only; children are measured

AUDIT_KEY = config.load_audit_key()  # the key the synthetic clinic was signed with
TIMES = {"marker", "exec", "imports_done", "window_shown", "db_open", "integrity_checked",
         "shown", "accepted"}


def run_child(mode: str, url: str | None, data_dir: str) -> dict:  # type: ignore[type-arg]
    env = dict(os.environ, CLINIC_APP_DATA_DIR=data_dir)
    if AUDIT_KEY is not None:
        # The children's data folder is fresh, but the clinic's events are signed with this
        # workstation's key: without it the app rightly refuses the database.
        env.setdefault("CLINIC_APP_AUDIT_KEY", AUDIT_KEY.hex())
    # As on a user's machine, Python caches compiled modules (some CI images turn that off);
    # the warm-up run writes the cache for every kind of run.
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
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: (v - t0 if isinstance(v, float) and k in TIMES else v) for k, v in doc.items()}


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _cpu(docs: list[dict], key: str = "cpu") -> str:  # type: ignore[type-arg]
    return f"CPU of the process median {statistics.median(d[key] for d in docs) * 1000:.0f} ms"


def _ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:6.0f} ms (min {min(values) * 1000:.0f},"
            f" max {max(values) * 1000:.0f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"comma-separated, of {', '.join((*MODES, 'app'))}")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if "bare" not in modes:
        modes.insert(0, "bare")
    if "signin_list" in modes:
        from _principal import ensure_bench_user

        from clinic_app.persistence.uow import Database

        # The children check the file themselves; here only the account is needed.
        db = Database.open(args.db, check_in_background=True)
        ensure_bench_user(db)  # the account the bench signs in with (made once, by the service)
        db.close()
    docs: dict[str, list[dict]] = {m: [] for m in modes}  # type: ignore[type-arg]
    print(f"start: {_load()}")
    with tempfile.TemporaryDirectory() as data_dir, \
            tempfile.TemporaryDirectory() as new_files:
        def url_for(mode: str, run: int) -> str | None:
            if mode == "bare":
                return None
            if mode == "firstrun":  # a database file that does not exist yet
                return f"sqlite:///{Path(new_files) / f'new-{run}.sqlite3'}"
            return args.db

        for mode in modes:  # warm-up: the OS file cache and the bytecode cache
            run_child(mode, url_for(mode, -1), data_dir)
        for run in range(args.runs):  # interleaved, so machine load hits all alike
            for mode in modes:
                docs[mode].append(run_child(mode, url_for(mode, run), data_dir))
    ok = True
    bare = [d["marker"] for d in docs["bare"]]
    b = statistics.median(bare)
    print(f"end: {_load()}")
    print(f"bare Qt window, first paint      : {_ms(bare)}; {args.runs} runs; "
          f"{_cpu(docs['bare'])}")
    for mode, what in (("signin", "sign-in window, first paint"),
                       ("firstrun", "first-run window, first paint")):
        if mode not in docs:
            continue
        times = [d["marker"] for d in docs[mode]]
        ratio = statistics.median(times) / b
        names = {d["dialog"] for d in docs[mode]}
        early = sum(not d["sqlalchemy_loaded_by_then"] for d in docs[mode])
        met = ratio <= TARGET_PAINT
        ok &= met
        print(f"{what:33}: {_ms(times)} = {ratio:.2f}x bare (target <= {TARGET_PAINT}x) "
              f"{'OK' if met else 'MISSED'}; window {', '.join(sorted(names))}; "
              f"painted before SQLAlchemy was loaded in {early}/{len(times)} runs; "
              f"{_cpu(docs[mode])}")
    if "signin_list" in docs:
        runs = docs["signin_list"]
        to_list = [d["marker"] - d["accepted"] for d in runs]
        shown = [d["shown"] for d in runs]
        waited = sum(bool(d["waited"]) for d in runs)
        met = statistics.median(to_list) * 1000 <= TARGET_LIST_MS
        ok &= met
        print(f"accepted password -> list painted: {_ms(to_list)} (target <= "
              f"{TARGET_LIST_MS:.0f} ms) {'OK' if met else 'MISSED'}; window up at "
              f"{statistics.median(shown) * 1000:.0f} ms; Enter pressed before the database "
              f"was open in {waited}/{len(runs)} runs (the window waited, then went on); "
              f"{_cpu(runs, 'cpu_to_list')} from the accepted password to the list "
              f"(all threads); integrity check still running in "
              f"{sum(bool(d['checking']) for d in runs)}/{len(runs)} runs")
    if "app" in docs:
        runs = docs["app"]
        times = [d["marker"] for d in runs]
        mid = sorted(runs, key=lambda d: d["marker"])[len(runs) // 2]
        print(f"main window + first page, no sign-in (issue 9): {_ms(times)} = "
              f"{statistics.median(times) / b:.2f}x bare; median run: imports done "
              f"{mid['imports_done'] * 1000:.0f}, window shown {mid['window_shown'] * 1000:.0f},"
              f" database open {mid['db_open'] * 1000:.0f} ms; pyqtgraph imported "
              f"{mid['pyqtgraph']}, reportlab imported {mid['reportlab']}")
        if "integrity_checked" in mid:
            print(f"  integrity check done at {mid['integrity_checked'] * 1000:.0f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
