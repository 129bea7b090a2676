"""Heavy jobs at clinic scale: what users wait for while a backup, export or import runs.

One fresh interpreter per measurement (this script runs itself as a child), so the peak
RSS it prints belongs to that job alone: ``added`` is the peak (VmHWM) minus the RSS just
before the job started, after the database was opened and the user signed in.

    PYTHONPATH=. python bench/bench_heavy.py backup --db URL
    PYTHONPATH=. python bench/bench_heavy.py export --db URL [--out DIR]
    PYTHONPATH=. python bench/bench_heavy.py import --db URL --source DIR
    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python bench/bench_heavy.py backup --db URL --gui
    PYTHONPATH=. python bench/bench_heavy.py backup --db URL --open-while
    PYTHONPATH=. python bench/bench_heavy.py idle --db URL --open-while   (the baseline)

``--gui`` runs the job off the GUI thread of a Qt application (as the window does) and
prints the longest event-loop stall (a 5 ms timer's largest gap), and every stall over
80 ms with the job's progress report just before it; ``--probe FILE`` also writes every
thread's stack to FILE at each such stall (it changes the timing: see bench/README.md).
``--open-while`` runs the job in another process and meanwhile opens random charts here,
as another workstation would, printing the slowest open and any failure. ``import`` reads
a CSV export (``export`` writes one) into the clinic at ``--db``: point it at a copy.

Targets (issue): backup peak added <= 100 MB whatever the size; export <= 200 MB and the
100k clinic in <= 60 s; import of the 2.2M-row export <= 500 MB peak RSS, <= 60 s; no
GUI stall over 100 ms; a chart opens in <= 200 ms while any of them runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _principal import bench_account  # noqa: E402 - bench/ is this script's folder

from clinic_app.persistence.uow import Database  # noqa: E402


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


LAST_PROGRESS: list[Any] = []
"""The job's latest progress report: where it was when the GUI stalled."""


def _job(kind: str, db: Database, out: Path, source: str | None) -> Any:
    """The job as the window and the command line run it (streamed, with progress)."""
    from clinic_app.services import interop, maintenance

    who = bench_account(db)
    seen = [0]

    def progress(*values: Any) -> None:
        seen[0] += 1
        LAST_PROGRESS[:] = values

    if kind == "backup":
        result = maintenance.backup_now(db, who, out / "bench-backup", progress=progress)
        return f"{result.size_bytes / 1e6:,.0f} MB file, {seen[0]} progress reports"
    if kind == "export":
        summary = interop.export_csv(db, who, out / "export", progress=progress)
        return (f"{summary.patients:,} patients, {summary.sessions:,} sessions, "
                f"{summary.tests:,} tests, {seen[0]} progress reports")
    if kind == "idle":  # the baseline for --open-while: the same opens with no job running
        time.sleep(60)
        return "nothing for 60 s"
    if kind == "import":
        assert source, "--source DIR (a CSV export) is required"
        summary = interop.import_csv(db, who, Path(source), progress=progress)
        return f"{summary.total:,} rows stored, {summary.skipped:,} already stored"
    raise SystemExit(f"unknown job {kind}")


def child(args: argparse.Namespace) -> None:
    db = Database.open(args.db, upgrade=False)
    bench_account(db)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-heavy-"))
    out.mkdir(parents=True, exist_ok=True)
    before = _status_mb("VmRSS")
    stall_ms = None
    load = os.getloadavg()[0]
    t0, cpu0 = time.perf_counter(), time.process_time()
    if args.gui:
        stall_ms, what = _under_gui(lambda: _job(args.job, db, out, args.source), args.probe)
    else:
        what = _job(args.job, db, out, args.source)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    db.close()
    print(json.dumps({"job": args.job, "dialect": db.dialect, "seconds": seconds,
                      "cpu_seconds": cpu, "load": [load, os.getloadavg()[0]],
                      "rss_before_mb": before, "peak_mb": _status_mb("VmHWM"),
                      "stall_ms": stall_ms, "stalls": STALLS, "what": what}))


STALLS: list[tuple[float, float, str]] = []
"""GUI stalls over 80 ms: (seconds into the job, ms, the job's progress then)."""


def _under_gui(task: Any, probe: str | None = None) -> tuple[float, Any]:
    """Run ``task`` in a worker thread while a Qt event loop runs; the longest stall.

    ``probe``: a file that gets every thread's stack whenever the GUI thread has not run
    for 80 ms (``faulthandler``'s watchdog is a C thread: it needs no interpreter lock,
    so it sees what holds it), each followed by the length of that stall.
    """
    import faulthandler

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    result: dict[str, Any] = {}
    worst = [0.0]
    last = [time.perf_counter()]

    started = time.perf_counter()
    probe_fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if probe else None

    def tick() -> None:
        now = time.perf_counter()
        gap = now - last[0]
        worst[0] = max(worst[0], gap)
        last[0] = now
        if gap > 0.08:
            STALLS.append((round(now - started, 1), round(gap * 1000),
                           " ".join(str(v) for v in LAST_PROGRESS)))
        if probe_fd is not None:
            if gap > 0.08:
                os.write(probe_fd, f"-- the GUI thread waited {gap * 1000:.0f} ms\n".encode())
            faulthandler.dump_traceback_later(0.08, file=probe_fd)
        if "done" in result:
            app.quit()

    def run() -> None:
        try:
            result["value"] = task()
        except BaseException as exc:  # reported below, on the main thread
            result["error"] = exc
        result["done"] = True

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    threading.Thread(target=run, daemon=True).start()
    app.exec()
    if probe_fd is not None:
        faulthandler.cancel_dump_traceback_later()
        os.close(probe_fd)
    if "error" in result:
        raise result["error"]
    return worst[0] * 1000, result["value"]


