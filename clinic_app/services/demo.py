"""Realistic demonstration data: patients in knee rehabilitation with retro-walking programmes.

Everything is validated and scored through the same domain functions as real input, and the
whole seed is one transaction, so a failed seed leaves the database as it was.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.plan_of_care import (
    Dose,
    GoalDraft,
    PrescriptionDraft,
    SafetyDraft,
    validate_goal,
    validate_prescription,
)
from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
    Surface,
    SurgeryType,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.domain.scoring import score_test
from clinic_app.domain.session_params import validate_walk_session
from clinic_app.domain.validation import validate_episode, validate_patient
from clinic_app.persistence.uow import Database, UnitOfWork

FEMALE = ["Anna", "Sofia", "Maria", "Emma", "Léa", "Zoë", "Ingrid", "Aisha", "Chloé", "Hana",
          "Olivia", "Marta", "Noor", "Siobhán", "Yuki", "Camille", "Freya", "Lucía", "Priya"]
MALE = ["Lukas", "Jonas", "José", "Mateo", "Øyvind", "Ahmed", "Noah", "Liam", "Björn", "Karim",
        "Tomás", "Oliver", "Mikołaj", "Ethan", "Rafael", "Jan", "Samuel", "Finn", "Kenji"]
FAMILY = ["Müller", "Schmidt", "García", "Nguyễn", "Kowalski", "O'Brien", "Jensen", "Rossi",
          "Dubois", "Novak", "Andersson", "Smith", "Papadopoulos", "Yılmaz", "Fernández",
          "Wójcik", "Silva", "Tanaka", "Haddad", "Van der Berg", "Schneider", "Johansson",
          "Moreau", "Horváth", "Costa", "Brown", "Kaur", "Fischer", "Lindqvist", "Petrović"]
DOCTORS = ["Dr. Helen Avery (Orthopaedics)", "Dr. Marco Bellini (Sports Medicine)",
           "Dr. Sarah Okafor (General Practice)", "Dr. Thomas Weber (Orthopaedics)"]

KOOS_ITEMS = {"koos_pain": 9, "koos_symptoms": 7, "koos_adl": 17, "koos_sport_rec": 5,
              "koos_qol": 4}


@dataclass(frozen=True)
class Profile:
    """Start and end values of a typical recovery for one diagnosis."""

    diagnosis: Diagnosis
    ages: tuple[int, int]
    surgery: bool
    weeks: tuple[int, int]
    bwt: tuple[float, float]  # 3-metre backward walk, s
    tug: tuple[float, float]
    gait: tuple[float, float]  # 10 m walk, m/s
    flexion: tuple[float, float]
    extension: tuple[float, float]
    quad_lsi: tuple[float, float]
    pain: tuple[float, float]
    koos: tuple[float, float]
    lefs: tuple[float, float]
    speed: tuple[float, float]  # retro-walking speed, m/s


PROFILES = (
    Profile(Diagnosis.ACL_RECONSTRUCTION, (17, 42), True, (12, 20), (6.5, 3.2), (11.5, 6.8),
            (0.95, 1.45), (85, 135), (-8, 2), (55, 91), (5, 1), (40, 85), (32, 72), (0.35, 0.9)),
    Profile(Diagnosis.KNEE_OSTEOARTHRITIS, (55, 82), False, (8, 14), (7.8, 4.6), (15.5, 10.5),
            (0.7, 1.05), (105, 122), (-10, -4), (70, 86), (6, 3), (35, 62), (30, 52), (0.25, 0.55)),
    Profile(Diagnosis.ANTERIOR_KNEE_PAIN, (15, 38), False, (6, 10), (4.2, 2.9), (8.0, 6.2),
            (1.2, 1.5), (128, 140), (0, 2), (78, 95), (6, 1), (50, 90), (45, 75), (0.5, 1.1)),
    Profile(Diagnosis.POST_SURGERY_OTHER, (30, 70), True, (8, 14), (6.0, 3.8), (12.5, 8.0),
            (0.85, 1.25), (90, 128), (-6, -1), (60, 85), (5, 2), (40, 75), (35, 62), (0.3, 0.75)),
)


def _lerp(pair: tuple[float, float], f: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * f


def _items(rng: random.Random, count: int, mean: float) -> tuple[int, ...]:
    return tuple(max(0, min(4, round(rng.gauss(mean, 0.6)))) for _ in range(count))


def _visit_tests(
    rng: random.Random, p: Profile, f: float, day: date, affected: Side, with_prom: bool
) -> list[TestResultDraft]:
    """Tests done at one assessment visit, ``f`` = fraction of recovery (0 to 1)."""

    def noisy(pair: tuple[float, float], sd: float) -> float:
        return _lerp(pair, f) + rng.gauss(0, sd)

    out = [
        TestResultDraft("bwt_3m", day, round(max(1.5, noisy(p.bwt, 0.25)), 1)),
        TestResultDraft("tug", day, round(max(4.0, noisy(p.tug, 0.4)), 1)),
        TestResultDraft("walk_10m", day, round(max(0.3, noisy(p.gait, 0.04)), 2)),
        TestResultDraft("nprs", day, float(max(0, min(10, round(noisy(p.pain, 0.6)))))),
        TestResultDraft("quad_lsi", day, round(min(120, max(30, noisy(p.quad_lsi, 2.5))), 0)),
    ]
    for side in (Side.LEFT, Side.RIGHT):
        involved = affected in (side, Side.BILATERAL)
        flex = noisy(p.flexion, 2.5) if involved else 138 + rng.gauss(0, 2)
        ext = noisy(p.extension, 1) if involved else 2 + rng.gauss(0, 1)
        out.append(TestResultDraft("knee_flexion_rom", day, round(flex), side=side))
        out.append(TestResultDraft("knee_extension_rom", day, round(ext), side=side))
    if with_prom:
        target = _lerp(p.koos, f)
        for measure, n in KOOS_ITEMS.items():
            out.append(TestResultDraft(measure, day, items=_items(rng, n, (100 - target) / 25)))
        lefs_mean = _lerp(p.lefs, f) / 20
        out.append(TestResultDraft("lefs", day, items=_items(rng, 20, lefs_mean)))
    return out


def _pick(allowed: tuple[int, ...], share: float) -> int:
    """The answer at ``share`` (0 worst to 1 best) of an item's allowed scores."""
    ordered = sorted(allowed)
    return ordered[round(max(0.0, min(1.0, share)) * (len(ordered) - 1))]


