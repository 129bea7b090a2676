"""Return-to-sport readiness after ACL reconstruction, and the rehabilitation phase.

For each criterion of a criteria set the patient's latest value is compared with the
threshold on the exact value (never on the rounded one) and printed with enough decimals to
show why (:func:`clinic_app.domain.progress.format_against`). A criterion without a value is
"not measured", never "not yet".

Criteria sets:

* ``delaware_oslo`` - Grindem H, Snyder-Mackler L, Moksnes H, Engebretsen L, Risberg MA.
  Simple decision rules can reduce reinjury risk by 84% after ACL reconstruction: the
  Delaware-Oslo ACL cohort study. Br J Sports Med 2016;50:804-808. Quadriceps strength LSI,
  single, crossover, triple and 6-m timed hop LSI, KOS-ADLS and global rating of knee
  function all at least 90, and no return to level I sport before 9 months after surgery.
* ``welling_2018`` - Welling W, Benjaminse A, Seil R, Lemmink K, Zaffagnini S, Gokeler A.
  Low rates of patients meeting return to sport criteria 9 months after anterior cruciate
  ligament reconstruction. Knee Surg Sports Traumatol Arthrosc 2018;26:3636-3644.
  Isokinetic quadriceps and hamstring strength LSI and single/triple hop LSI more than 90 %,
  ACL-RSI more than 56 and an IKDC
  score within the 15th percentile of healthy people of the same age and sex (Anderson AF et
  al. Am J Sports Med 2006;34:128-135). Backstep holds no normative IKDC tables, so the IKDC
  criterion is shown with its value for the clinician to compare ("review"); the side hop and
  the Landing Error Scoring System of that battery are not recorded in Backstep.

The verdict is decision support; the treating clinician decides.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.instruments import (
    TIMED_PAIRS,
    Y_BALANCE_ANTERIOR_CUTOFF_CM,
    hq_ratio,
    pair_lsi,
    y_balance_anterior_difference,
)
from clinic_app.domain.measures import get_measure
from clinic_app.domain.progress import AclCriteria, Phase, acl_phase, format_against, format_date
from clinic_app.domain.records import Side, TestResult

_EPS = 1e-9  # float noise only (2.16 / 2.40 x 100 is 90.00000000000001)

HOP_TESTS = ("hop_single", "hop_crossover", "hop_triple", "hop_6m_timed")


class Status(StrEnum):
    PASS = "pass"
    NOT_YET = "not yet"
    NOT_MEASURED = "not measured"
    REVIEW = "review"  # a value exists but the threshold needs the clinician (e.g. norms)


class Verdict(StrEnum):
    READY = "ready"
    NOT_YET = "not_yet"
    INCOMPLETE = "incomplete"


VERDICT_TEXT = {
    Verdict.READY: "All criteria met",
    Verdict.NOT_YET: "Not yet: criteria not met",
    Verdict.INCOMPLETE: "Incomplete: criteria not measured or to review",
}


@dataclass(frozen=True)
class Criterion:
    """One readiness criterion.

    ``kind``: ``"lsi"`` (limb symmetry of ``measure_id``), ``"score"`` (the measure's own
    value), ``"time"`` (months after surgery) or ``"review"`` (value shown, threshold needs
    the clinician).
    """

    key: str
    label: str
    kind: str
    measure_id: str | None
    threshold: float | None
    strict: bool = False  # "more than" instead of "at least"
    review_note: str = ""


@dataclass(frozen=True)
class CriteriaSet:
    id: str
    name: str
    source: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class CriterionResult:
    """The state of one criterion for a patient on a day."""

    criterion: Criterion
    status: Status
    value: float | None
    value_text: str  # the value printed precisely enough to show the verdict, or "—"
    threshold_text: str
    measured_on: date | None
    detail: str = ""  # e.g. "involved 180 cm, uninvolved 200 cm"


@dataclass(frozen=True)
class Readiness:
    criteria_set: CriteriaSet
    as_of: date
    results: tuple[CriterionResult, ...]
    verdict: Verdict

    @property
    def verdict_text(self) -> str:
        return VERDICT_TEXT[self.verdict]


def _lsi(key: str, label: str, mid: str, strict: bool = False) -> Criterion:
    return Criterion(key, label, "lsi", mid, 90.0, strict)


CRITERIA_SETS: dict[str, CriteriaSet] = {
    "delaware_oslo": CriteriaSet(
        "delaware_oslo",
        "Delaware-Oslo (Grindem 2016)",
        "Grindem H et al. Br J Sports Med 2016;50:804-808.",
        (
            _lsi("quad_lsi", "Quadriceps strength LSI", "quad_strength"),
            _lsi("hop_single", "Single hop LSI", "hop_single"),
            _lsi("hop_crossover", "Crossover hop LSI", "hop_crossover"),
            _lsi("hop_triple", "Triple hop LSI", "hop_triple"),
            _lsi("hop_6m_timed", "6-m timed hop LSI", "hop_6m_timed"),
            Criterion("kos_adls", "KOS-ADLS", "score", "kos_adls", 90.0),
            Criterion("global_rating", "Global rating of knee function", "score",
                      "global_rating", 90.0),
            Criterion("time", "Time after surgery", "time", None, 9.0),
        ),
    ),
    "welling_2018": CriteriaSet(
        "welling_2018",
        "ACL-RSI and IKDC battery (Welling 2018)",
        "Welling W et al. Knee Surg Sports Traumatol Arthrosc 2018;26:3636-3644.",
        (
            _lsi("quad_lsi", "Quadriceps strength LSI", "quad_strength", strict=True),
            _lsi("hamstring_lsi", "Hamstring strength LSI", "hamstring_strength", strict=True),
            _lsi("hop_single", "Single hop LSI", "hop_single", strict=True),
            _lsi("hop_triple", "Triple hop LSI", "hop_triple", strict=True),
            Criterion("acl_rsi", "ACL-RSI", "score", "acl_rsi", 56.0, strict=True),
            Criterion("ikdc", "IKDC Subjective Knee Form", "review", "ikdc", None,
                      review_note="at least the 15th percentile of healthy people of the "
                      "same age and sex (Anderson 2006): compare"),
        ),
    ),
}
DEFAULT_CRITERIA_SET = "delaware_oslo"


def get_criteria_set(set_id: str) -> CriteriaSet:
    """The criteria set ``set_id``; unknown ids raise :class:`ValidationError`."""
    try:
        return CRITERIA_SETS[set_id]
    except (KeyError, TypeError):
        raise ValidationError("Criteria set", f"{set_id!r} is not known",
                              ", ".join(CRITERIA_SETS)) from None


@dataclass(frozen=True)
class PairValue:
    """Both legs of a paired measure on the latest day both were measured."""

    measure_id: str
    on: date
    involved: float
    uninvolved: float
    lsi: float


def _live(results: Iterable[TestResult], as_of: date) -> list[TestResult]:
    return [r for r in results
            if not r.stamp.entered_in_error and r.draft.performed_on <= as_of]


def latest_pair(
    results: Iterable[TestResult], measure_id: str, affected: Side | None, as_of: date
) -> PairValue | None:
    """The latest day on which both legs of ``measure_id`` were measured, with its LSI.

    ``None`` when only one knee is not the affected one (both knees affected or no side),
    or no day has both legs. The last stored result of a leg on that day counts.
    """
    if affected not in (Side.LEFT, Side.RIGHT):
        return None
    other = Side.RIGHT if affected == Side.LEFT else Side.LEFT
    by_day: dict[date, dict[Side, TestResult]] = {}
    for r in sorted(_live(results, as_of), key=lambda r: r.stamp.created_at):
        if r.draft.measure_id == measure_id and r.draft.side in (Side.LEFT, Side.RIGHT):
            by_day.setdefault(r.draft.performed_on, {})[Side(r.draft.side)] = r
    for day in sorted(by_day, reverse=True):
        legs = by_day[day]
        if affected in legs and other in legs:
            inv, uninv = legs[affected].value, legs[other].value
            # No strength or distance on the involved leg is a measured deficit (LSI 0 %);
            # only a zero reference, or a zero time, gives no ratio.
            if uninv <= 0 or (inv <= 0 and measure_id in TIMED_PAIRS):
                continue
            return PairValue(measure_id, day, inv, uninv, pair_lsi(measure_id, inv, uninv))
    return None


def _latest_value(results: Iterable[TestResult], measure_id: str,
                  as_of: date) -> TestResult | None:
    rows = [r for r in _live(results, as_of) if r.draft.measure_id == measure_id]
    return max(rows, key=lambda r: (r.draft.performed_on, r.stamp.created_at), default=None)


def add_months(start: date, months: int) -> date:
    """``start`` plus whole calendar months (the last day of a shorter month)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _meets(value: float, threshold: float, strict: bool) -> bool:
    return value > threshold + _EPS if strict else value >= threshold - _EPS