def open_while(args: argparse.Namespace) -> None:
    """The job in another process; charts opened here meanwhile, as another workstation."""
    from clinic_app.persistence.models import PatientRow
    from clinic_app.services.charting import ChartingService

    db = Database.open(args.db, upgrade=False)
    who = bench_account(db)
    with db.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(PatientRow.__table__.select()
                                          .with_only_columns(PatientRow.id).limit(5000))]
    rng = random.Random(1)
    svc = ChartingService(db, who)
    cmd = [sys.executable, __file__, args.job, "--db", args.db, "--child"]
    if args.source:
        cmd += ["--source", args.source]
    if args.out:
        cmd += ["--out", args.out]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    # Each open split into its read and its "view" event, with this thread's CPU time:
    # a wall time far above the CPU time was spent waiting (for a core, the disk or a lock).
    record = db.views.record
    view_ms: list[float] = []

    def timed_record(actor: str, patient_id: Any) -> bool:
        t0 = time.perf_counter()
        try:
            return record(actor, patient_id)
        finally:
            view_ms.append((time.perf_counter() - t0) * 1000)

    db.views.record = timed_record  # type: ignore[method-assign]
    opens: list[tuple[float, float, float]] = []  # wall ms, of which view ms, CPU ms
    failures: list[str] = []
    time.sleep(1.0)  # let the job get going
    while job.poll() is None:
        t0, c0 = time.perf_counter(), time.thread_time()
        before = len(view_ms)
        try:
            svc.chart(rng.choice(ids))
        except Exception as exc:  # counted and named: the point of this bench
            failures.append(type(exc).__name__)
        wall = (time.perf_counter() - t0) * 1000
        opens.append((wall, view_ms[-1] if len(view_ms) > before else 0.0,
                      (time.thread_time() - c0) * 1000))
        time.sleep(0.2)
    queued = db.views.pending
    db.views.wait_written(60)
    db.close()
    out, _ = job.communicate()
    times = sorted(o[0] for o in opens)
    p95 = times[int(len(times) * 0.95) - 1] if times else float("nan")
    print(f"{args.job} in another process: {len(times)} charts opened meanwhile, slowest "
          f"{times[-1] if times else float('nan'):.0f} ms, p95 {p95:.0f} ms, "
          f"{len(failures)} failed {sorted(set(failures))}; {queued} view event(s) still "
          "queued when the job ended (written after it)")
    if opens:
        views = sorted(o[1] for o in opens)
        reads = sorted(o[0] - o[1] for o in opens)
        print(f"  reading the chart: p95 {reads[int(len(reads) * 0.95) - 1]:.0f} ms, slowest "
              f"{reads[-1]:.0f} ms; writing its view event: p95 "
              f"{views[int(len(views) * 0.95) - 1]:.0f} ms, slowest {views[-1]:.0f} ms")
        for wall, view, cpu in sorted(opens, reverse=True)[:5]:
            print(f"  slow open: {wall:.0f} ms (view event {view:.0f} ms), CPU of this "
                  f"thread {cpu:.0f} ms")
    _report(out)


def _report(out: str) -> None:
    r = json.loads(out.strip().splitlines()[-1])
    added = r["peak_mb"] - r["rss_before_mb"]
    stall = f", longest GUI stall {r['stall_ms']:.0f} ms" if r["stall_ms"] is not None else ""
    # On a shared machine the wall time depends on the others' load; the job's own CPU
    # time (this process only: not the database server's) does much less.
    print(f"{r['dialect']} {r['job']}: {r['seconds']:.1f} s ({r['cpu_seconds']:.1f} s CPU of "
          f"this process; load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}), "
          f"peak RSS {r['peak_mb']:.0f} MB "
          f"(before the job {r['rss_before_mb']:.0f} MB, added {added:.0f} MB){stall}; "
          f"{r['what']}")
    for at, ms, where in r.get("stalls") or []:
        print(f"  GUI stall of {ms:.0f} ms, {at:.1f} s into the job (last progress: {where})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=["backup", "export", "import", "idle"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--source", help="import: the CSV export folder to import")
    parser.add_argument("--out", help="where the backup / export goes (default: a temp dir)")
    parser.add_argument("--gui", action="store_true", help="measure the GUI's longest stall")
    parser.add_argument("--probe", help="with --gui: write every thread's stack to this file "
                        "at each GUI stall over 80 ms")
    parser.add_argument("--open-while", action="store_true",
                        help="open charts in this process while the job runs in another")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    elif args.open_while:
        open_while(args)
    else:
        cmd = [sys.executable, __file__, args.job, "--db", args.db, "--child"]
        for flag in ("source", "out"):
            if getattr(args, flag):
                cmd += [f"--{flag}", getattr(args, flag)]
        if args.gui:
            cmd.append("--gui")
        if args.probe:
            cmd += ["--probe", args.probe]
        _report(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)


if __name__ == "__main__":
    main()
