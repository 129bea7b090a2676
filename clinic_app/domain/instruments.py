"""Knee and ACL instruments: item specifications, scoring and limb-pair symmetry.

Each questionnaire is described item by item (the answers a patient may give, scored as in
its guide) so that entry, validation and scoring share one definition. Items are typed as
the score printed next to the answer on the form.

Sources (each scorer's docstring names its own):

* IKDC Subjective Knee Evaluation Form 2000, scoring instructions on the form; Irrgang JJ et
  al. Am J Sports Med 2001;29:600-613.
* KOS Activities of Daily Living Scale: Irrgang JJ, Snyder-Mackler L, Wainner RS, Fu FH,
  Harner CD. J Bone Joint Surg Am 1998;80:1132-1145.
* Lysholm Knee Scoring Scale: Lysholm J, Gillquist J. Am J Sports Med 1982;10:150-154;
  Tegner Y, Lysholm J. Clin Orthop 1985;198:43-49 (revised scale and rating bands).
* Kujala Anterior Knee Pain Scale (AKPS): Kujala UM, Jaakkola LH, Koskinen SK, Taimela S,
  Hurme M, Nelimarkka O. Scoring of patellofemoral disorders. Arthroscopy 1993;9:159-163.
* Tegner activity level: Tegner & Lysholm 1985.
* ACL-RSI: Webster KE, Feller JA, Lambros C. Phys Ther Sport 2008;9:9-15.
* Y-Balance Test lower quarter: Plisky PJ et al. N Am J Sports Phys Ther 2009;4:92-99.
* Limb symmetry of hop tests: Noyes FR, Barber SD, Mangine RE. Am J Sports Med
  1991;19:513-518 (timed hop: the slower time is the worse limb).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import check_number, get_measure


@dataclass(frozen=True)
class ItemSpec:
    """One item: its label on the form and the scores an answer may have."""

    label: str
    allowed: tuple[int, ...]

    @cached_property
    def maximum(self) -> int:
        return max(self.allowed)

    @cached_property
    def accepts(self) -> frozenset[int]:
        """The allowed scores as a set (checked for every item of every imported row)."""
        return frozenset(self.allowed)

    def describe(self) -> str:
        """Allowed answers as text, e.g. ``"0-10"`` or ``"0, 3, 5"``."""
        values = sorted(self.allowed)
        if values == list(range(values[0], values[-1] + 1)):
            return f"{values[0]}-{values[-1]}"
        return ", ".join(str(v) for v in values)


@dataclass(frozen=True)
class Instrument:
    """A questionnaire (or multi-part test) scored from its items."""

    measure_id: str
    items: tuple[ItemSpec, ...]
    missing_rule: str  # what scoring needs, in words after "scored with"
    scale_note: str  # the answer scale, printed on the blank form
    wording_licensed: bool = False  # True only where the item wording may be reproduced

    def item_field(self, index: int) -> str:
        return f"item {index + 1} ({self.items[index].label})"


def _range(low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1))


# --- IKDC --------------------------------------------------------------------------------

# Items in the order of the form; 10a (function before the injury) is not scored and not
# entered. Items 2 and 3 are answered on the printed 0-10 scale (0 = never / no pain) and
# reversed for scoring, as the form's scoring instructions say.
_IKDC_ITEMS = (
    ItemSpec("1 activity without pain", _range(0, 4)),
    ItemSpec("2 pain frequency", _range(0, 10)),
    ItemSpec("3 pain severity", _range(0, 10)),
    ItemSpec("4 stiffness/swelling", _range(0, 4)),
    ItemSpec("5 activity without swelling", _range(0, 4)),
    ItemSpec("6 locking (0 yes, 1 no)", (0, 1)),
    ItemSpec("7 activity without giving way", _range(0, 4)),
    ItemSpec("8 regular activity level", _range(0, 4)),
    *(ItemSpec(f"9{c} daily activity", _range(0, 4)) for c in "abcdefghi"),
    ItemSpec("10b current function", _range(0, 10)),
)
IKDC_REVERSED = (1, 2)  # zero-based positions of items 2 and 3
IKDC_MIN_ANSWERED = 16


def ikdc_score(items: Sequence[int | None]) -> float | None:
    """IKDC Subjective Knee Form score 0-100, or ``None`` with fewer than 16 items answered.

    Per the form's scoring instructions (IKDC 2000; Irrgang et al. 2001): items 2 and 3 are
    reversed (10 - answer); score = sum of the item scores / sum of the maximum scores of the
    answered items x 100. Item 10a (function before the injury) is not scored.
    """
    answers = check_items(INSTRUMENTS["ikdc"], items)
    total = 0
    maximum = 0
    for i, (spec, answer) in enumerate(zip(_IKDC_ITEMS, answers, strict=True)):
        if answer is None:
            continue
        total += spec.maximum - answer if i in IKDC_REVERSED else answer
        maximum += spec.maximum
    if sum(a is not None for a in answers) < IKDC_MIN_ANSWERED:
        return None
    return total / maximum * 100.0


# --- KOS-ADLS ----------------------------------------------------------------------------

_KOS_ITEMS = (
    *(ItemSpec(f"{i} symptom: {name}", _range(0, 5)) for i, name in enumerate(
        ("pain", "stiffness", "swelling", "giving way", "weakness", "limping"), start=1)),
    *(ItemSpec(f"{i} {name}", _range(0, 5)) for i, name in enumerate(
        ("walk", "stairs up", "stairs down", "stand", "kneel", "squat", "sit",
         "rise from chair"), start=7)),
)


def kos_adls_score(items: Sequence[int | None]) -> float | None:
    """KOS-ADLS 0-100 % (100 = no limitation), or ``None`` when any item is unanswered.

    Irrgang et al. 1998: 14 items (6 symptoms, 8 functional tasks) scored 0 (unable) to
    5 (no difficulty); score = sum / 70 x 100. The developers give no rule for missing
    items, so an incomplete form is not scored rather than scored on a guessed rule.
    """
    answers = check_items(INSTRUMENTS["kos_adls"], items)
    if any(a is None for a in answers):
        return None
    return sum(a for a in answers if a is not None) / 70.0 * 100.0


# --- Lysholm -----------------------------------------------------------------------------

_LYSHOLM_ITEMS = (
    ItemSpec("1 limp", (0, 3, 5)),
    ItemSpec("2 support", (0, 2, 5)),
    ItemSpec("3 locking", (0, 2, 6, 10, 15)),
    ItemSpec("4 instability", (0, 5, 10, 15, 20, 25)),
    ItemSpec("5 pain", (0, 5, 10, 15, 20, 25)),
    ItemSpec("6 swelling", (0, 2, 6, 10)),
    ItemSpec("7 stair climbing", (0, 2, 6, 10)),
    ItemSpec("8 squatting", (0, 2, 4, 5)),
)


def lysholm_score(items: Sequence[int | None]) -> float | None:
    """Lysholm score 0-100 (sum of the 8 item scores), or ``None`` with any item missing.

    Tegner & Lysholm 1985 (revised scale): each answer carries the points printed on the
    form. No missing-item rule is published, so an incomplete form is not scored.
    """
    answers = check_items(INSTRUMENTS["lysholm"], items)
    if any(a is None for a in answers):
        return None
    return float(sum(a for a in answers if a is not None))


LYSHOLM_BANDS = (
    ("excellent", 95.0, 100.0),
    ("good", 84.0, 94.0),
    ("fair", 65.0, 83.0),
    ("poor", 0.0, 64.0),
)


def lysholm_rating(score: float) -> str:
    """Excellent (95-100), good (84-94), fair (65-83) or poor (< 65), Tegner & Lysholm 1985.

    Some later papers use 91-100 for excellent; the original bands are used here.
    """
    s = check_number("Lysholm", score, "0 to 100 points")
    if s >= 95:
        return "excellent"
    if s >= 84:
        return "good"
    if s >= 65:
        return "fair"
    return "poor"


# --- Kujala (Anterior Knee Pain Scale) ----------------------------------------------------

_KUJALA_ITEMS = (
    ItemSpec("1 limp", (0, 3, 5)),
    ItemSpec("2 support", (0, 3, 5)),
    ItemSpec("3 walking", (0, 2, 3, 5)),
    ItemSpec("4 stairs", (0, 5, 8, 10)),
    ItemSpec("5 squatting", (0, 2, 3, 4, 5)),
    ItemSpec("6 running", (0, 3, 6, 8, 10)),
    ItemSpec("7 jumping", (0, 2, 7, 10)),
    ItemSpec("8 prolonged sitting", (0, 4, 6, 8, 10)),
    ItemSpec("9 pain", (0, 3, 6, 8, 10)),
    ItemSpec("10 swelling", (0, 4, 6, 8, 10)),
    ItemSpec("11 patellar subluxation", (0, 2, 4, 6, 10)),
    ItemSpec("12 thigh atrophy", (0, 3, 5)),
    ItemSpec("13 flexion deficiency", (0, 3, 5)),
)


def kujala_score(items: Sequence[int | None]) -> float | None:
    """Kujala Anterior Knee Pain Scale 0-100 (100 = no symptoms or limitation), or ``None``
    with any item unanswered.

    Kujala UM et al. Arthroscopy 1993;9:159-163: 13 items, each answer carrying the points
    printed on the form (maxima 5, 5, 5, 10, 5, 10, 10, 10, 10, 10, 10, 5, 5); the score is
    their sum. No missing-item rule is published, so an incomplete form is not scored.
    """
    answers = check_items(INSTRUMENTS["kujala"], items)
    if any(a is None for a in answers):
        return None
    return float(sum(a for a in answers if a is not None))


# --- Tegner ------------------------------------------------------------------------------

_TEGNER_ITEMS = (
    ItemSpec("before injury", _range(0, 10)),
    ItemSpec("current", _range(0, 10)),
)


def tegner_current(items: Sequence[int | None]) -> float | None:
    """The current Tegner level 0-10 (the value charted); ``None`` if it is not given.

    Tegner & Lysholm 1985: one level 0 (sick leave/disability) to 10 (competitive sport,
    national elite). The level before the injury is kept as the first item for comparison.
    """
    answers = check_items(INSTRUMENTS["tegner"], items)
    return None if answers[1] is None else float(answers[1])


# --- ACL-RSI -----------------------------------------------------------------------------

_ACL_RSI_ITEMS = tuple(ItemSpec(str(i), _range(0, 10)) for i in range(1, 13))


def acl_rsi_score(items: Sequence[int | None]) -> float | None:
    """ACL-RSI 0-100 (higher = more psychologically ready), ``None`` with any item missing.

    Webster, Feller & Lambros 2008: 12 items answered on 0-10 (the original uses 0-100 in
    steps of 10); the score is the mean of the items scaled to 0-100. The form is printed so
    that the high end is always the positive answer, so no item is reversed at entry. The
    authors give no missing-item rule; an incomplete form is not scored.
    """
    answers = check_items(INSTRUMENTS["acl_rsi"], items)
    if any(a is None for a in answers):
        return None
    return sum(a for a in answers if a is not None) / 12.0 * 10.0


# --- Y-Balance Test ----------------------------------------------------------------------

Y_BALANCE_PARTS = ("anterior", "posteromedial", "posterolateral", "limb length")
Y_BALANCE_MAX_MM = 3000


def y_balance_composite(items: Sequence[int | None]) -> float | None:
    """Composite reach 0-300 % of limb length for one side; ``None`` if a part is missing.

    Plisky et al. 2009: composite = (anterior + posteromedial + posterolateral) /
    (3 x limb length) x 100, each reach the best of three trials. Entered in millimetres.
    """
    answers = check_items(INSTRUMENTS["y_balance"], items)
    if any(a is None for a in answers):
        return None
    ant, pm, pl, limb = (float(a) for a in answers if a is not None)
    if limb <= 0:
        raise ValidationError("Y-Balance limb length", "must be more than 0 mm",
                              f"1 to {Y_BALANCE_MAX_MM} mm")
    return (ant + pm + pl) / (3.0 * limb) * 100.0


def y_balance_anterior_difference(left: Sequence[int | None],
                                  right: Sequence[int | None]) -> float | None:
    """Right-left anterior reach difference in cm (absolute), ``None`` if one is missing.

    Plisky PJ et al. J Orthop Sports Phys Ther 2006;36:911-919 (Star Excursion Balance
    Test): an anterior asymmetry of 4 cm or more was associated with lower-limb injury in
    high-school basketball players.
    """
    a, b = left[0] if left else None, right[0] if right else None
    if a is None or b is None:
        return None
    return abs(float(a) - float(b)) / 10.0


Y_BALANCE_ANTERIOR_CUTOFF_CM = 4.0


# --- limb symmetry -----------------------------------------------------------------------

TIMED_PAIRS = frozenset({"hop_6m_timed"})


def pair_lsi(measure_id: str, involved: float, uninvolved: float) -> float:
    """Limb symmetry index in % for a limb pair, oriented so that 100 % is symmetric and
    lower is worse.

    Distance and strength: involved / uninvolved x 100. Timed tests (6-m timed hop):
    uninvolved / involved x 100, because a longer time on the involved limb is the deficit
    (Noyes et al. 1991). Both values must be positive.
    """
    inv = check_number("Involved limb", involved, "more than 0")
    uninv = check_number("Uninvolved limb", uninvolved, "more than 0")
    if inv < 0 or (measure_id in TIMED_PAIRS and inv == 0):
        raise ValidationError("Involved limb", f"{inv:g} must be positive", "more than 0")
    if uninv <= 0:
        raise ValidationError("Uninvolved limb", f"{uninv:g} must be positive", "more than 0")
    if measure_id in TIMED_PAIRS:
        return uninv / inv * 100.0
    return inv / uninv * 100.0


def hq_ratio(hamstring: float, quadriceps: float) -> float:
    """Hamstring:quadriceps strength ratio (same limb, same device and speed), as a fraction.

    No single cut-off is used: the ratio depends on the speed and contraction type
    (Kellis E et al. 2023 review); it is reported, not judged.
    """
    h = check_number("Hamstring strength", hamstring, "0 or more")
    q = check_number("Quadriceps strength", quadriceps, "more than 0")
    if q <= 0 or h < 0:
        raise ValidationError("Quadriceps strength", "must be more than 0", "more than 0")
    return h / q


# --- registry ----------------------------------------------------------------------------

INSTRUMENTS: dict[str, Instrument] = {
    "ikdc": Instrument(
        "ikdc", _IKDC_ITEMS,
        f"at least {IKDC_MIN_ANSWERED} of 18 items answered",
        "As printed on the IKDC 2000 form: 1, 4, 5, 7, 8 and 9a-9i 0 (unable, or "
        "extremely) to 4 (very strenuous activity, or not at all / not difficult); 2 pain "
        "frequency 0 (never) to 10 (constant) and 3 pain severity 0 (no pain) to 10 (worst "
        "imaginable), both reversed when scored; 6 locking yes = 0, no = 1; 10b current "
        "function 0 (unable to do daily activities) to 10 (normal, excellent). 10a (before "
        "the injury) is not scored.", wording_licensed=False),
    "kos_adls": Instrument(
        "kos_adls", _KOS_ITEMS, "all 14 items answered",
        "Each item 0 (unable / prevents all activity) to 5 (no symptom / no difficulty)."),
    "lysholm": Instrument(
        "lysholm", _LYSHOLM_ITEMS, "all 8 items answered",
        "Points per answer: limp 0/3/5, support 0/2/5, locking 0/2/6/10/15, instability "
        "and pain 0/5/10/15/20/25, swelling and stairs 0/2/6/10, squatting 0/2/4/5."),
    "kujala": Instrument(
        "kujala", _KUJALA_ITEMS, "all 13 items answered",
        "Points per answer: limp and support 0/3/5, walking 0/2/3/5, stairs 0/5/8/10, "
        "squatting 0/2/3/4/5, running 0/3/6/8/10, jumping 0/2/7/10, prolonged sitting "
        "0/4/6/8/10, pain 0/3/6/8/10, swelling 0/4/6/8/10, patellar subluxation "
        "0/2/4/6/10, thigh atrophy and flexion deficiency 0/3/5 (the highest = no "
        "problem)."),
    "tegner": Instrument(
        "tegner", _TEGNER_ITEMS, "the current level given",
        "Tegner activity level 0 (sick leave or disability pension because of knee problems) "
        "to 10 (competitive sport at national/international elite level)."),
    "acl_rsi": Instrument(
        "acl_rsi", _ACL_RSI_ITEMS, "all 12 items answered",
        "Each item 0 (most negative, e.g. extremely nervous) to 10 (most positive, e.g. "
        "not at all nervous); a form printed 0-100 in steps of 10 is typed in tens (70 as "
        "7)."),
    "y_balance": Instrument(
        "y_balance",
        tuple(ItemSpec(part, _range(0, Y_BALANCE_MAX_MM)) for part in Y_BALANCE_PARTS),
        "all three reaches and the limb length",
        "Best of three reaches in each direction and the limb length (ASIS to medial "
        "malleolus), in millimetres."),
}

SCORERS = {
    "ikdc": ikdc_score,
    "kos_adls": kos_adls_score,
    "lysholm": lysholm_score,
    "kujala": kujala_score,
    "tegner": tegner_current,
    "acl_rsi": acl_rsi_score,
    "y_balance": y_balance_composite,
}


def check_items(inst: Instrument, items: Sequence[int | None]) -> list[int | None]:
    """Validate ``items`` against the instrument; raise ValidationError naming the item."""
    n = len(inst.items)
    name = get_measure(inst.measure_id).name
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ValidationError(name, "item answers must be a list", f"{n} items")
    if len(items) != n:
        raise ValidationError(name, f"has {len(items)} item answers", f"exactly {n} items")
    out: list[int | None] = []
    for i, (spec, item) in enumerate(zip(inst.items, items, strict=True)):
        if item is None:
            out.append(None)
            continue
        if item.__class__ is int and item in spec.accepts:  # the common case, checked fast
            out.append(item)
            continue
        field = f"{name} {inst.item_field(i)}"
        allowed = f"{spec.describe()}, or blank if unanswered"
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValidationError(field, f"{item!r} is not a number", allowed)
        if isinstance(item, float) and not (math.isfinite(item) and float(item).is_integer()):
            raise ValidationError(field, f"{item!r} is not a whole number", allowed)
        if int(item) not in spec.accepts:
            raise ValidationError(field, f"{item!r} is not an allowed answer", allowed)
        out.append(int(item))
    return out


def score_items(measure_id: str, items: Sequence[int | None]) -> float | None:
    """Score an instrument's items; ``None`` when its missing-item rule is not met."""
    return SCORERS[measure_id](items)