def _acl_battery(rng: random.Random, surgery: date, start: date, last: date,
                 affected: Side) -> list[TestResultDraft]:
    """Knee instruments and the return-to-sport battery every 4 weeks after ACL surgery.

    Questionnaires from the first visit; hop, strength and Y-Balance tests from 12 weeks
    after surgery (hopping earlier would be unsafe). An independent random stream keeps the
    rest of the demo data the same with or without this battery.
    """
    from clinic_app.domain.instruments import INSTRUMENTS

    other = Side.RIGHT if affected == Side.LEFT else Side.LEFT
    out: list[TestResultDraft] = []
    pre_injury = rng.choice((7, 8, 9))
    day = start
    while day <= last:
        w = (day - surgery).days / 7
        f = max(0.0, min(1.0, (w - 4) / 36))  # recovery fraction, full at ~40 weeks

        def items(mid: str, share: float, spread: float = 0.12) -> tuple[int, ...]:
            return tuple(_pick(spec.allowed, share + rng.gauss(0, spread))
                         for spec in INSTRUMENTS[mid].items)

        ikdc = list(items("ikdc", 0.45 + 0.45 * f))
        for i in (1, 2):  # pain items are answered 0 = none: the form's reversed scale
            ikdc[i] = 10 - ikdc[i]
        out += [
            TestResultDraft("ikdc", day, items=tuple(ikdc)),
            TestResultDraft("kos_adls", day, items=items("kos_adls", 0.6 + 0.36 * f)),
            TestResultDraft("lysholm", day, items=items("lysholm", 0.55 + 0.4 * f)),
            TestResultDraft("tegner", day, items=(pre_injury, min(pre_injury,
                                                  2 + round(5 * f)))),
            TestResultDraft("acl_rsi", day, items=items("acl_rsi", 0.35 + 0.4 * f)),
            TestResultDraft("global_rating", day, float(round(55 + 38 * f + rng.gauss(0, 2)))),
        ]
        if w >= 12:
            def lsi(base: float, f: float = f) -> float:
                return min(1.02, (base + 22 * f + rng.gauss(0, 1.5)) / 100)

            for mid, uninv, base in (("hop_single", 165.0, 72), ("hop_triple", 520.0, 74),
                                     ("hop_crossover", 470.0, 73)):
                out += [TestResultDraft(mid, day, float(round(uninv * lsi(base))), affected),
                        TestResultDraft(mid, day, uninv, other)]
            timed = 2.05
            out += [TestResultDraft("hop_6m_timed", day, round(timed / lsi(75), 2), affected),
                    TestResultDraft("hop_6m_timed", day, timed, other)]
            for mid, uninv, base in (("quad_strength", 215.0, 66),
                                     ("hamstring_strength", 125.0, 80)):
                out += [TestResultDraft(mid, day, round(uninv * lsi(base), 1), affected),
                        TestResultDraft(mid, day, uninv, other)]
            limb = 900
            reach = lsi(88)
            out += [
                TestResultDraft("y_balance", day, side=affected, items=(
                    round(620 * reach), round(1000 * reach), round(960 * reach), limb)),
                TestResultDraft("y_balance", day, side=other, items=(630, 1010, 965, limb)),
            ]
        day += timedelta(weeks=4)
    return out


