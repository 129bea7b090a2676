"""Time the progress report: a 1-page and a ~20-page report against a minimal reportlab PDF.

Run: ``PYTHONPATH=. python bench/bench_report.py``. Targets: 1 page <= 250 ms, 20 pages <= 2 s.
Each figure is the median of several runs; the ratio divides by the median time of a
one-paragraph reportlab document built in the same process, so machines can be compared.
Data lives in a throw-away SQLite file and is entered through the normal domain validation.
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _principal import bench_user  # bench/ is this script's folder

from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
    Surface,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.domain.scoring import score_test
from clinic_app.domain.session_params import validate_walk_session
from clinic_app.persistence.uow import Database
from clinic_app.reports import build_progress_report
from clinic_app.services.reporting import generate_report, load_report_data

ACTOR = "bench"
TARGETS = {"1-page": 0.250, "20-page": 2.0}


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def minimal_pdf() -> None:
    """The reference: one paragraph through platypus, into memory."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    doc = SimpleDocTemplate(io.BytesIO())
    doc.build([Paragraph("Hello", getSampleStyleSheet()["Normal"])])


def _patient(db: Database, mrn: str, sessions: int, test_every: int, start: date) -> None:
    """A patient whose walking speed, 3MBWT and pain improve over ``sessions`` visits."""
    rng = random.Random(mrn)
    with db.unit_of_work(ACTOR) as uow:
        p = uow.patients.add(PatientDraft(mrn, "Wójcik", "Øyvind", date(1975, 6, 1), Sex.MALE))
        ep = uow.episodes.add(p.id, EpisodeDraft(
            Diagnosis.ACL_RECONSTRUCTION, Side.LEFT, start, start - timedelta(days=10),
            "Dr. Helen Avery (Orthopaedics)",
        ))
        for i in range(sessions):
            f = i / max(1, sessions - 1)
            day = start + timedelta(days=i * 2)
            treadmill = i % 3 != 0
            speed = round(0.35 + 0.5 * f + rng.gauss(0, 0.02), 2)
            draft = WalkSessionDraft(
                performed_at=datetime(day.year, day.month, day.day, 10, 30, tzinfo=UTC),
                mode=WalkMode.TREADMILL if treadmill else WalkMode.OVERGROUND,
                surface=Surface.TREADMILL_BELT if treadmill else Surface.FLAT,
                duration_min=float(10 + round(10 * f)),
                distance_m=round(speed * (10 + round(10 * f)) * 60),
                speed_m_s=speed, incline_pct=float(round(4 * f)) if treadmill else 0.0,
                assistance=Assistance.HANDRAIL if f < 0.3 else Assistance.INDEPENDENT,
                pain_before=max(0, round(5 - 4 * f)), pain_after=max(0, round(4 - 3 * f)),
                rpe=4.0, heart_rate=100,
            )
            validate_walk_session(draft, now=datetime.now(UTC))
            session = uow.sessions.add(ep.id, draft)
            if i % test_every == 0:
                for t in (
                    TestResultDraft("bwt_3m", day, round(6.5 - 3 * f + rng.gauss(0, 0.2), 1)),
                    TestResultDraft("tug", day, round(11.5 - 4 * f + rng.gauss(0, 0.3), 1)),
                    TestResultDraft("nprs", day, float(max(0, round(5 - 4 * f)))),
                    TestResultDraft("knee_flexion_rom", day, round(90 + 40 * f), Side.LEFT),
                    TestResultDraft("knee_flexion_rom", day, 138.0, Side.RIGHT),
                ):
                    t = TestResultDraft(t.measure_id, t.performed_on, t.value, t.side,
                                        session_id=session.id)
                    uow.tests.add(ep.id, t, score_test(t))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = Database.open(f"sqlite:///{folder / 'bench.sqlite3'}", folder / "bk")
        today = date.today()
        for mrn, n, every in (("BENCH-1", 3, 10), ("BENCH-20", 850, 20)):
            _patient(db, mrn, sessions=n, test_every=every, start=today - timedelta(days=2 * n + 5))
        minimal_pdf()  # warm reportlab imports
        base = _median(minimal_pdf, 15)
        print(f"minimal reportlab document: {base * 1000:.1f} ms (median of 15)")
        failed = False
        who = bench_user(db)
        for label, mrn, runs in (("1-page", "BENCH-1", 11), ("20-page", "BENCH-20", 5)):
            data = load_report_data(db, who, mrn, therapist="Bench Therapist")
            pages = build_progress_report(data, io.BytesIO())  # warm-up (font registration)
            render = _median(lambda d=data: build_progress_report(d, io.BytesIO()), runs)
            out = folder / f"{mrn}.pdf"
            full = _median(lambda m=mrn, o=out: generate_report(
                db, who, m, o), runs)
            ok = full <= TARGETS[label]
            failed |= not ok
            print(f"{label:8s} ({pages:2d} pages): render {render * 1000:7.1f} ms "
                  f"= {render / base:5.1f} x minimal; with DB load + audit {full * 1000:7.1f} ms "
                  f"= {full / base:5.1f} x minimal; target <= {TARGETS[label] * 1000:.0f} ms "
                  f"{'OK' if ok else 'MISSED'} (median of {runs})")
        db.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