def _threshold_text(c: Criterion, unit: str) -> str:
    assert c.threshold is not None
    word = "more than" if c.strict else "at least"
    sfx = "" if not unit else (unit if unit == "%" else f" {unit}")
    if sfx == "%":
        sfx = " %"
    return f"{word} {c.threshold:g}{sfx}"


def _lsi_result(c: Criterion, results: Sequence[TestResult], affected: Side | None,
                as_of: date) -> CriterionResult:
    assert c.measure_id is not None and c.threshold is not None
    shown = get_measure("quad_lsi")  # an LSI in %, one decimal
    pair = latest_pair(results, c.measure_id, affected, as_of)
    value: float | None = None
    on: date | None = None
    detail = ""
    if pair is not None:
        m = get_measure(c.measure_id)
        value, on = pair.lsi, pair.on
        detail = (f"involved {m.format_value(pair.involved)}, "
                  f"uninvolved {m.format_value(pair.uninvolved)}")
    if c.key == "quad_lsi":  # an LSI typed directly counts when it is newer
        typed = _latest_value(results, "quad_lsi", as_of)
        if typed is not None and (on is None or typed.draft.performed_on > on):
            value, on, detail = typed.value, typed.draft.performed_on, "entered as LSI"
    threshold = _threshold_text(c, "%")
    if value is None:
        why = ("both knees affected: no uninvolved leg to compare"
               if affected not in (Side.LEFT, Side.RIGHT) else "both legs not measured")
        return CriterionResult(c, Status.NOT_MEASURED, None, "—", threshold, None, why)
    status = Status.PASS if _meets(value, c.threshold, c.strict) else Status.NOT_YET
    text = format_against(shown, value, c.threshold)
    return CriterionResult(c, status, value, text, threshold, on, detail)