def _session(rng: random.Random, p: Profile, f: float, when: datetime) -> WalkSessionDraft:
    treadmill = rng.random() < 0.6
    speed = round(max(0.15, _lerp(p.speed, f) + rng.gauss(0, 0.03)), 2)
    duration = float(round(_lerp((10, 20), f) + rng.choice((0, 0, 5))))
    pain_before = max(0, min(10, round(_lerp(p.pain, f) + rng.gauss(0, 0.7))))
    assistance = (Assistance.HANDRAIL if treadmill and f < 0.5 else
                  Assistance.SUPERVISED if f < 0.3 else Assistance.INDEPENDENT)
    return WalkSessionDraft(
        performed_at=when,
        mode=WalkMode.TREADMILL if treadmill else WalkMode.OVERGROUND,
        surface=Surface.TREADMILL_BELT if treadmill else Surface.FLAT,
        duration_min=duration,
        distance_m=round(speed * duration * 60),
        speed_m_s=speed,
        incline_pct=float(round(_lerp((0, 6), f))) if treadmill else 0.0,
        assistance=assistance,
        pain_before=pain_before,
        pain_after=max(0, min(10, pain_before + rng.choice((-1, 0, 0, 1)))),
        rpe=float(rng.choice((3, 4, 4, 5, 5, 6))),
        heart_rate=rng.randint(88, 128),
        subjective=rng.choice(("Feels steadier on stairs.", "Mild ache after work.",
                               "No giving way this week.", "Slept well, less stiffness.")),
        objective="Backward walking with even step length; no visible limp.",
        assessment="Tolerating load well." if f > 0.3 else "Early phase, guarding reduced.",
        plan="Progress speed and duration as tolerated.",
    )


