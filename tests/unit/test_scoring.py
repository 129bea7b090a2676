"""KOOS and LEFS scoring against the published rules and worked examples; LSI; score_test.

KOOS worked example, computed by hand with the guide's formula (KOOS User's Guide,
"KOOS Scoring 2012": score = 100 - mean(answered items) x 100 / 4):

* Pain, answers 1 2 0 1 3 2 1 0 2: sum 12, mean 12/9 = 1.333..., 1.333 x 25 = 33.33,
  score = 66.67.
* Pain with items 3 and 6 blank (1 2 _ 1 3 _ 1 0 2): 7 answered, sum 10, mean 1.4286,
  score = 100 - 35.714 = 64.29. Replacing the blanks by that mean gives the same value.
* Sport/Rec 2 3 _ 1 2: mean 8/4 = 2, score 50.
* 2012 missing-data rule: >= 50 % answered (Pain 5/9, Symptoms 4/7, ADL 9/17, Sport/Rec 3/5,
  QoL 2/4); the older "at most 2 missing" rule would refuse Pain with 3 or 4 blanks.

LEFS worked example: the four columns of a published BMJ Case Reports LEFS table
(casereports.bmj.com, Table 1: pre-class, post-class, 6-month, 12-month) total 50, 58, 54, 58.
"""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.records import Side, TestResultDraft
from clinic_app.domain.scoring import (
    KOOS_SUBSCALES,
    koos_min_answered,
    koos_subscale,
    lefs_total,
    lsi,
    score_test,
)

DAY = date(2026, 3, 3)

LEFS_CASE = {  # item: (pre-class, post-class, 6 months, 12 months)
    1: (1, 3, 2, 2), 2: (2, 3, 3, 3), 3: (4, 4, 4, 4), 4: (4, 4, 4, 4), 5: (4, 4, 4, 4),
    6: (1, 4, 3, 4), 7: (2, 1, 2, 2), 8: (3, 4, 4, 3), 9: (1, 1, 1, 2), 10: (4, 4, 4, 4),
    11: (4, 4, 4, 4), 12: (1, 3, 4, 2), 13: (4, 4, 4, 3), 14: (3, 3, 3, 2), 15: (3, 4, 4, 4),
    16: (3, 1, 0, 2), 17: (0, 0, 0, 2), 18: (3, 0, 0, 2), 19: (1, 4, 1, 2), 20: (2, 3, 3, 3),
}


# --- KOOS ------------------------------------------------------------------------------


def test_koos_worked_example() -> None:
    assert koos_subscale("koos_pain", (1, 2, 0, 1, 3, 2, 1, 0, 2)) == pytest.approx(
        66.6667, abs=1e-3
    )
    assert koos_subscale("koos_pain", (1, 2, None, 1, 3, None, 1, 0, 2)) == pytest.approx(
        64.2857, abs=1e-3
    )
    assert koos_subscale("koos_sport_rec", (2, 3, None, 1, 2)) == 50.0
    assert koos_subscale("koos_symptoms", (0,) * 7) == 100.0  # no problems
    assert koos_subscale("koos_qol", (4,) * 4) == 0.0  # extreme problems


def test_koos_missing_items_2012_rule() -> None:
    need = {"koos_pain": 5, "koos_symptoms": 4, "koos_adl": 9, "koos_sport_rec": 3, "koos_qol": 2}
    for sub, n in KOOS_SUBSCALES.items():
        assert koos_min_answered(n) == need[sub]
        enough = (2,) * need[sub] + (None,) * (n - need[sub])
        too_few = (2,) * (need[sub] - 1) + (None,) * (n - need[sub] + 1)
        assert koos_subscale(sub, enough) == 50.0
        assert koos_subscale(sub, too_few) is None
        assert koos_subscale(sub, (None,) * n) is None
    # Differs from the pre-2012 rule ("at most 2 missing"): 4 blanks in Pain are still scored.
    assert koos_subscale("koos_pain", (1, 1, 1, 1, 1, None, None, None, None)) == 75.0


