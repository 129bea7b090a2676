"""Every scored instrument against its published scoring rules, through ``score_test`` (the
path every form, import and service takes): worked examples, all-minimum and all-maximum
forms, the exact missing-item limit and one item beyond it (refused with a message naming
the rule, never a number), and an out-of-range item (the message names the item and its
allowed answers).

Sources (examples computed by hand with each guide's own formula where the guide prints
none):

* KOOS - Roos EM, Lohmander LS 2003, Health Qual Life Outcomes, "The Knee injury and
  Osteoarthritis Outcome Score (KOOS): from joint injury to osteoarthritis"; "KOOS Scoring
  2012" (koos.nu): at least half of a subscale's items (Pain 5, Symptoms 4, ADL 9,
  Sport/Rec 3, QoL 2).
* LEFS - Binkley JM et al. 1999, Phys Ther, "The Lower Extremity Functional Scale (LEFS):
  scale development, measurement properties, and clinical application".
* IKDC - IKDC Subjective Knee Evaluation Form 2000 and its scoring instructions; Irrgang JJ
  et al. 2001, Am J Sports Med, "Development and validation of the International Knee
  Documentation Committee subjective knee form".
* KOS-ADLS - Irrgang JJ et al. 1998, J Bone Joint Surg Am, "Development of a
  patient-reported measure of function of the knee".
* Lysholm - Tegner Y, Lysholm J 1985, Clin Orthop, "Rating systems in the evaluation of knee
  ligament injuries".
* Kujala - Kujala UM et al. 1993, Arthroscopy, "Scoring of patellofemoral disorders".
* ACL-RSI - Webster KE, Feller JA, Lambros C 2008, Phys Ther Sport, "Development and
  preliminary validation of a scale to measure the psychological impact of returning to
  sport following anterior cruciate ligament reconstruction surgery".
* Hop tests - Noyes FR, Barber SD, Mangine RE 1991, Am J Sports Med, "Abnormal lower limb
  symmetry determined by function hop tests after anterior cruciate ligament rupture".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.instruments import INSTRUMENTS, pair_lsi
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.records import Side, TestResultDraft
from clinic_app.domain.scoring import KOOS_SUBSCALES, koos4, koos4_by_day, score_test

DAY = date(2026, 3, 3)


def score(mid: str, items: Sequence[int | None]) -> float:
    return score_test(TestResultDraft(mid, DAY, items=tuple(items)))


def lowest(mid: str) -> list[int]:
    return [min(s.allowed) for s in INSTRUMENTS[mid].items]


def highest(mid: str) -> list[int]:
    return [max(s.allowed) for s in INSTRUMENTS[mid].items]


# --- KOOS --------------------------------------------------------------------------------


KOOS_NEEDED = {"koos_pain": 5, "koos_symptoms": 4, "koos_adl": 9, "koos_sport_rec": 3,
               "koos_qol": 2}


@pytest.mark.parametrize("mid", list(KOOS_SUBSCALES))
def test_koos_extremes_and_the_2012_missing_item_limit(mid: str) -> None:
    n, need = KOOS_SUBSCALES[mid], KOOS_NEEDED[mid]
    assert score(mid, [0] * n) == 100.0  # 0 = none: no problems
    assert score(mid, [4] * n) == 0.0  # 4 = extreme
    # At the limit the mean of the answered items stands for the missing ones:
    # answers 1 and 3 alternating, the rest blank.
    at_limit = [(1, 3)[i % 2] for i in range(need)] + [None] * (n - need)
    mean = sum(a for a in at_limit if a is not None) / need
    assert score(mid, at_limit) == pytest.approx(100.0 - mean * 25.0)
    beyond = at_limit[: need - 1] + [None] * (n - need + 1)
    with pytest.raises(ValidationError, match=rf"too many unanswered items "
                       rf"\({n - need + 1} missing\).*at least {need} of {n} items"):
        score(mid, beyond)


def test_koos_sport_rec_worked_example() -> None:
    """Sport/Rec answers 2, 3, blank, 1, 2: mean 8 / 4 = 2, score 100 - 2 x 25 = 50."""
    assert score("koos_sport_rec", (2, 3, None, 1, 2)) == 50.0


def test_koos_out_of_range_item_names_the_item_and_range() -> None:
    with pytest.raises(ValidationError,
                       match=r"KOOS Pain item 4: 5 is out of range \(allowed: whole numbers "
                       r"0-4, or blank if unanswered\)"):
        score("koos_pain", (1, 1, 1, 5, 1, 1, 1, 1, 1))


def test_koos4_is_the_mean_of_four_subscales_without_adl() -> None:
    """Frobell RB et al. 2010 (N Engl J Med, A randomized trial of treatment for acute
    anterior cruciate ligament tears): KOOS4 = mean of Pain, Symptoms, Sport/Rec and QoL."""
    scores = {"koos_pain": 66.7, "koos_symptoms": 71.4, "koos_sport_rec": 50.0,
              "koos_qol": 37.5, "koos_adl": 0.0}
    assert koos4(scores) == pytest.approx((66.7 + 71.4 + 50.0 + 37.5) / 4)  # 56.4, ADL aside
    assert koos4({**scores, "koos_qol": None}) is None  # a subscale not scored: no KOOS4
    del scores["koos_sport_rec"]
    assert koos4(scores) is None
    with pytest.raises(ValidationError, match=r"KOOS Pain: 101 is out of range"):
        koos4({"koos_pain": 101.0, "koos_symptoms": 0.0, "koos_sport_rec": 0.0,
               "koos_qol": 0.0})
    d1, d2 = DAY, date(2026, 4, 7)
    rows = [("koos_pain", d1, 50.0), ("koos_symptoms", d1, 60.0), ("koos_sport_rec", d1, 20.0),
            ("koos_qol", d1, 30.0), ("koos_pain", d2, 80.0), ("koos_qol", d2, 70.0),
            ("tug", d2, 9.0)]
    assert koos4_by_day(rows) == [(d1, 40.0)]  # the second day lacks two subscales


# --- LEFS --------------------------------------------------------------------------------


def test_lefs_extremes_and_no_missing_items() -> None:
    assert score("lefs", [0] * 20) == 0.0  # 0 = extreme difficulty or unable
    assert score("lefs", [4] * 20) == 80.0  # 4 = no difficulty
    # Binkley et al. give no rule for missing items: one blank item is not scored.
    with pytest.raises(ValidationError, match=r"1 missing.*all 20 items answered"):
        score("lefs", [4] * 19 + [None])
    with pytest.raises(ValidationError, match=r"item 7: 9 is out of range.*0-4"):
        score("lefs", [4] * 6 + [9] + [4] * 13)


# --- IKDC --------------------------------------------------------------------------------

# Items 1, 2, 3, 4, 5, 6, 7, 8, 9a-9i, 10b as the patient marks them on the form: items 2 and
# 3 are marked 0 (never / no pain) to 10 (constant / worst pain) and reversed when scored.
IKDC_ALL_60 = (3, 3, 4, 3, 3, 1, 3, 3, 3, 3, 2, 2, 3, 2, 2, 2, 2, 10)


def test_ikdc_scoring_instructions_example_sum_60_of_87() -> None:
    """The instructions' example: item scores summing to 60 over all 18 items score
    60 / 87 x 100 = 69.0 (items 2 and 3 marked 3 and 4 count 7 and 6)."""
    value = score("ikdc", IKDC_ALL_60)
    assert value == pytest.approx(60 / 87 * 100) and f"{value:.1f}" == "69.0"


def test_ikdc_extremes_and_direction_of_items_2_and_3() -> None:
    best = (4, 0, 0, 4, 4, 1, 4, 4, *(4,) * 9, 10)
    worst = (0, 10, 10, 0, 0, 0, 0, 0, *(0,) * 9, 0)
    assert score("ikdc", best) == 100.0 and score("ikdc", worst) == 0.0
    more_pain = (4, 10, 10, 4, 4, 1, 4, 4, *(4,) * 9, 10)  # constant, worst imaginable pain
    assert score("ikdc", more_pain) == pytest.approx(67 / 87 * 100)


def test_ikdc_missing_items_use_the_maximum_of_the_answered_ones() -> None:
    """16 of 18 answered (items 2 and 10b blank): (60 - 7 - 10) / (87 - 10 - 10) x 100."""
    two_blank = list(IKDC_ALL_60)
    two_blank[1] = None
    two_blank[17] = None
    assert score("ikdc", two_blank) == pytest.approx(43 / 67 * 100)
    three_blank = [None, *two_blank[1:]]
    with pytest.raises(ValidationError,
                       match=r"IKDC.*too many unanswered items \(3 missing\).*at least 16 of 18"):
        score("ikdc", three_blank)


def test_ikdc_out_of_range_item_names_the_item_and_range() -> None:
    bad = list(IKDC_ALL_60)
    bad[1] = 11
    with pytest.raises(ValidationError,
                       match=r"item 2 \(2 pain frequency\): 11 is not an allowed answer "
                       r"\(allowed: 0-10, or blank if unanswered\)"):
        score("ikdc", bad)
    bad = list(IKDC_ALL_60)
    bad[5] = 2  # locking: no = 1, yes = 0
    with pytest.raises(ValidationError, match=r"item 6 .*allowed: 0-1"):
        score("ikdc", bad)


# --- KOS-ADLS, Lysholm, Kujala, ACL-RSI, Tegner ------------------------------------------


@pytest.mark.parametrize(("mid", "maximum"), [
    ("kos_adls", 100.0), ("lysholm", 100.0), ("kujala", 100.0), ("acl_rsi", 100.0),
])
def test_summed_forms_extremes_and_no_missing_items(mid: str, maximum: float) -> None:
    assert score(mid, lowest(mid)) == 0.0
    assert score(mid, highest(mid)) == maximum
    n = len(INSTRUMENTS[mid].items)
    # None of these guides gives a missing-item rule: one blank item is not scored.
    with pytest.raises(ValidationError, match=rf"\(1 missing\).*all {n} items answered"):
        score(mid, [*highest(mid)[:-1], None])


def test_kos_adls_worked_example() -> None:
    """Symptoms 4 5 3 4 3 0 (19) and functions 3 3 4 2 4 3 3 5 (27): 46 / 70 x 100 = 65.7 %."""
    value = score("kos_adls", (4, 5, 3, 4, 3, 0, 3, 3, 4, 2, 4, 3, 3, 5))
    assert f"{value:.1f}" == "65.7"
    with pytest.raises(ValidationError, match=r"item 14 \(14 rise from chair\).*0-5"):
        score("kos_adls", (4, 5, 3, 4, 3, 0, 3, 3, 4, 2, 4, 3, 3, 6))


def test_lysholm_worked_example_and_points_on_the_form() -> None:
    """Limp 5, support 5, locking 10, instability 20, pain 20, swelling 6, stairs 6,
    squatting 4: 76 points, "fair" (65-83)."""
    assert score("lysholm", (5, 5, 10, 20, 20, 6, 6, 4)) == 76.0
    with pytest.raises(ValidationError, match=r"item 3 \(3 locking\): 5 is not an allowed "
                       r"answer \(allowed: 0, 2, 6, 10, 15"):
        score("lysholm", (5, 5, 5, 20, 20, 6, 6, 4))


def test_kujala_worked_example_and_points_on_the_form() -> None:
    """Limp 3, support 5, walking 3, stairs 8, squatting 3, running 6, jumping 7, sitting 4,
    pain 8, swelling 8, patellar movements 10, atrophy 5, flexion 5: 75 of 100."""
    form = (3, 5, 3, 8, 3, 6, 7, 4, 8, 8, 10, 5, 5)
    assert score("kujala", form) == 75.0
    assert [max(s.allowed) for s in INSTRUMENTS["kujala"].items] == [
        5, 5, 5, 10, 5, 10, 10, 10, 10, 10, 10, 5, 5]
    assert MEASURES["kujala"].higher_is_better
    with pytest.raises(ValidationError, match=r"Kujala.*item 4 \(4 stairs\): 7 is not an "
                       r"allowed answer \(allowed: 0, 5, 8, 10, or blank if unanswered\)"):
        score("kujala", (3, 5, 3, 7, 3, 6, 7, 4, 8, 8, 10, 5, 5))


def test_acl_rsi_worked_example_and_range() -> None:
    """Twelve items 0-10 (the original's 0-100 in steps of 10) summing to 78: mean 6.5,
    65.0 on 0-100."""
    assert score("acl_rsi", (7, 6, 8, 5, 7, 6, 8, 7, 6, 6, 6, 6)) == pytest.approx(65.0)
    with pytest.raises(ValidationError, match=r"item 12 \(12\): 11 .*0-10"):
        score("acl_rsi", (7, 6, 8, 5, 7, 6, 8, 7, 6, 6, 6, 11))


def test_tegner_charts_the_current_level_and_needs_it() -> None:
    assert score("tegner", (9, 4)) == 4.0 and score("tegner", (None, 0)) == 0.0
    assert score("tegner", (10, 10)) == 10.0
    with pytest.raises(ValidationError, match=r"the current level given"):
        score("tegner", (9, None))
    with pytest.raises(ValidationError, match=r"item 2 \(current\): 11 .*0-10"):
        score("tegner", (9, 11))


# --- limb symmetry -----------------------------------------------------------------------


@pytest.mark.parametrize("mid", ["hop_single", "hop_triple", "hop_crossover",
                                 "quad_strength", "hamstring_strength"])
def test_distance_and_strength_lsi_is_involved_over_uninvolved(mid: str) -> None:
    assert pair_lsi(mid, 171.0, 190.0) == pytest.approx(90.0)
    assert pair_lsi(mid, 190.0, 190.0) == 100.0


def test_timed_hop_lsi_is_inverted() -> None:
    """Noyes et al. 1991: a longer time is the worse limb, so uninvolved / involved."""
    assert pair_lsi("hop_6m_timed", 2.5, 2.25) == pytest.approx(90.0)
    assert pair_lsi("hop_6m_timed", 2.25, 2.5) == pytest.approx(2.5 / 2.25 * 100)
    assert not MEASURES["hop_6m_timed"].higher_is_better


def test_a_typed_questionnaire_total_must_agree_with_its_items() -> None:
    draft = TestResultDraft("lysholm", DAY, value=80.0, items=(5, 5, 10, 20, 20, 6, 6, 4))
    with pytest.raises(ValidationError, match=r"the total 80 does not match.*76 points"):
        score_test(draft)
    with pytest.raises(ValidationError, match=r"Side"):
        score_test(TestResultDraft("hop_6m_timed", DAY, value=2.2))
    assert score_test(TestResultDraft("hop_6m_timed", DAY, value=2.2, side=Side.LEFT)) == 2.2


def test_session_pain_and_exertion_scales_name_their_anchors() -> None:
    """NPRS 0 = no pain to 10 = worst imaginable (Farrar JT et al. 2001, Pain); Borg CR10
    0 = nothing at all to 10 = extremely strong (Borg G 1998, Borg's Perceived Exertion and
    Pain Scales); the session editor shows these notes with each field."""
    from clinic_app.domain.session_params import SESSION_PARAMS, validate_param

    for attr in ("pain_before", "pain_after"):
        p = SESSION_PARAMS[attr]
        assert "0 = no pain" in p.note and "10 = worst" in p.note
        assert (p.min_value, p.max_value, p.integer_only) == (0, 10, True)
    rpe = SESSION_PARAMS["rpe"]
    assert "0 = nothing at all" in rpe.note and "10 = extremely strong" in rpe.note
    assert validate_param("rpe", 2.5) == 2.5  # CR10 half steps
    with pytest.raises(ValidationError, match=r"Pain before: 4.5 is not a whole number "
                       r"\(allowed: 0 to 10 NPRS, whole numbers\)"):
        validate_param("pain_before", 4.5)
    with pytest.raises(ValidationError, match=r"RPE: 11 is out of range \(allowed: 0 to 10"):
        validate_param("rpe", 11)
