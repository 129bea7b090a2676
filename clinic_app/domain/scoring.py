"""Questionnaire scoring (KOOS, LEFS), limb symmetry index and the value to store for a test.

KOOS (KOOS User's Guide; "KOOS Scoring 2012", koos.nu): items are scored 0 (none) to 4
(extreme); each subscale is scored on its own as ``100 - mean(answered items) x 100 / 4``
(100 = no problems). Missing items, 2012 rule: a subscale is scored when at least 50 % of its
items are answered (Pain 5 of 9, Symptoms 4 of 7, ADL 9 of 17, Sport/Rec 3 of 5, QoL 2 of 4);
otherwise it is not scored. The mean of the answered items stands in for the missing ones,
which is the same as averaging the answered items. (The pre-2012 rule allowed at most 2
missing items per subscale; the guide replaced it in 2012.)

LEFS (Binkley et al. Phys Ther 1999;79:371-383): 20 items 0 (extreme difficulty/unable) to 4
(no difficulty), total = sum, 0-80. Binkley et al. give no rule for missing items and we found
no authoritative one, so a LEFS with any unanswered item is not scored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.instruments import INSTRUMENTS, score_items
from clinic_app.domain.limits import check_text, day_problem
from clinic_app.domain.measures import Measure, check_number, get_measure, validate_value
from clinic_app.domain.records import Side, TestResultDraft

ITEM_MIN = 0
ITEM_MAX = 4
ITEM_ALLOWED = f"whole numbers {ITEM_MIN}-{ITEM_MAX}, or blank if unanswered"

KOOS_SUBSCALES: dict[str, int] = {
    "koos_pain": 9,
    "koos_symptoms": 7,
    "koos_adl": 17,
    "koos_sport_rec": 5,
    "koos_qol": 4,
}
LEFS_ITEMS = 20
MAX_TEST_NOTE = 20_000  # the same cap as a session's text
VALUE_TOLERANCE = 0.05  # a typed-in questionnaire total may differ from the items by rounding


KOOS_ITEM_SCALE = "Each item 0 (none) to 4 (extreme); score = 100 - mean x 25."
LEFS_ITEM_SCALE = ("Each item 0 (extreme difficulty or unable) to 4 (no difficulty); "
                   "total = sum.")


def item_scale(measure_id: str) -> str:
    """How a questionnaire's items are answered (anchors of each end), for entry screens and
    blank forms; "" for a measure without items."""
    m = get_measure(measure_id)
    if m.id in INSTRUMENTS:
        return INSTRUMENTS[m.id].scale_note
    if m.id in KOOS_SUBSCALES:
        return KOOS_ITEM_SCALE
    if m.id == "lefs":
        return LEFS_ITEM_SCALE
    return ""


def koos_min_answered(n_items: int) -> int:
    """Items that must be answered for a KOOS subscale to be scored (>= 50 %, 2012 rule)."""
    return math.ceil(n_items / 2)


def _check_items(label: str, items: Sequence[int | None], expected: int) -> list[int]:
    """Validate the item count and each answer; return the answered items."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ValidationError(label, "item answers must be a list", f"{expected} items")
    if len(items) != expected:
        raise ValidationError(
            label, f"has {len(items)} item answers", f"exactly {expected} items, {ITEM_ALLOWED}"
        )
    answered: list[int] = []
    for i, item in enumerate(items, start=1):
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValidationError(f"{label} item {i}", f"{item!r} is not a number", ITEM_ALLOWED)
        if not (isinstance(item, int) or (math.isfinite(item) and float(item).is_integer())):
            raise ValidationError(f"{label} item {i}", f"{item!r} is not whole", ITEM_ALLOWED)
        if not ITEM_MIN <= item <= ITEM_MAX:
            raise ValidationError(f"{label} item {i}", f"{item!r} is out of range", ITEM_ALLOWED)
        answered.append(int(item))
    return answered


def koos_subscale(subscale: str, items: Sequence[int | None]) -> float | None:
    """KOOS subscale score 0-100 (100 = no problems), or ``None`` if too few items answered.

    ``subscale`` is a measure id from :data:`KOOS_SUBSCALES`. Raises ValidationError for a
    wrong item count or an answer outside 0-4.
    """
    if subscale not in KOOS_SUBSCALES:
        raise ValidationError(
            "measure", f"{subscale!r} is not a KOOS subscale", ", ".join(KOOS_SUBSCALES)
        )
    n = KOOS_SUBSCALES[subscale]
    answered = _check_items(get_measure(subscale).name, items, n)
    if len(answered) < koos_min_answered(n):
        return None
    mean = sum(answered) / len(answered)
    return 100.0 - mean * 100.0 / ITEM_MAX


KOOS4_PARTS = ("koos_pain", "koos_symptoms", "koos_sport_rec", "koos_qol")