@pytest.mark.parametrize(
    ("items", "field", "allowed"),
    [
        ((1,) * 8, "KOOS Pain", "exactly 9 items"),
        ((1,) * 10, "KOOS Pain", "exactly 9 items"),
        ((1, 1, 5, 1, 1, 1, 1, 1, 1), "KOOS Pain item 3", "whole numbers 0-4"),
        ((1, 1, 1, 1, 1, 1, 1, 1, -1), "KOOS Pain item 9", "whole numbers 0-4"),
        ((1.5, 1, 1, 1, 1, 1, 1, 1, 1), "KOOS Pain item 1", "whole numbers 0-4"),
        ((True, 1, 1, 1, 1, 1, 1, 1, 1), "KOOS Pain item 1", "whole numbers 0-4"),
        (("2", 1, 1, 1, 1, 1, 1, 1, 1), "KOOS Pain item 1", "whole numbers 0-4"),
        ((math.nan, 1, 1, 1, 1, 1, 1, 1, 1), "KOOS Pain item 1", "whole numbers 0-4"),
    ],
)
def test_koos_bad_items(items: tuple[object, ...], field: str, allowed: str) -> None:
    with pytest.raises(ValidationError) as err:
        koos_subscale("koos_pain", items)  # type: ignore[arg-type]
    assert err.value.field == field
    assert allowed in str(err.value)


koos_sub = st.sampled_from(sorted(KOOS_SUBSCALES))


@st.composite
def koos_answers(draw: st.DrawFn) -> tuple[str, list[int | None]]:
    sub = draw(koos_sub)
    n = KOOS_SUBSCALES[sub]
    return sub, draw(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=n, max_size=n))


@settings(max_examples=2000, deadline=None)
@given(koos_answers())
def test_koos_score_range_and_missing_rule(case: tuple[str, list[int | None]]) -> None:
    sub, items = case
    score = koos_subscale(sub, items)
    answered = [i for i in items if i is not None]
    if len(answered) * 2 < len(items):
        assert score is None
        return
    assert score is not None and 0.0 <= score <= 100.0
    # Mean imputation of the blanks gives the same score as averaging the answered items.
    mean = sum(answered) / len(answered)
    imputed = [mean if i is None else i for i in items]
    assert score == pytest.approx(100 - sum(imputed) / len(imputed) * 25)


@settings(max_examples=2000, deadline=None)
@given(koos_answers(), st.data())
def test_koos_more_symptoms_lower_score(
    case: tuple[str, list[int | None]], data: st.DataObject
) -> None:
    sub, items = case
    worse_at = [k for k, v in enumerate(items) if v is not None and v < 4]
    assume(worse_at and koos_subscale(sub, items) is not None)
    k = data.draw(st.sampled_from(worse_at))
    worse = list(items)
    worse[k] = data.draw(st.integers(items[k] + 1, 4))  # type: ignore[operator]
    assert koos_subscale(sub, worse) < koos_subscale(sub, items)  # type: ignore[operator]


# --- LEFS ------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "total"), [(0, 50), (1, 58), (2, 54), (3, 58)])
def test_lefs_published_example(column: int, total: int) -> None:
    items = tuple(LEFS_CASE[i][column] for i in range(1, 21))
    assert lefs_total(items) == total
    draft = TestResultDraft("lefs", DAY, items=items)
    assert score_test(draft) == float(total)


def test_lefs_extremes_and_missing() -> None:
    assert lefs_total((0,) * 20) == 0
    assert lefs_total((4,) * 20) == 80
    assert lefs_total((4,) * 19 + (None,)) is None
    with pytest.raises(ValidationError) as err:
        score_test(TestResultDraft("lefs", DAY, items=(4,) * 19 + (None,)))
    assert "Lower Extremity Functional Scale: too many unanswered items (1 missing)" in str(
        err.value
    )
    assert "allowed: all 20 items answered" in str(err.value)
    with pytest.raises(ValidationError, match=r"item 20: 5 is out of range"):
        lefs_total((4,) * 19 + (5,))
    with pytest.raises(ValidationError, match=r"exactly 20 items"):
        lefs_total((4,) * 21)


lefs_items = st.lists(st.integers(0, 4), min_size=20, max_size=20)