def _score_result(c: Criterion, results: Sequence[TestResult],
                  as_of: date) -> CriterionResult:
    assert c.measure_id is not None
    m = get_measure(c.measure_id)
    row = _latest_value(results, c.measure_id, as_of)
    threshold = c.review_note if c.kind == "review" else _threshold_text(c, m.unit)
    if row is None:
        return CriterionResult(c, Status.NOT_MEASURED, None, "—", threshold, None)
    if c.threshold is None:
        return CriterionResult(c, Status.REVIEW, row.value, m.format_value(row.value),
                               threshold, row.draft.performed_on)
    status = Status.PASS if _meets(row.value, c.threshold, c.strict) else Status.NOT_YET
    return CriterionResult(c, status, row.value, format_against(m, row.value, c.threshold),
                           threshold, row.draft.performed_on)


def _time_result(c: Criterion, surgery: date | None, as_of: date) -> CriterionResult:
    assert c.threshold is not None
    months = int(c.threshold)
    if surgery is None:
        return CriterionResult(c, Status.NOT_MEASURED, None, "—",
                               f"at least {months} months after surgery", None,
                               "no surgery date on the episode")
    earliest = add_months(surgery, months)
    weeks = (as_of - surgery).days / 7.0
    status = Status.PASS if as_of >= earliest else Status.NOT_YET
    return CriterionResult(
        c, status, weeks, f"{weeks:.1f} weeks",
        f"at least {months} months after surgery (from {format_date(earliest)})", as_of,
        f"surgery {format_date(surgery)}",
    )


def assess_readiness(
    results: Iterable[TestResult],
    *,
    criteria_set: str = DEFAULT_CRITERIA_SET,
    affected: Side | None,
    surgery_date: date | None,
    as_of: date,
) -> Readiness:
    """Every criterion of ``criteria_set`` with the latest value up to ``as_of``."""
    cs = get_criteria_set(criteria_set)
    rows = list(results)
    out: list[CriterionResult] = []
    for c in cs.criteria:
        if c.kind == "lsi":
            out.append(_lsi_result(c, rows, affected, as_of))
        elif c.kind == "time":
            out.append(_time_result(c, surgery_date, as_of))
        else:
            out.append(_score_result(c, rows, as_of))
    if any(r.status == Status.NOT_YET for r in out):
        verdict = Verdict.NOT_YET
    elif all(r.status == Status.PASS for r in out):
        verdict = Verdict.READY
    else:
        verdict = Verdict.INCOMPLETE
    return Readiness(cs, as_of, tuple(out), verdict)


# --- rehabilitation phase ----------------------------------------------------------------

_OBSERVATIONS = {"effusion": "effusion trace or less", "quad_lag": "no quadriceps lag",
                 "gait": "normal gait"}


