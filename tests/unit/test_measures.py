"""The measures catalogue: stable ids, published values, range validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import MEASURES, Band, get_measure, validate_value

EXPECTED_IDS = {
    "bwt_3m", "backward_speed", "tug", "walk_10m", "walk_6min", "knee_flexion_rom",
    "knee_extension_rom", "quad_lsi", "hop_lsi", "nprs", "koos_pain", "koos_symptoms",
    "koos_adl", "koos_sport_rec", "koos_qol", "lefs", "ikdc", "kos_adls", "global_rating",
    "lysholm", "kujala", "tegner", "acl_rsi", "hop_single", "hop_triple", "hop_crossover",
    "hop_6m_timed",
    "y_balance", "quad_strength", "hamstring_strength",
}


def test_catalogue_has_exactly_the_stable_ids() -> None:
    assert set(MEASURES) == EXPECTED_IDS
    assert all(m.id == key for key, m in MEASURES.items())


def test_questionnaire_item_counts_follow_the_user_guides() -> None:
    counts = {k: m.items for k, m in MEASURES.items() if m.items is not None}
    assert counts == {
        "koos_pain": 9, "koos_symptoms": 7, "koos_adl": 17, "koos_sport_rec": 5, "koos_qol": 4,
        "lefs": 20, "ikdc": 18, "kos_adls": 14, "lysholm": 8, "kujala": 13, "tegner": 2,
        "acl_rsi": 12, "y_balance": 4,
    }
    for k in ("koos_pain", "koos_symptoms", "koos_adl", "koos_sport_rec", "koos_qol"):
        assert (MEASURES[k].min_value, MEASURES[k].max_value) == (0, 100)
    assert (MEASURES["lefs"].min_value, MEASURES["lefs"].max_value) == (0, 80)
    assert (MEASURES["nprs"].min_value, MEASURES["nprs"].max_value) == (0, 10)


def test_only_knee_rom_and_limb_pairs_are_recorded_per_side() -> None:
    pairs = {"hop_single", "hop_triple", "hop_crossover", "hop_6m_timed", "y_balance",
             "quad_strength", "hamstring_strength"}
    assert {k for k, m in MEASURES.items() if m.sided} == {
        "knee_flexion_rom", "knee_extension_rom", *pairs}
    assert {k for k, m in MEASURES.items() if m.paired} == pairs


def test_direction_of_improvement() -> None:
    lower_better = {k for k, m in MEASURES.items() if not m.higher_is_better}
    assert lower_better == {"bwt_3m", "tug", "nprs", "hop_6m_timed"}


@pytest.mark.parametrize(
    ("mid", "mcid"),
    [("lefs", 9.0), ("nprs", 2.0), ("walk_10m", 0.1), ("walk_6min", 50.0), ("koos_pain", 8.0),
     ("koos_qol", 8.0), ("tug", None), ("kos_adls", 7.1), ("ikdc", None),
     ("lysholm", None), ("kujala", None), ("tegner", None), ("acl_rsi", None),
     ("hop_6m_timed", None),
     ("bwt_3m", None), ("knee_flexion_rom", None),
     ("quad_lsi", None), ("hop_lsi", None), ("backward_speed", None)],
)
def test_mcids_and_their_sources(mid: str, mcid: float | None) -> None:
    m = MEASURES[mid]
    assert m.mcid == mcid
    assert m.mcid_source.strip()  # always explained, also when there is none
    if mcid is None:
        text = m.mcid_source.lower()
        assert "no mcid" in text or "no single" in text


def test_every_measure_is_consistent_and_cited() -> None:
    for m in MEASURES.values():
        assert m.min_value < m.max_value, m.id
        assert m.decimals >= 0
        assert len(m.source) > 20, m.id
        assert m.mcid is None or 0 < m.mcid < m.max_value - m.min_value
        assert m.ucum
        for b in m.bands:
            assert b.source, (m.id, b.label)
    # Only codes we are sure of: the 0-10 numeric pain rating.
    assert {k: m.loinc for k, m in MEASURES.items() if m.loinc} == {"nprs": "72514-3"}


def test_extension_sign_convention_is_documented() -> None:
    src = MEASURES["knee_extension_rom"].source.lower()
    assert "0° = full" in src and "negative = extension deficit" in src and "hyperextension" in src
    assert MEASURES["knee_extension_rom"].min_value < 0 < MEASURES["knee_extension_rom"].max_value


def test_published_cut_offs_keep_their_bound_and_goals_inclusive() -> None:
    # TUG: 13.5 s or more flags fall risk (Shumway-Cook A, Brauer S, Woollacott M 2000, Phys
    # Ther; the meta-analysis of Barry E et al. 2014, BMC Geriatr, pooled ">= 13.5 s").
    (tug,) = MEASURES["tug"].bands
    assert (tug.kind, tug.contains(13.5), tug.contains(13.49), tug.contains(9.0)) == (
        "cutoff", True, False, False,
    )
    assert "older adults" in tug.label and "community-dwelling" in tug.source
    bwt, low = MEASURES["bwt_3m"].bands
    assert (bwt.contains(4.5), bwt.contains(4.6)) == (False, True)
    assert (low.contains(3.0), low.contains(3.01), low.kind) == (True, False, "normative")
    assert "older adults" in bwt.label and "community-dwelling" in bwt.source  # population
    for mid in ("quad_lsi", "hop_lsi"):
        (goal,) = MEASURES[mid].bands
        assert (goal.kind, goal.contains(90.0), goal.contains(89.9)) == ("goal", True, False)
    assert tug.describe("s") == "at least 13.5 s"
    assert Band("x", None, 1.0, "cutoff", high_inclusive=False).describe("m/s") == (
        "less than 1 m/s"
    )
    with pytest.raises(ValueError):
        Band("x", None, None, "goal")
    with pytest.raises(ValueError):
        Band("x", 1.0, None, "warning")


def test_format_value() -> None:
    assert MEASURES["tug"].format_value(-4.4, signed=True) == "-4.4 s"
    assert MEASURES["lefs"].format_value(15, signed=True) == "+15 points"
    assert MEASURES["knee_flexion_rom"].format_value(120) == "120°"
    assert MEASURES["tug"].format_value(-0.04, signed=True) == "0.0 s"  # no "-0.0"


def test_unknown_measure_names_field_and_lists_ids() -> None:
    with pytest.raises(ValidationError) as err:
        get_measure("walk_100m")
    assert err.value.field == "measure"
    assert "walk_100m" in str(err.value)
    assert all(mid in str(err.value) for mid in EXPECTED_IDS)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "12", None])
def test_non_numbers_are_rejected(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        validate_value("tug", bad)  # type: ignore[arg-type]
    assert str(err.value).startswith("Timed Up and Go:")
    assert "allowed: 1 to 300 s" in str(err.value)


def test_bounds_are_inclusive_and_whole_number_scales_enforced() -> None:
    assert validate_value("nprs", 0) == 0.0
    assert validate_value("nprs", 10.0) == 10.0
    with pytest.raises(ValidationError, match=r"Numeric pain rating scale: 3.5 is not a whole"):
        validate_value("nprs", 3.5)
    with pytest.raises(ValidationError, match=r"11 is out of range \(allowed: 0 to 10 points"):
        validate_value("nprs", 11)
    with pytest.raises(ValidationError, match=r"-91 is out of range \(allowed: -90 to 30°\)"):
        validate_value("knee_extension_rom", -91)


@settings(max_examples=2000, deadline=None)
@given(mid=st.sampled_from(sorted(EXPECTED_IDS)), data=st.data())
def test_values_inside_the_range_pass_and_outside_fail(mid: str, data: st.DataObject) -> None:
    m = MEASURES[mid]
    if m.integer_only:
        inside: float = data.draw(st.integers(int(m.min_value), int(m.max_value)))
    else:
        inside = data.draw(st.floats(m.min_value, m.max_value))
    assert validate_value(mid, inside) == inside
    outside = data.draw(
        st.one_of(
            st.floats(max_value=m.min_value, exclude_max=True, allow_infinity=False),
            st.floats(min_value=m.max_value, exclude_min=True, allow_infinity=False),
        ).filter(lambda v: not math.isnan(v))
    )
    with pytest.raises(ValidationError) as err:
        validate_value(mid, outside)
    assert err.value.field == m.name
    assert f"allowed: {m.allowed}" in str(err.value)
