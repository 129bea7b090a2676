"""A small clinic for cohort tests, with a plain-Python record of what was stored.

The cohort and outcome figures the database computes are checked against
:func:`expected_curve` and :func:`expected_outcomes`, computed here from the values the test
entered (never read back from the database) with ``statistics.quantiles``.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from clinic_app.domain.cohorts import CohortWeek
from clinic_app.domain.measures import get_measure
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
    SurgeryType,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.services.charting import ChartingService


@dataclass
class StoredEpisode:
    diagnosis: str
    side: str
    sex: str
    born: date
    start: date
    surgery: date | None
    by: str
    patient: str
    live: bool = True
    # (measure, day, side, value, live)
    results: list[tuple[str, date, str | None, float, bool]] = field(default_factory=list)
    sessions: list[tuple[bool, bool]] = field(default_factory=list)  # (adverse, live)
    surgery_type: str | None = None
    therapist: str = ""  # the treating therapist's user name

# Operated episodes' types in turn: the three ACL grafts, an ACL repair, and "not recorded".
TYPES: tuple[SurgeryType | None, ...] = (
    SurgeryType.ACL_HAMSTRING, SurgeryType.ACL_PATELLAR, None, SurgeryType.ACL_QUADRICEPS,
    SurgeryType.ACL_REPAIR)


def q(values: list[float], p: float) -> float:
    """Independent quantile: the standard library's inclusive (definition 7) method."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=4, method="inclusive")
    return {0.25: cuts[0], 0.5: cuts[1], 0.75: cuts[2]}[p]


def build_clinic(charting: dict[str, ChartingService], seed: int = 7,
                 patients: int = 16) -> list[StoredEpisode]:
    """Patients with ACL and knee OA episodes, results over weeks, some entered in error."""
    rnd = random.Random(seed)
    stored: list[StoredEpisode] = []
    names = sorted(charting)
    for i in range(patients):
        by = names[i % len(names)]
        svc = charting[by]
        born = date(1960 + rnd.randrange(45), 1 + rnd.randrange(12), 1 + rnd.randrange(28))
        sex = (Sex.FEMALE, Sex.MALE)[i % 2]
        p = svc.register_patient(PatientDraft(f"C{i:04d}", f"Fam{i}", "Given", born, sex))
        acl = i % 3 != 2
        start = date(2025, 1, 6) + timedelta(days=rnd.randrange(200))
        surgery = start - timedelta(days=rnd.randrange(3, 20)) if acl else None
        side = (Side.LEFT, Side.RIGHT)[rnd.randrange(2)]
        diag = Diagnosis.ACL_RECONSTRUCTION if acl else Diagnosis.KNEE_OSTEOARTHRITIS
        kind = TYPES[i % len(TYPES)] if surgery else None
        # Every fourth episode is treated by a colleague of the one who opens it.
        treats = names[(i + 1) % len(names)] if i % 4 == 1 else by
        ep = svc.open_episode(p.id, EpisodeDraft(diag, side, start, surgery, surgery_type=kind,
                                                 treating_therapist=treats))
        rec = StoredEpisode(diag.value, side.value, sex.value, born, start, surgery, by, str(p.id),
                            surgery_type=kind.value if kind else None, therapist=treats)
        anchor = surgery or start
        for k in range(rnd.randrange(2, 6)):
            day = anchor + timedelta(days=7 * k * 2 + rnd.randrange(7))
            if day < start:
                day = start
            v = round(250 + 30 * k + rnd.uniform(-40, 40), 1)
            r = svc.record_test(ep.id, TestResultDraft("walk_6min", day, v))
            live = not (i == 3 and k == 1)
            if not live:
                svc.mark_test_in_error(r.id, r.stamp.version, "typed into the wrong patient")
            rec.results.append(("walk_6min", day, None, v, live))
            pain = max(0, 7 - k - rnd.randrange(2))
            svc.record_test(ep.id, TestResultDraft("nprs", day, pain))
            rec.results.append(("nprs", day, None, float(pain), True))
            for s in (Side.LEFT, Side.RIGHT):
                deg = float(90 + 10 * k + rnd.randrange(10)) if s == side else 135.0
                svc.record_test(ep.id, TestResultDraft("knee_flexion_rom", day, deg, side=s))
                rec.results.append(("knee_flexion_rom", day, s.value, deg, True))
            if k % 2 == 0:
                adverse = rnd.random() < 0.3
                when = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
                svc.record_session(ep.id, WalkSessionDraft(
                    when, duration_min=10.0, adverse_events="dizzy" if adverse else ""))
                rec.sessions.append((adverse, True))
        if i == 5:  # a second walk result the same week: its mean counts once
            day = anchor + timedelta(days=1)
            if day >= start:
                svc.record_test(ep.id, TestResultDraft("walk_6min", day, 333.0))
                rec.results.append(("walk_6min", day, None, 333.0, True))
        if i == 8:
            svc.mark_episode_in_error(ep.id, ep.stamp.version, "opened for the wrong knee")
            rec.live = False
        if i == 10:
            svc.mark_patient_in_error(p.id, p.stamp.version, "registered twice")
            rec.live = False
        stored.append(rec)
    return stored