@dataclass(frozen=True)
class PhaseView:
    """The phase allowed by time alone and the phase reached by time and criteria.

    ``to_confirm``: clinical observations Backstep does not record (effusion, quadriceps
    lag, gait); the phase by criteria assumes them, and they are listed for the clinician
    to confirm on examination.
    """

    weeks: float
    by_time: Phase
    by_criteria: Phase
    next_needs: tuple[str, ...]  # what the next phase (after ``by_criteria``) still needs
    to_confirm: tuple[str, ...] = ()


def rehab_phase(
    results: Iterable[TestResult],
    *,
    affected: Side | None,
    surgery_date: date,
    as_of: date,
) -> PhaseView:
    """The ACL rehabilitation phase by weeks since surgery AND by the recorded criteria.

    Criteria come from the stored results: full extension (the affected knee's latest
    extension 0° or more), quadriceps LSI and the lowest hop LSI measured (or a hop LSI
    typed directly, when it is newer than every hop pair). Effusion,
    quadriceps lag and gait are not recorded in Backstep: the phase assumes them and
    ``to_confirm`` names them, so a phase is never held back, or granted, silently.
    """
    rows = list(results)
    weeks = (as_of - surgery_date).days / 7.0
    ext_side = affected if affected in (Side.LEFT, Side.RIGHT) else None
    ext = [r for r in _live(rows, as_of) if r.draft.measure_id == "knee_extension_rom"
           and (ext_side is None or r.draft.side == ext_side)]
    latest_ext = max(ext, key=lambda r: (r.draft.performed_on, r.stamp.created_at), default=None)
    quad = _lsi_result(CRITERIA_SETS["delaware_oslo"].criteria[0], rows, affected, as_of)
    pairs = [p for mid in HOP_TESTS if (p := latest_pair(rows, mid, affected, as_of))]
    hops = [p.lsi for p in pairs]
    typed_hop = _latest_value(rows, "hop_lsi", as_of)  # a hop LSI typed directly
    if typed_hop is not None and all(typed_hop.draft.performed_on > p.on for p in pairs):
        hops = [typed_hop.value]
    crit = AclCriteria(
        full_extension=latest_ext is not None and latest_ext.value >= 0,
        effusion_trace_or_less=True,
        no_quad_lag=True,
        normal_gait=True,
        quad_lsi=None if quad.value is None else min(max(quad.value, 0.0), 200.0),
        hop_lsi=min(hops) if hops else None,
    )
    full = AclCriteria(True, True, True, True, 100.0, 100.0)
    by_time = acl_phase(weeks, full)
    by_criteria = acl_phase(weeks, crit)
    confirm = tuple(_OBSERVATIONS.values()) if by_criteria.number >= 1 and weeks >= 2 else ()
    ext_now = ("not measured" if latest_ext is None else
               f"latest {latest_ext.value:g}° on {format_date(latest_ext.draft.performed_on)}")
    needs = tuple(f"{n} ({ext_now})" if n == "full knee extension" else n
                  for n in by_criteria.unmet_for_next)
    return PhaseView(weeks, by_time, by_criteria, needs, confirm)


def phase_line(view: PhaseView) -> str:
    """One line for the episode header and the report, e.g.
    ``"Phase 1 by criteria · Phase 4 by time (40.1 weeks)"``."""
    crit, by_time = view.by_criteria, view.by_time
    text = f"{_phase_name(crit)} by criteria"
    if by_time.id != crit.id:
        text += f" · {_phase_name(by_time)} by time"
    return f"{text} ({view.weeks:.1f} weeks after surgery)"


def _phase_name(p: Phase) -> str:
    return "Pre-operative" if p.number == 0 else f"Phase {p.number}"


def next_phase_text(view: PhaseView) -> str:
    """What the next phase needs, as a sentence ("" in the last phase)."""
    parts = []
    if view.by_criteria.next_phase is None:
        parts.append("Last phase reached.")
    elif view.next_needs:
        parts.append(f"Phase {view.by_criteria.number + 1} needs: "
                     + "; ".join(view.next_needs) + ".")
    if view.to_confirm:
        parts.append("Confirm on examination: " + "; ".join(view.to_confirm) + ".")
    return " ".join(parts)


# --- an episode's whole view -------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeReadiness:
    """Readiness and phase of one ACL episode on a day (``phase`` needs a surgery date)."""

    readiness: Readiness
    phase: PhaseView | None
    pairs: tuple[str, ...] = ()  # Y-Balance and H:Q ratio sentences (pair_findings)


def is_acl_episode(diagnosis: str) -> bool:
    """True for ACL-reconstruction episodes, the ones readiness and phases apply to."""
    return str(diagnosis) == "acl_reconstruction"