def koos4(scores: Mapping[str, float | None]) -> float | None:
    """KOOS4: the mean of the Pain, Symptoms, Sport/Rec and QoL subscale scores (0-100, 100 =
    no problems), or ``None`` unless all four were scored.

    Frobell RB et al. N Engl J Med 2010;363:331-342 (KANON trial, primary outcome); ADL is
    not part of it. Each subscale keeps its own missing-item rule; a subscale that was not
    scored is not guessed.
    """
    parts = [scores.get(mid) for mid in KOOS4_PARTS]
    if any(v is None for v in parts):
        return None
    values = [check_number("KOOS subscale", v, "0 to 100 points") for v in parts]
    for mid, v in zip(KOOS4_PARTS, values, strict=True):
        if not 0.0 <= v <= 100.0:
            raise ValidationError(get_measure(mid).name, f"{v:g} is out of range",
                                  "0 to 100 points")
    return sum(values) / 4.0


def koos4_by_day(results: Iterable[tuple[str, date, float]]) -> list[tuple[date, float]]:
    """KOOS4 on each day all four of its subscales were scored, oldest first.

    ``results`` are (measure id, day, score); of several scores of a subscale on one day the
    last one given counts, as it does in the record.
    """
    days: dict[date, dict[str, float]] = {}
    for mid, day, value in results:
        if mid in KOOS4_PARTS:
            days.setdefault(day, {})[mid] = value
    out: list[tuple[date, float]] = []
    for day in sorted(days):
        score = koos4(days[day])
        if score is not None:
            out.append((day, score))
    return out


def lefs_total(items: Sequence[int | None]) -> int | None:
    """LEFS total 0-80 (sum of 20 items), or ``None`` if any item is unanswered."""
    answered = _check_items("Lower Extremity Functional Scale", items, LEFS_ITEMS)
    if len(answered) < LEFS_ITEMS:
        return None
    return sum(answered)


def lsi(involved: float, uninvolved: float) -> float:
    """Limb symmetry index in percent: ``involved / uninvolved x 100``, for distances and
    strength. A timed test (6-m timed hop) is inverted: use ``instruments.pair_lsi``.

    Both values must be finite and non-negative, the uninvolved limb's strictly positive.
    """
    inv = check_number("Involved limb", involved, "0 or more")
    uninv = check_number("Uninvolved limb", uninvolved, "more than 0")
    if inv < 0:
        raise ValidationError("Involved limb", f"{inv:g} is negative", "0 or more")
    if uninv <= 0:
        raise ValidationError("Uninvolved limb", f"{uninv:g} must be positive", "more than 0")
    return inv / uninv * 100.0


def _check_side(m: Measure, side: Side | None) -> None:
    if m.sided:
        if side not in (Side.LEFT, Side.RIGHT):
            raise ValidationError(
                "Side", f"{m.name} is recorded per side; got {side or 'none'}", "left, right"
            )
    elif side is not None:
        raise ValidationError(
            "Side", f"{m.name} is not recorded per side; got {side}", "none (leave blank)"
        )


def _score_questionnaire(m: Measure, items: Sequence[int | None]) -> float:
    assert m.items is not None
    if m.id in INSTRUMENTS:
        score = score_items(m.id, items)
        need = INSTRUMENTS[m.id].missing_rule
    elif m.id in KOOS_SUBSCALES:
        score = koos_subscale(m.id, items)
        need = f"at least {koos_min_answered(m.items)} of {m.items} items answered"
    else:
        total = lefs_total(items)
        score = None if total is None else float(total)
        need = f"all {m.items} items answered"
    if score is None:
        missing = sum(1 for i in items if i is None)
        raise ValidationError(m.name, f"too many unanswered items ({missing} missing)", need)
    return score


def score_test(draft: TestResultDraft) -> float:
    """The value to store for a test result, validated.

    Questionnaires are scored from ``draft.items``; if a total is also typed in
    (``draft.value``), it must agree with the items. A questionnaire total alone (no items,
    e.g. imported from paper) is accepted after a range check. Other measures validate
    ``draft.value``. Sided measures need ``side`` left or right; others must have none.
    """
    m = get_measure(draft.measure_id)
    _check_side(m, draft.side)
    if m.items is not None and draft.items is not None:
        score = _score_questionnaire(m, draft.items)
        if draft.value is not None:
            typed = validate_value(m.id, draft.value)
            if abs(typed - score) > VALUE_TOLERANCE:
                raise ValidationError(
                    m.name,
                    f"the total {typed:g} does not match the item answers",
                    f"{m.format_value(score)} (from the items) or leave the total blank",
                )
        return score
    if draft.items is not None:
        raise ValidationError("Items", f"{m.name} is not a questionnaire", "no item answers")
    if draft.value is None:
        raise ValidationError(m.name, "a value is required", m.allowed)
    return validate_value(m.id, draft.value)


def validate_test_result(
    draft: TestResultDraft, *, born: date | None = None, episode_start: date | None = None,
    today: date | None = None,
) -> float:
    """:func:`score_test` after checking the day (1900 or later, not before the patient's
    birth or the episode's start where known, at most tomorrow) and the notes."""
    problem = day_problem("Performed on", draft.performed_on, born=born,
                          episode_start=episode_start, today=today)
    if problem is not None:
        raise problem
    check_text("Notes", draft.notes, MAX_TEST_NOTE)
    return score_test(draft)