@settings(max_examples=2000, deadline=None)
@given(lefs_items)
def test_lefs_range(items: list[int]) -> None:
    total = lefs_total(items)
    assert total == sum(items)
    assert 0 <= total <= 80


@settings(max_examples=2000, deadline=None)
@given(lefs_items, st.data())
def test_lefs_higher_items_higher_total(items: list[int], data: st.DataObject) -> None:
    better_at = [k for k, v in enumerate(items) if v < 4]
    assume(better_at)
    k = data.draw(st.sampled_from(better_at))
    step = data.draw(st.integers(1, 4 - items[k]))
    better = list(items)
    better[k] += step
    assert lefs_total(better) == lefs_total(items) + step  # type: ignore[operator]


# --- LSI -------------------------------------------------------------------------------


def test_lsi() -> None:
    assert lsi(180.0, 200.0) == pytest.approx(90.0)
    assert lsi(0, 150) == 0.0
    with pytest.raises(ValidationError, match=r"Uninvolved limb: .*allowed: more than 0"):
        lsi(100, 0)
    with pytest.raises(ValidationError, match=r"Involved limb: -1 is negative .*0 or more"):
        lsi(-1, 100)
    with pytest.raises(ValidationError, match=r"Involved limb"):
        lsi(math.nan, 100)


# --- score_test ------------------------------------------------------------------------


def test_score_test_measured_values_and_sides() -> None:
    assert score_test(TestResultDraft("tug", DAY, value=9.8)) == 9.8
    assert score_test(TestResultDraft("knee_flexion_rom", DAY, 120, side=Side.LEFT)) == 120.0
    assert score_test(TestResultDraft("knee_extension_rom", DAY, -5, side=Side.RIGHT)) == -5.0


@pytest.mark.parametrize(
    ("draft", "field", "allowed"),
    [
        (TestResultDraft("knee_flexion_rom", DAY, 120), "Side", "left, right"),
        (TestResultDraft("knee_flexion_rom", DAY, 120, side=Side.BILATERAL), "Side", "left, right"),
        (TestResultDraft("tug", DAY, 9.8, side=Side.LEFT), "Side", "none"),
        (TestResultDraft("tug", DAY), "Timed Up and Go", "1 to 300 s"),
        (TestResultDraft("tug", DAY, 0.2), "Timed Up and Go", "1 to 300 s"),
        (TestResultDraft("tug", DAY, 9.8, items=(1, 2)), "Items", "no item answers"),
        (TestResultDraft("koos_qol", DAY, items=(1, None, None, None)), "KOOS Knee-related quality "
         "of life", "at least 2 of 4 items answered"),
        (TestResultDraft("koos_qol", DAY, items=(1, 2, 3)), "KOOS Knee-related quality of life",
         "exactly 4 items"),
        (TestResultDraft("koos_qol", DAY, value=40.0, items=(1, 1, 1, 1)),
         "KOOS Knee-related quality of life", "75.0 points (from the items)"),
        (TestResultDraft("koos_qol", DAY, value=101.0), "KOOS Knee-related quality of life",
         "0 to 100 points"),
        (TestResultDraft("no_such", DAY, 1.0), "measure", "koos_qol"),
    ],
)
def test_score_test_rejects(draft: TestResultDraft, field: str, allowed: str) -> None:
    with pytest.raises(ValidationError) as err:
        score_test(draft)
    assert err.value.field == field
    assert allowed in str(err.value)
    assert str(err.value).startswith(f"{field}: ")


def test_score_test_questionnaire_paths() -> None:
    items = (1, 2, None, 1, 3, None, 1, 0, 2)
    assert score_test(TestResultDraft("koos_pain", DAY, items=items)) == pytest.approx(
        64.2857, abs=1e-3
    )
    # A typed total agreeing with the items (to display rounding) is accepted.
    assert score_test(TestResultDraft("koos_pain", DAY, 64.3, items=items)) == pytest.approx(
        64.2857, abs=1e-3
    )
    # A total transcribed without items (e.g. from paper) is range-checked and kept.
    assert score_test(TestResultDraft("koos_pain", DAY, 64.3)) == 64.3