def episode_readiness(
    results: Iterable[TestResult],
    *,
    affected: Side | None,
    surgery_date: date | None,
    as_of: date,
    criteria_set: str = DEFAULT_CRITERIA_SET,
) -> EpisodeReadiness:
    """:func:`assess_readiness` and :func:`rehab_phase` over the same results."""
    rows = list(results)
    readiness = assess_readiness(rows, criteria_set=criteria_set, affected=affected,
                                 surgery_date=surgery_date, as_of=as_of)
    phase = None
    if surgery_date is not None:
        phase = rehab_phase(rows, affected=affected, surgery_date=surgery_date, as_of=as_of)
    return EpisodeReadiness(readiness, phase, pair_findings(rows, affected=affected, as_of=as_of))


# --- clinic-wide choices -----------------------------------------------------------------

SETTING_CRITERIA_SET = "rts_criteria_set"
SETTING_BWT_FLAG = "bwt_fall_risk_flag"


@dataclass(frozen=True)
class ClinicalSettings:
    """Clinic-wide clinical choices shared by every workstation.

    ``bwt_fall_flag``: whether the 3MBWT fall-risk cut-off (derived in community-dwelling
    older adults, Carter et al. 2019) is applied to this clinic's patients; a sports clinic
    whose patients are young adults may switch it off. ``versions`` are the stored versions
    read (0 = never set), for conflict detection.
    """

    criteria_set: str = DEFAULT_CRITERIA_SET
    bwt_fall_flag: bool = True
    versions: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        get_criteria_set(self.criteria_set)


# --- further limb-pair findings ----------------------------------------------------------


def _latest_items_pair(results: Iterable[TestResult], measure_id: str, affected: Side,
                       as_of: date) -> tuple[date, TestResult, TestResult] | None:
    other = Side.RIGHT if affected == Side.LEFT else Side.LEFT
    by_day: dict[date, dict[Side, TestResult]] = {}
    for r in sorted(_live(results, as_of), key=lambda r: r.stamp.created_at):
        if r.draft.measure_id == measure_id and r.draft.side in (Side.LEFT, Side.RIGHT):
            by_day.setdefault(r.draft.performed_on, {})[Side(r.draft.side)] = r
    for day in sorted(by_day, reverse=True):
        legs = by_day[day]
        if affected in legs and other in legs:
            return day, legs[affected], legs[other]
    return None


def pair_findings(results: Iterable[TestResult], *, affected: Side | None,
                  as_of: date) -> tuple[str, ...]:
    """Sentences on the Tegner level now and before the injury, the Y-Balance (composite
    per leg, anterior difference) and the hamstring:quadriceps ratio per leg, from the
    latest day both legs were measured.

    The anterior difference of 4 cm or more is named as associated with injury (Plisky et
    al. 2006, high-school basketball players); the H:Q ratio is reported, not judged.
    """
    rows = list(results)
    out: list[str] = []
    tegner = _latest_value(rows, "tegner", as_of)
    if tegner is not None and tegner.draft.items and tegner.draft.items[0] is not None:
        out.append(f"Tegner activity level on {format_date(tegner.draft.performed_on)}: "
                   f"{tegner.value:g} now, {tegner.draft.items[0]} before the injury.")
    if affected not in (Side.LEFT, Side.RIGHT):
        return tuple(out)
    yb = _latest_items_pair(rows, "y_balance", affected, as_of)
    if yb is not None:
        day, inv, uninv = yb
        text = (f"Y-Balance on {format_date(day)}: composite {inv.value:.1f} % involved, "
                f"{uninv.value:.1f} % uninvolved")
        diff = (y_balance_anterior_difference(inv.draft.items or (), uninv.draft.items or ())
                if inv.draft.items and uninv.draft.items else None)
        if diff is not None:
            flag = diff >= Y_BALANCE_ANTERIOR_CUTOFF_CM - _EPS
            text += (f"; anterior reach difference {diff:.1f} cm"
                     + (" (4 cm or more: associated with injury, Plisky 2006)" if flag
                        else " (under 4 cm)"))
        out.append(text + ".")
    q = latest_pair(rows, "quad_strength", affected, as_of)
    h = latest_pair(rows, "hamstring_strength", affected, as_of)
    if q is not None and h is not None and q.on == h.on:
        out.append(f"Hamstring:quadriceps ratio on {format_date(q.on)}: "
                   f"{hq_ratio(h.involved, q.involved):.2f} involved, "
                   f"{hq_ratio(h.uninvolved, q.uninvolved):.2f} uninvolved (reported, "
                   "not judged: it depends on speed and contraction type).")
    return tuple(out)