def expected_curve(stored: list[StoredEpisode], measure: str, *, surgery_basis: bool = True,
                   diagnosis: str | None = None, sex: str | None = None,
                   surgery_types: set[str | None] | None = None, therapist: str | None = None
                   ) -> tuple[int, list[CohortWeek]]:
    """The curve from the stored values; ``surgery_types`` the types kept (None: any, and
    ``{None}`` alone: the unoperated), ``therapist`` the treating therapist."""
    sided = get_measure(measure).sided
    per: dict[tuple[int, int], list[float]] = defaultdict(list)
    patients: set[str] = set()
    for n, e in enumerate(stored):
        if not e.live or (diagnosis and e.diagnosis != diagnosis) or (sex and e.sex != sex):
            continue
        if surgery_types is not None and e.surgery_type not in surgery_types:
            continue
        if therapist is not None and e.therapist != therapist:
            continue
        anchor = e.surgery if surgery_basis else e.start
        if anchor is None:
            continue
        for mid, day, side, v, live in e.results:
            if mid != measure or not live or (sided and side not in (None, e.side)):
                continue
            days = (day - anchor).days
            if 0 <= days < 105 * 7:
                per[(n, days // 7)].append(v)
                patients.add(e.patient)
    weeks: dict[int, list[float]] = defaultdict(list)
    for (_n, w), vs in per.items():
        weeks[w].append(sum(vs) / len(vs))
    return len(patients), [
        CohortWeek(w, len(vs), q(vs, 0.25), q(vs, 0.5), q(vs, 0.75))
        for w, vs in sorted(weeks.items())
    ]


def expected_outcomes(stored: list[StoredEpisode]) -> dict[str, dict[str, object]]:
    """Per diagnosis: episodes, sessions, adverse, median sessions, and per MCID measure
    (episodes, reached, median change)."""
    out: dict[str, dict[str, object]] = {}
    for diag in sorted({e.diagnosis for e in stored if e.live}):
        eps = [e for e in stored if e.live and e.diagnosis == diag]
        counts = [float(sum(1 for _a, live in e.sessions if live)) for e in eps]
        measures: dict[str, tuple[int, int, float]] = {}
        for mid in ("walk_6min", "nprs"):
            m = get_measure(mid)
            changes = []
            for e in eps:
                vals = sorted((d, v) for m_, d, _s, v, live in e.results if m_ == mid and live)
                if len(vals) >= 2:
                    # Equal days: the later entry is the later result (entered in that order).
                    first = vals[0][1] if vals[0][0] != vals[1][0] else next(
                        v for m_, d, _s, v, live in e.results
                        if m_ == mid and live and d == vals[0][0])
                    last_day = vals[-1][0]
                    last = [v for m_, d, _s, v, live in e.results
                            if m_ == mid and live and d == last_day][-1]
                    changes.append(last - first)
            assert m.mcid is not None
            gain = [c if m.higher_is_better else -c for c in changes]
            if changes:
                measures[mid] = (len(changes), sum(1 for g in gain if g >= m.mcid),
                                 q(changes, 0.5))
        out[diag] = {
            "episodes": len(eps), "median_sessions": q(counts, 0.5),
            "sessions": int(sum(counts)),
            "adverse": sum(1 for e in eps for a, live in e.sessions if a and live),
            "measures": measures,
        }
    return out