def _demo_surgery_type(diagnosis: Diagnosis, number: int) -> SurgeryType | None:
    """An operation that fits the diagnosis, by the patient's number (the random sequence
    the rest of the demo draws from is left as it was)."""
    if diagnosis == Diagnosis.ACL_RECONSTRUCTION:
        grafts = (SurgeryType.ACL_HAMSTRING, SurgeryType.ACL_PATELLAR,
                  SurgeryType.ACL_QUADRICEPS, None)  # one in four not recorded
        return grafts[number // 4 % 4]  # every fourth patient has this diagnosis
    others = (SurgeryType.MENISCUS_REPAIR, SurgeryType.PARTIAL_MENISCECTOMY, SurgeryType.TKA,
              SurgeryType.MPFL)
    return others[number // 4 % 4]


def _plan_of_care(uow: UnitOfWork, episode_id: UUID, p: Profile, start: date, weeks: int,
                  rng: random.Random) -> None:
    """Goals (3MBWT and gait speed targets at the programme's end, and a functional goal)
    and the retro-walking prescription the programme started with."""
    end = start + timedelta(weeks=weeks)
    uow.plan.add_goal(episode_id, validate_goal(GoalDraft(
        "bwt_3m", round(_lerp(p.bwt, 0.9), 1), end, "walk backwards safely in the kitchen"),
        start))
    uow.plan.add_goal(episode_id, validate_goal(GoalDraft(
        "walk_10m", round(_lerp(p.gait, 0.95), 2), end), start))
    uow.plan.add_goal(episode_id, validate_goal(GoalDraft(
        text=rng.choice(("Climb the stairs at home without the rail",
                         "Walk to the shop and back without knee pain"))), start))


def _demo_prescription(uow: UnitOfWork, episode_id: UUID, last: WalkSessionDraft) -> None:
    """The prescription as the programme stands after the last clinic session."""
    uow.plan.add_prescription(episode_id, validate_prescription(PrescriptionDraft(
        Dose(last.duration_min or 10, last.speed_m_s, max(0.0, last.incline_pct or 0.0),
             last.mode, last.surface, last.assistance, False,
             "count backwards from 100 in 3s"),
        3, "Home sessions on the days between clinic visits.")))


def seed_demo(db: Database, actor: Principal, patients: int = 48, seed: int = 7,
              today: date | None = None) -> int:
    """Add ``patients`` demo patients with episodes, sessions and tests. Returns the count."""
    principal = as_principal(actor)
    require(principal, Action.WRITE_CLINICAL)
    require(principal, Action.WRITE_PATIENT)
    rng = random.Random(seed)
    today = today or date.today()
    with db.unit_of_work(principal) as uow:
        start_no = uow.patients.count(include_in_error=True)
        for i in range(patients):
            _seed_one(uow, rng, start_no + i + 1, today)
        uow.audit.record("create", "demo", detail=f"seeded {patients} demo patients")
    return patients


def _seed_one(uow: UnitOfWork, rng: random.Random, number: int, today: date) -> None:
    p = PROFILES[number % len(PROFILES)]
    sex = rng.choice((Sex.FEMALE, Sex.MALE))
    given = rng.choice(FEMALE if sex == Sex.FEMALE else MALE)
    age = rng.randint(*p.ages)
    dob = today - timedelta(days=age * 365 + rng.randint(0, 364))
    draft = PatientDraft(
        mrn=f"DEMO-{number:05d}", family_name=rng.choice(FAMILY), given_name=given,
        date_of_birth=dob, sex=sex, phone=f"+44 7700 9{rng.randint(0, 99999):05d}",
    )
    validate_patient(draft, today)
    patient = uow.patients.add(draft)
    weeks = rng.randint(*p.weeks)
    # Some patients are mid-programme, some have finished recently.
    elapsed = rng.randint(max(2, weeks // 2), weeks + 2)
    start = today - timedelta(weeks=elapsed)
    surgery = start - timedelta(days=rng.randint(7, 16)) if p.surgery else None
    head = 0.0  # how far the recovery had come when the programme started
    if p.diagnosis == Diagnosis.ACL_RECONSTRUCTION and number % 8 == 4 and surgery:
        # One ACL patient in eight came to retro-walking late: near return to sport, so the
        # readiness view has passed as well as open criteria to show. Months after surgery
        # they start well along the recovery curve, not at a fresh post-operative baseline.
        surgery = today - timedelta(weeks=41)
        head = 0.6
    affected = rng.choice((Side.LEFT, Side.RIGHT))
    ep_draft = EpisodeDraft(
        diagnosis=p.diagnosis, affected_side=affected, start_date=start, surgery_date=surgery,
        referring_doctor=rng.choice(DOCTORS),
        notes="Retro-walking programme 2-3x/week alongside strength work.",
        surgery_type=_demo_surgery_type(p.diagnosis, number) if surgery else None,
    )
    validate_episode(ep_draft, dob, today)
    episode = uow.episodes.add(patient.id, ep_draft)
    day = start
    visit = 0
    last_clinic: WalkSessionDraft | None = None
    # Every twelfth patient (DEMO-00001 first) also has a plan of care: goals, a
    # prescription, the checklist of each session and home sessions in between. A random
    # generator of its own keeps the other demo patients as they were.
    planned = number % 12 == 1
    prng = random.Random(number * 104729)
    if planned:
        _plan_of_care(uow, episode.id, p, start, weeks, prng)
    while day <= min(today - timedelta(days=1), start + timedelta(weeks=weeks)):
        f = min(1.0, head + (1 - head) * (day - start).days / (weeks * 7))
        when = datetime.combine(day, time(rng.randint(8, 17), rng.choice((0, 15, 30, 45))), UTC)
        s_draft = _session(rng, p, f, when)
        validate_walk_session(s_draft)
        session = uow.sessions.add(episode.id, s_draft)
        last_clinic = s_draft
        if planned:
            uow.plan.add_safety(session.id, SafetyDraft(
                path_clear=True, surface_checked=True, spotter_present=f < 0.4,
                suggestion="Suggested dose accepted"))
            home_day = day + timedelta(days=1)
            if home_day < today and prng.random() < 0.7:
                home = replace(s_draft, performed_at=when + timedelta(days=1, hours=2),
                               mode=WalkMode.OVERGROUND, surface=Surface.FLAT,
                               speed_m_s=None, distance_m=None, incline_pct=0.0,
                               heart_rate=None, rpe=None, objective="", assessment="",
                               plan="", subjective="Logged at home on the handout sheet.")
                validate_walk_session(home)
                logged = uow.sessions.add(episode.id, home)
                uow.plan.add_safety(logged.id, SafetyDraft(home=True))
        if visit % 4 == 0:
            for t in _visit_tests(rng, p, f, day, affected, with_prom=visit % 8 == 0):
                t = TestResultDraft(t.measure_id, t.performed_on, t.value, t.side, t.items,
                                    session.id)
                uow.tests.add(episode.id, t, score_test(t))
        visit += 1
        day += timedelta(days=rng.choice((2, 3, 4)))
    if planned and last_clinic is not None:
        _demo_prescription(uow, episode.id, last_clinic)
    if p.diagnosis == Diagnosis.ACL_RECONSTRUCTION and surgery is not None:
        last = min(today - timedelta(days=1), start + timedelta(weeks=weeks))
        for t in _acl_battery(random.Random(number * 7919), surgery, start, last, affected):
            uow.tests.add(episode.id, t, score_test(t))
