"""Return-to-sport readiness: every criterion decided on the exact value, printed to show why;
the phase by weeks and by criteria."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.progress import PhaseId
from clinic_app.domain.readiness import (
    CRITERIA_SETS,
    Status,
    Verdict,
    add_months,
    assess_readiness,
    latest_pair,
    next_phase_text,
    phase_line,
    rehab_phase,
)
from clinic_app.domain.records import Side, Stamp, TestResult, TestResultDraft

SURGERY = date(2025, 6, 2)
TODAY = date(2026, 3, 10)  # 9 months + 8 days
EP = uuid4()


def result(mid: str, value: float, on: date = TODAY, side: Side | None = None,
           error: bool = False, seq: int = 0) -> TestResult:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq)
    stamp = Stamp(at, "t", at, "t", 1, entered_in_error=error)
    return TestResult(uuid4(), EP, TestResultDraft(mid, on, value=value, side=side), value, stamp)


def pair(mid: str, involved: float, uninvolved: float, on: date = TODAY) -> list[TestResult]:
    return [result(mid, involved, on, Side.LEFT), result(mid, uninvolved, on, Side.RIGHT)]


def full_battery(**override: float) -> list[TestResult]:
    values = {"quad_strength": (190.0, 200.0), "hop_single": (180.0, 190.0),
              "hop_crossover": (500.0, 520.0), "hop_triple": (540.0, 560.0),
              "hop_6m_timed": (2.2, 2.1)}
    rows: list[TestResult] = []
    for mid, (inv, uninv) in values.items():
        rows += pair(mid, inv, uninv)
    rows += [result("kos_adls", override.get("kos_adls", 95.7)),
             result("global_rating", override.get("global_rating", 92.0))]
    return rows


def assess(rows: list[TestResult], set_id: str = "delaware_oslo", as_of: date = TODAY,
           affected: Side | None = Side.LEFT) -> dict[str, object]:
    r = assess_readiness(rows, criteria_set=set_id, affected=affected, surgery_date=SURGERY,
                         as_of=as_of)
    return {"verdict": r.verdict, **{c.criterion.key: c for c in r.results}}


def test_delaware_oslo_all_met() -> None:
    out = assess(full_battery())
    assert out["verdict"] == Verdict.READY
    timed = out["hop_6m_timed"]
    assert timed.status == Status.PASS and timed.value == pytest.approx(2.1 / 2.2 * 100)
    assert timed.value_text == "95.5 %" and timed.measured_on == TODAY
    assert "involved 2.20 s" in timed.detail
    assert len(CRITERIA_SETS["delaware_oslo"].criteria) == 8


def test_not_before_nine_months() -> None:
    early = TODAY - timedelta(days=9)
    rows = [r for r in full_battery()]
    out = assess(rows, as_of=early)
    assert out["time"].status == Status.NOT_YET and out["verdict"] == Verdict.NOT_YET
    assert "from 2 Mar 2026" in out["time"].threshold_text
    assert add_months(date(2025, 5, 31), 9) == date(2026, 2, 28)


def test_a_value_printed_as_the_threshold_is_never_called_not_yet() -> None:
    out = assess(full_battery(kos_adls=89.96))
    kos = out["kos_adls"]
    assert kos.status == Status.NOT_YET and kos.value_text == "89.96 %"
    out = assess(full_battery(kos_adls=90.0))
    assert out["kos_adls"].status == Status.PASS and out["kos_adls"].value_text == "90.0 %"
    # 2.16 / 2.40 x 100 is 90.00000000000001 in floating point: exactly the threshold
    rows = [r for r in full_battery() if r.draft.measure_id != "hop_6m_timed"]
    out = assess(rows + pair("hop_6m_timed", 2.40, 2.16))
    assert out["hop_6m_timed"].status == Status.PASS and out["hop_6m_timed"].value_text == "90.0 %"
    rows = [r for r in full_battery() if r.draft.measure_id != "hop_single"]
    out = assess(rows + pair("hop_single", 179.9, 200.0))
    assert out["hop_single"].value_text == "89.95 %"
    assert out["hop_single"].status == Status.NOT_YET


def test_missing_and_one_legged_results_are_not_measured() -> None:
    rows = [r for r in full_battery() if r.draft.measure_id != "hop_triple"]
    rows.append(result("hop_triple", 500.0, side=Side.LEFT))  # the other leg not measured
    out = assess(rows)
    assert out["hop_triple"].status == Status.NOT_MEASURED and out["hop_triple"].value is None
    assert out["verdict"] == Verdict.INCOMPLETE
    both = assess(full_battery(), affected=Side.BILATERAL)
    assert both["quad_lsi"].status == Status.NOT_MEASURED
    assert "both knees affected" in both["quad_lsi"].detail


def test_latest_pair_skips_entered_in_error_and_later_single_legs() -> None:
    old = pair("hop_single", 150.0, 200.0, on=TODAY - timedelta(days=30))
    newer = [result("hop_single", 190.0, TODAY, Side.LEFT),
             result("hop_single", 195.0, TODAY, Side.RIGHT, error=True)]
    p = latest_pair(old + newer, "hop_single", Side.LEFT, TODAY)
    assert p is not None and p.on == TODAY - timedelta(days=30) and p.lsi == 75.0


def test_welling_set_uses_acl_rsi_strictly_and_shows_ikdc_for_review() -> None:
    rows = full_battery() + [result("acl_rsi", 56.0), result("ikdc", 87.4)]
    out = assess(rows, "welling_2018")
    assert out["acl_rsi"].status == Status.NOT_YET  # more than 56 is required
    assert out["acl_rsi"].threshold_text == "more than 56 points"
    assert out["ikdc"].status == Status.REVIEW and out["ikdc"].value_text == "87.4 points"
    assert out["verdict"] == Verdict.NOT_YET
    with pytest.raises(ValidationError, match="Criteria set"):
        assess(rows, "nope")


def test_phase_by_time_and_by_criteria() -> None:
    rows = pair("quad_strength", 150.0, 200.0, on=TODAY) + [
        result("knee_extension_rom", -3.0, TODAY, Side.LEFT)]
    view = rehab_phase(rows, affected=Side.LEFT, surgery_date=SURGERY, as_of=TODAY)
    assert view.by_time.id == PhaseId.RETURN_TO_SPORT
    assert view.by_criteria.id == PhaseId.EARLY  # extension deficit of 3°
    assert "full knee extension (latest -3° on 10 Mar 2026)" in view.next_needs
    assert "effusion trace or less" in view.to_confirm  # not recorded: named, not assumed away
    rows.append(result("knee_extension_rom", 0.0, TODAY, Side.LEFT, seq=1))
    view = rehab_phase(rows, affected=Side.LEFT, surgery_date=SURGERY, as_of=TODAY)
    assert view.by_criteria.id == PhaseId.STRENGTH  # quad LSI 75 % < 80 % for running
    assert any("quadriceps LSI 75 %" in n for n in view.next_needs)
    assert phase_line(view) == "Phase 2 by criteria · Phase 4 by time (40.1 weeks after surgery)"
    text = next_phase_text(view)
    assert text.startswith("Phase 3 needs: quadriceps LSI 75 %")
    assert "Confirm on examination: effusion trace or less" in text


def test_the_clinic_can_switch_off_the_older_adult_3mbwt_bands() -> None:
    from clinic_app.domain.measures import clinic_measure, get_measure
    from clinic_app.domain.progress import MeasureSeries, Point, episode_findings

    assert clinic_measure("bwt_3m") is get_measure("bwt_3m")
    off = clinic_measure("bwt_3m", bwt_fall_flag=False)
    assert off.bands == () and "not applied" in off.source
    assert clinic_measure("tug", bwt_fall_flag=False).bands  # only the 3MBWT's population
    pts = (Point(TODAY, 5.2),)
    flagged = episode_findings([MeasureSeries("bwt_3m", pts)])
    assert flagged.flags == ("3MBWT above the fall-risk cut-off (older adults)",)
    assert episode_findings([MeasureSeries("bwt_3m", pts, measure=off)]).flags == ()


def test_y_balance_and_hq_ratio_sentences() -> None:
    from clinic_app.domain.readiness import pair_findings

    def yb(side: Side, items: tuple[int, ...], seq: int) -> TestResult:
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq)
        d = TestResultDraft("y_balance", TODAY, side=side, items=items)
        value = (items[0] + items[1] + items[2]) / (3 * items[3]) * 100
        return TestResult(uuid4(), EP, d, value, Stamp(at, "t", at, "t", 1))

    rows = [yb(Side.LEFT, (600, 1000, 950, 900), 1), yb(Side.RIGHT, (640, 1000, 950, 900), 2),
            *pair("quad_strength", 150.0, 200.0), *pair("hamstring_strength", 96.0, 110.0)]
    text = pair_findings(rows, affected=Side.LEFT, as_of=TODAY)
    assert text[0] == ("Y-Balance on 10 Mar 2026: composite 94.4 % involved, 95.9 % uninvolved; "
                       "anterior reach difference 4.0 cm (4 cm or more: associated with injury, "
                       "Plisky 2006).")
    assert text[1].startswith("Hamstring:quadriceps ratio on 10 Mar 2026: 0.64 involved, "
                              "0.55 uninvolved")
    assert pair_findings(rows, affected=Side.BILATERAL, as_of=TODAY) == ()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    tegner = TestResult(uuid4(), EP, TestResultDraft("tegner", TODAY, items=(9, 5)), 5.0,
                        Stamp(at, "t", at, "t", 1))
    assert pair_findings([tegner], affected=Side.BILATERAL, as_of=TODAY) == (
        "Tegner activity level on 10 Mar 2026: 5 now, 9 before the injury.",)


@given(st.floats(min_value=50, max_value=110, allow_nan=False),
       st.floats(min_value=50, max_value=300, allow_nan=False))
def test_the_printed_value_never_contradicts_the_status(kos: float, uninvolved: float) -> None:
    """KOS-ADLS and an LSI from two legs: the text agrees with pass / not yet."""
    kos = min(kos, 100.0)
    involved = uninvolved * 0.9 + (kos - 90.0) / 10.0  # LSIs close to the 90 % threshold
    rows = [result("kos_adls", kos), *pair("hop_single", max(involved, 1.0), uninvolved)]
    out = assess(rows)
    for key in ("kos_adls", "hop_single"):
        res = out[key]
        printed = float(res.value_text.split(" ")[0])
        assert (printed >= 90.0) == (res.status == Status.PASS), (res.value, res.value_text)


def test_a_typed_hop_lsi_counts_for_the_phase_when_it_is_newest() -> None:
    base = [*pair("quad_strength", 190.0, 200.0), result("knee_extension_rom", 0.0, TODAY,
                                                         Side.LEFT)]
    early = TODAY - timedelta(days=20)
    rows = base + pair("hop_single", 150.0, 200.0, on=early)  # 75 %
    view = rehab_phase(rows, affected=Side.LEFT, surgery_date=SURGERY, as_of=TODAY)
    assert view.by_criteria.id == PhaseId.RUNNING
    assert any("hop LSI 75 %" in n for n in view.next_needs)
    view = rehab_phase(rows + [result("hop_lsi", 93.0)], affected=Side.LEFT,
                       surgery_date=SURGERY, as_of=TODAY)
    assert view.by_criteria.id == PhaseId.RETURN_TO_SPORT


def test_welling_battery_includes_hamstring_strength_symmetry() -> None:
    """Welling W et al. 2018 (Knee Surg Sports Traumatol Arthrosc, Low rates of patients
    meeting return to sport criteria 9 months after ACL reconstruction): isokinetic quadriceps
    AND hamstring strength LSI more than 90 %, like the single and triple hop."""
    keys = [c.key for c in CRITERIA_SETS["welling_2018"].criteria]
    assert "hamstring_lsi" in keys
    rows = full_battery() + pair("hamstring_strength", 90.0, 100.0) + [
        result("acl_rsi", 70.0), result("ikdc", 87.4)]
    out = assess(rows, "welling_2018")
    ham = out["hamstring_lsi"]
    assert ham.status == Status.NOT_YET and ham.value == pytest.approx(90.0)  # not above 90
    assert ham.threshold_text == "more than 90 %"
    better = assess(full_battery() + pair("hamstring_strength", 95.0, 100.0), "welling_2018")
    assert better["hamstring_lsi"].status == Status.PASS
    assert "hamstring_lsi" not in assess(full_battery())  # not a Delaware-Oslo criterion


def test_an_involved_leg_with_no_strength_is_a_deficit_not_a_gap() -> None:
    """0 N·m on the involved leg is a measured LSI of 0 %, "not yet", never "not measured"."""
    rows = [r for r in full_battery() if r.draft.measure_id != "quad_strength"]
    out = assess(rows + pair("quad_strength", 0.0, 200.0))
    assert out["quad_lsi"].status == Status.NOT_YET and out["quad_lsi"].value == 0.0
    assert out["verdict"] == Verdict.NOT_YET
