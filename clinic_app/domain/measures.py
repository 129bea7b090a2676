"""Catalogue of the standardized tests and questionnaires Backstep charts.

Each :class:`Measure` carries its unit (display text and UCUM code), the range a value may
take, display precision, direction (``higher_is_better``), the minimal clinically important
difference (MCID) where one is published, reference bands (cut-offs, goals) and the source.

Honesty rules for this file: an MCID is only given where a published value exists and the
population it came from is named in ``mcid_source``; otherwise ``mcid`` is ``None`` and
``mcid_source`` says why. LOINC codes are only given where we are certain of the code
(NPRS 72514-3); everything else is ``None`` rather than a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

from clinic_app.domain.errors import ValidationError

BAND_KINDS = ("cutoff", "normative", "goal")
SCORED_SCALES = frozenset({"global_rating"})  # a rated scale although not itemised


@dataclass(frozen=True)
class Band:
    """A reference band on a measure's scale.

    ``low``/``high`` of ``None`` mean unbounded on that side. ``kind``:

    * ``"cutoff"`` - a value inside the band is a warning sign (e.g. fall risk);
    * ``"goal"`` - a value inside the band meets a clinical criterion;
    * ``"normative"`` - a typical range in a reference population (informative only).
    """

    label: str
    low: float | None
    high: float | None
    kind: str
    low_inclusive: bool = True
    high_inclusive: bool = True
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in BAND_KINDS:
            raise ValueError(f"band kind {self.kind!r} not in {BAND_KINDS}")
        if self.low is None and self.high is None:
            raise ValueError("a band needs at least one bound")

    def contains(self, value: float) -> bool:
        """True if ``value`` lies in the band (respecting the inclusive flags)."""
        if self.low is not None and (
            value < self.low or (value == self.low and not self.low_inclusive)
        ):
            return False
        return not (
            self.high is not None
            and (value > self.high or (value == self.high and not self.high_inclusive))
        )

    def describe(self, unit: str = "") -> str:
        """Human text of the band's bounds, e.g. ``"more than 13.5 s"``."""
        sfx = unit if unit in ("", "°") else f" {unit}"
        if self.low is not None and self.high is not None:
            return f"{self.low:g}-{self.high:g}{sfx}"
        if self.low is not None:
            word = "at least" if self.low_inclusive else "more than"
            return f"{word} {self.low:g}{sfx}"
        assert self.high is not None
        word = "at most" if self.high_inclusive else "less than"
        return f"{word} {self.high:g}{sfx}"


@dataclass(frozen=True)
class Measure:
    """One standardized test or questionnaire (sub)scale."""

    id: str
    name: str
    short_name: str
    unit: str  # display unit, "" for none
    ucum: str  # UCUM code
    min_value: float
    max_value: float
    decimals: int
    higher_is_better: bool
    mcid: float | None
    mcid_source: str
    sided: bool
    loinc: str | None
    bands: tuple[Band, ...] = ()
    items: int | None = None  # questionnaire item count, None for performance tests
    source: str = ""
    integer_only: bool = False  # values must be whole numbers (e.g. NPRS)
    item_unit: str = ""  # unit of the parts of a multi-part test (Y-Balance: "mm")
    paired: bool = False  # a limb pair: both sides measured, symmetry (LSI) computed

    @property
    def is_questionnaire(self) -> bool:
        return self.items is not None and not self.item_unit

    @cached_property
    def allowed(self) -> str:
        """The allowed range as text, used in every validation message (built once)."""
        sfx = self.unit if self.unit in ("", "°") else f" {self.unit}"
        whole = ", whole numbers" if self.integer_only else ""
        return f"{self.min_value:g} to {self.max_value:g}{sfx}{whole}"

    @cached_property
    def reading(self) -> str:
        """How to read a value: the scale of a score and which way is better, e.g.
        ``"0-100 points, higher is better"`` or ``"lower is better"``."""
        better = "higher is better" if self.higher_is_better else "lower is better"
        if not (self.is_questionnaire or self.unit == "points" or self.id in SCORED_SCALES):
            return better
        sfx = "" if self.unit in ("", "°") else (" %" if self.unit == "%" else f" {self.unit}")
        return f"{self.min_value:g}-{self.max_value:g}{sfx}, {better}"

    def format_value(self, value: float, signed: bool = False, decimals: int | None = None) -> str:
        """``value`` at display precision with unit, e.g. ``"9.8 s"``, ``"+15 points"``.

        ``decimals`` overrides the display precision (to show why a verdict was reached).
        """
        places = self.decimals if decimals is None else decimals
        text = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
        if text.lstrip("+-").strip("0.") == "":  # avoid "-0.0" / "+0"
            text = f"{0:.{places}f}"
        if not self.unit:
            return text
        if self.unit == "°":
            return f"{text}°"
        return f"{text} {self.unit}"


_KOOS_SOURCE = (
    "Roos EM, Lohmander LS. The Knee injury and Osteoarthritis Outcome Score (KOOS): from joint "
    "injury to osteoarthritis. Health Qual Life Outcomes 2003;1:64; KOOS User's Guide and "
    "'KOOS Scoring 2012' (koos.nu): items 0-4, score = 100 - mean(answered) x 100/4."
)
_KOOS_MCID_SOURCE = (
    "8-10 points suggested by the KOOS developers (Roos & Lohmander 2003, KOOS User's Guide); "
    "the lower bound, 8 points, is used. Population-specific values vary widely."
)
_LSI_GOAL = Band(
    "return-to-sport criterion",
    90.0,
    None,
    "goal",
    source="Grindem H et al. Br J Sports Med 2016;50:804-808 (Delaware-Oslo ACL cohort); "
    "van Melick N et al. Br J Sports Med 2016;50:1506-1515 (KNGF ACL guideline).",
)


def _koos(mid: str, name: str, short: str, items: int) -> Measure:
    return Measure(
        id=mid,
        name=name,
        short_name=short,
        unit="points",
        ucum="{score}",
        min_value=0.0,
        max_value=100.0,
        decimals=1,
        higher_is_better=True,
        mcid=8.0,
        mcid_source=_KOOS_MCID_SOURCE,
        sided=False,
        loinc=None,
        items=items,
        source=f"KOOS {short.removeprefix('KOOS ')} subscale, {items} items. " + _KOOS_SOURCE,
    )


_ALL: tuple[Measure, ...] = (
    Measure(
        id="bwt_3m",
        name="3-metre backward walk test",
        short_name="3MBWT",
        unit="s",
        ucum="s",
        min_value=0.5,
        max_value=120.0,
        decimals=1,
        higher_is_better=False,
        mcid=None,
        mcid_source="No MCID has been published for the 3MBWT.",
        sided=False,
        loinc=None,
        bands=(
            Band(
                "fall-risk cut-off (older adults)",
                4.5,
                None,
                "cutoff",
                low_inclusive=False,
                source="Carter V et al. J Geriatr Phys Ther 2019;42(4):249-255 "
                "(community-dwelling older adults).",
            ),
            Band(
                "low-risk limit (older adults)",
                None,
                3.0,
                "normative",
                source="Carter V et al. J Geriatr Phys Ther 2019;42(4):249-255: 3.0 s or "
                "less, low fall risk in community-dwelling older adults.",
            ),
        ),
        source="Carter V, Jain T, James J, Cornwall M, Aldrich A, de Heer HD. The 3-m Backwards "
        "Walk and retrospective falls: diagnostic accuracy of a novel clinical measure. "
        "J Geriatr Phys Ther 2019;42(4):249-255. Time (s) to walk 3 m backwards.",
    ),
    Measure(
        id="backward_speed",
        name="Backward walking speed",
        short_name="Backward speed",
        unit="m/s",
        ucum="m/s",
        min_value=0.01,
        max_value=3.0,
        decimals=2,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID has been published for backward walking speed.",
        sided=False,
        loinc=None,
        bands=(
            Band(
                "fallers' reference speed",
                None,
                0.6,
                "normative",
                high_inclusive=False,
                source="Fritz NE et al. Backward walking measures are sensitive to age-related "
                "changes in mobility and balance. Gait Posture 2013;37:593-597: fallers "
                "walked backwards slower than 0.6 m/s.",
            ),
        ),
        source="Backward walking speed (m/s) over a measured distance, e.g. 3 m / 3MBWT time "
        "(Carter et al. 2019).",
    ),
    Measure(
        id="tug",
        name="Timed Up and Go",
        short_name="TUG",
        unit="s",
        ucum="s",
        min_value=1.0,
        max_value=300.0,
        decimals=1,
        higher_is_better=False,
        mcid=None,
        mcid_source="No MCID has been established for knee rehabilitation (the often quoted "
        "0.8 s comes from hip osteoarthritis, Wright AA et al. 2011). In knee osteoarthritis "
        "the minimal detectable change is about 1.1 s (Alghadir A, Anwer S, Brismee JM. BMC "
        "Musculoskelet Disord 2015;16:174); a smaller change may be measurement error.",
        sided=False,
        loinc=None,
        bands=(
            Band(
                "fall-risk cut-off (older adults)",
                13.5,
                None,
                "cutoff",
                source="Shumway-Cook A, Brauer S, Woollacott M. Phys Ther "
                "2000;80(9):896-903; Barry E et al. BMC Geriatr 2014;14:14 (13.5 s or "
                "more; community-dwelling older adults).",
            ),
        ),
        source="Podsiadlo D, Richardson S. The timed 'Up & Go'. J Am Geriatr Soc "
        "1991;39(2):142-148; fall-risk cut-off 13.5 s or more in community-dwelling older "
        "adults (Shumway-Cook et al. 2000; Barry et al. 2014).",
    ),
    Measure(
        id="walk_10m",
        name="10-metre walk test (gait speed)",
        short_name="10MWT",
        unit="m/s",
        ucum="m/s",
        min_value=0.05,
        max_value=3.0,
        decimals=2,
        higher_is_better=True,
        mcid=0.1,
        mcid_source="0.1 m/s substantial meaningful change (Perera S et al. J Am Geriatr Soc "
        "2006;54(5):743-749; older adults).",
        sided=False,
        loinc=None,
        source="10 m walk test, comfortable gait speed (m/s); MCID Perera et al. 2006. No "
        "cut-off band: published thresholds come from stroke/geriatric cohorts.",
    ),
    Measure(
        id="walk_6min",
        name="6-minute walk test",
        short_name="6MWT",
        unit="m",
        ucum="m",
        min_value=0.0,
        max_value=1200.0,
        decimals=0,
        higher_is_better=True,
        mcid=50.0,
        mcid_source="About 50 m substantial meaningful change (Perera S et al. 2006, older "
        "adults); published values range ~14-50 m depending on population.",
        sided=False,
        loinc=None,
        source="ATS statement: guidelines for the six-minute walk test. Am J Respir Crit Care "
        "Med 2002;166:111-117.",
    ),
    Measure(
        id="knee_flexion_rom",
        name="Knee flexion range of motion",
        short_name="Knee flexion",
        unit="°",
        ucum="deg",
        min_value=0.0,
        max_value=165.0,
        decimals=0,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID published; goniometric measurement error is about 5-10°.",
        sided=True,
        loinc=None,
        source="Goniometric knee flexion (deg) per Norkin CC, White DJ. Measurement of Joint "
        "Motion: A Guide to Goniometry. Recorded per side.",
    ),
    Measure(
        id="knee_extension_rom",
        name="Knee extension range of motion",
        short_name="Knee extension",
        unit="°",
        ucum="deg",
        min_value=-90.0,
        max_value=30.0,
        decimals=0,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID published; goniometric measurement error is about 5-10°.",
        sided=True,
        loinc=None,
        bands=(
            Band(
                "full-extension goal",
                0.0,
                None,
                "goal",
                source="Full extension is the first post-operative goal (van Melick et al. "
                "2016; Adams et al. 2012).",
            ),
        ),
        source="Sign convention: 0° = full (neutral) extension; negative = extension deficit "
        "(e.g. -5° means 5° short of straight); positive = hyperextension. Goniometry per "
        "Norkin & White. Recorded per side.",
    ),
    Measure(
        id="quad_lsi",
        name="Quadriceps strength limb symmetry index",
        short_name="Quad LSI",
        unit="%",
        ucum="%",
        min_value=0.0,
        max_value=200.0,
        decimals=1,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID published for LSI; the 90 % criterion is a threshold, not an MCID.",
        sided=False,
        loinc=None,
        bands=(_LSI_GOAL,),
        source="LSI = involved / uninvolved x 100 (isometric/isokinetic quadriceps strength). "
        "Grindem et al. 2016; van Melick et al. 2016.",
    ),
    Measure(
        id="hop_lsi",
        name="Hop test limb symmetry index",
        short_name="Hop LSI",
        unit="%",
        ucum="%",
        min_value=0.0,
        max_value=200.0,
        decimals=1,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID published for LSI; the 90 % criterion is a threshold, not an MCID.",
        sided=False,
        loinc=None,
        bands=(_LSI_GOAL,),
        source="Hop test battery LSI = involved / uninvolved x 100 for distances, uninvolved / "
        "involved x 100 for the 6-m timed hop (Noyes FR et al. Am J Sports Med "
        "1991;19:513-518); >= 90 % criterion Grindem et al. 2016.",
    ),
    Measure(
        id="nprs",
        name="Numeric pain rating scale",
        short_name="NPRS",
        unit="points",
        ucum="{score}",
        min_value=0.0,
        max_value=10.0,
        decimals=0,
        higher_is_better=False,
        mcid=2.0,
        mcid_source="2 points (Farrar JT et al. Pain 2001;94:149-158; Childs JD et al. Spine "
        "2005;30:1331-1334).",
        sided=False,
        loinc="72514-3",
        integer_only=True,
        source="11-point NPRS, 0 = no pain, 10 = worst imaginable pain. LOINC 72514-3.",
    ),
    _koos("koos_pain", "KOOS Pain", "KOOS Pain", 9),
    _koos("koos_symptoms", "KOOS Symptoms", "KOOS Symptoms", 7),
    _koos("koos_adl", "KOOS Function in daily living", "KOOS ADL", 17),
    _koos("koos_sport_rec", "KOOS Function in sport and recreation", "KOOS Sport/Rec", 5),
    _koos("koos_qol", "KOOS Knee-related quality of life", "KOOS QoL", 4),
    Measure(
        id="lefs",
        name="Lower Extremity Functional Scale",
        short_name="LEFS",
        unit="points",
        ucum="{score}",
        min_value=0.0,
        max_value=80.0,
        decimals=0,
        higher_is_better=True,
        mcid=9.0,
        mcid_source="9 points (Binkley JM et al. Phys Ther 1999;79:371-383).",
        sided=False,
        loinc=None,
        items=20,
        integer_only=True,
        source="Binkley JM, Stratford PW, Lott SA, Riddle DL. The Lower Extremity Functional "
        "Scale (LEFS). Phys Ther 1999;79(4):371-383. 20 items 0-4, total 0-80.",
    ),
    Measure(
        id="ikdc",
        name="IKDC Subjective Knee Evaluation Form",
        short_name="IKDC",
        unit="points",
        ucum="{score}",
        min_value=0.0,
        max_value=100.0,
        decimals=1,
        higher_is_better=True,
        mcid=None,
        mcid_source="Irrgang JJ et al. (Am J Sports Med 2006;34:1567-1573) report different "
        "minimal important changes at 6 and 12 months after knee surgery, so no single "
        "figure is applied.",
        sided=False,
        loinc=None,
        items=18,
        source="Irrgang JJ et al. Development and validation of the International Knee "
        "Documentation Committee subjective knee form. Am J Sports Med 2001;29:600-613; "
        "scoring instructions on the IKDC 2000 form: sum / sum of the maximum of the answered "
        "items x 100, items 2 and 3 reversed, 10a not scored, at least 16 of 18 answered.",
    ),
    Measure(
        id="kos_adls",
        name="KOS Activities of Daily Living Scale",
        short_name="KOS-ADLS",
        unit="%",
        ucum="%",
        min_value=0.0,
        max_value=100.0,
        decimals=1,
        higher_is_better=True,
        mcid=7.1,
        mcid_source="7.1 percentage points in patellofemoral pain (Piva SR et al. J Rehabil "
        "Med 2009;41:129-135); not established after ACL reconstruction.",
        sided=False,
        loinc=None,
        items=14,
        bands=(
            Band("return-to-sport criterion", 90.0, None, "goal",
                 source="Grindem H et al. Br J Sports Med 2016;50:804-808."),
        ),
        source="Irrgang JJ, Snyder-Mackler L, Wainner RS, Fu FH, Harner CD. Development of a "
        "patient-reported measure of function of the knee. J Bone Joint Surg Am "
        "1998;80:1132-1145. 14 items 0-5, score = sum / 70 x 100.",
    ),
    Measure(
        id="global_rating",
        name="Global rating of knee function",
        short_name="Global rating",
        unit="%",
        ucum="%",
        min_value=0.0,
        max_value=100.0,
        decimals=0,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID has been published for the global rating of knee function.",
        sided=False,
        loinc=None,
        bands=(
            Band("return-to-sport criterion", 90.0, None, "goal",
                 source="Grindem H et al. Br J Sports Med 2016;50:804-808."),
        ),
        source="Patient's rating of current knee function, 0 (unable to do any activity) to "
        "100 (level before the injury, including sport); Grindem et al. 2016; Logerstedt D et "
        "al. J Orthop Sports Phys Ther 2012;42:A1-A57.",
    ),
    Measure(
        id="lysholm",
        name="Lysholm Knee Scoring Scale",
        short_name="Lysholm",
        unit="points",
        ucum="{score}",
        min_value=0.0,
        max_value=100.0,
        decimals=0,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID established; Briggs KK et al. (Am J Sports Med 2009;37:890-897) "
        "report measurement error for ACL injuries, not a minimal important change.",
        sided=False,
        loinc=None,
        items=8,
        integer_only=True,
        bands=(
            Band("poor (Lysholm rating)", None, 65.0, "normative", high_inclusive=False,
                 source="Tegner Y, Lysholm J. Clin Orthop 1985;198:43-49: excellent 95-100, "
                 "good 84-94, fair 65-83, poor below 65."),
        ),
        source="Lysholm J, Gillquist J. Am J Sports Med 1982;10:150-154; Tegner Y, Lysholm J. "
        "Rating systems in the evaluation of knee ligament injuries. Clin Orthop "
        "1985;198:43-49. 8 items, 0-100.",
    ),
    Measure(
        id="kujala",
        name="Kujala Anterior Knee Pain Scale",
        short_name="Kujala (AKPS)",
        unit="points",
        ucum="{score}",
        min_value=0.0,
        max_value=100.0,
        decimals=0,
        higher_is_better=True,
        mcid=None,
        mcid_source="No single MCID is applied: published minimal important changes differ "
        "by population and method.",
        sided=False,
        loinc=None,
        items=13,
        integer_only=True,
        source="Kujala UM, Jaakkola LH, Koskinen SK, Taimela S, Hurme M, Nelimarkka O. "
        "Scoring of patellofemoral disorders. Arthroscopy 1993;9:159-163. 13 items, the "
        "form's points, sum 0-100 (100 = no anterior knee pain or limitation).",
    ),
    Measure(
        id="tegner",
        name="Tegner activity level",
        short_name="Tegner",
        unit="",
        ucum="{score}",
        min_value=0.0,
        max_value=10.0,
        decimals=0,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID established; Briggs KK et al. 2009 report a minimal detectable "
        "change of 1 level after ACL injury.",
        sided=False,
        loinc=None,
        items=2,
        integer_only=True,
        source="Tegner Y, Lysholm J. Clin Orthop 1985;198:43-49. Level 0-10 recorded before "
        "the injury (item 1) and now (item 2); the current level is the value charted.",
    ),
    Measure(
        id="acl_rsi",
        name="ACL Return to Sport after Injury scale",
        short_name="ACL-RSI",
        unit="points",
        ucum="{score}",
        min_value=0.0,
        max_value=100.0,
        decimals=1,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID has been published for the ACL-RSI.",
        sided=False,
        loinc=None,
        items=12,
        bands=(
            Band("return-to-sport criterion", 56.0, None, "goal", low_inclusive=False,
                 source="Welling W et al. Knee Surg Sports Traumatol Arthrosc "
                 "2018;26:3636-3644: ACL-RSI more than 56."),
        ),
        source="Webster KE, Feller JA, Lambros C. Development and preliminary validation of a "
        "scale to measure the psychological impact of returning to sport following anterior "
        "cruciate ligament reconstruction surgery. Phys Ther Sport 2008;9:9-15. 12 items "
        "0-10, mean scaled to 0-100.",
    ),
    *(
        Measure(
            id=mid,
            name=name,
            short_name=short,
            unit="cm",
            ucum="cm",
            min_value=1.0,
            max_value=limit,
            decimals=0,
            higher_is_better=True,
            mcid=None,
            mcid_source="No MCID; judged by limb symmetry (LSI) against the other leg.",
            sided=True,
            loinc=None,
            paired=True,
            source=f"{name}, best of the trials per leg (Noyes FR, Barber SD, Mangine RE. Am "
            "J Sports Med 1991;19:513-518). LSI = involved / uninvolved x 100.",
        )
        for mid, name, short, limit in (
            ("hop_single", "Single-leg hop for distance", "Single hop", 400.0),
            ("hop_triple", "Triple hop for distance", "Triple hop", 1200.0),
            ("hop_crossover", "Crossover hop for distance", "Crossover hop", 1200.0),
        )
    ),
    Measure(
        id="hop_6m_timed",
        name="6-metre timed hop",
        short_name="6-m timed hop",
        unit="s",
        ucum="s",
        min_value=0.5,
        max_value=30.0,
        decimals=2,
        higher_is_better=False,
        mcid=None,
        mcid_source="No MCID; judged by limb symmetry (LSI) against the other leg.",
        sided=True,
        loinc=None,
        paired=True,
        source="6-m timed hop (Noyes et al. 1991). Timed test: LSI = uninvolved / involved "
        "x 100, so a slower involved leg gives an LSI below 100 %.",
    ),
    Measure(
        id="y_balance",
        name="Y-Balance Test lower quarter (composite)",
        short_name="Y-Balance",
        unit="%",
        ucum="%",
        min_value=0.0,
        max_value=300.0,
        decimals=1,
        higher_is_better=True,
        mcid=None,
        mcid_source="No MCID has been published for the Y-Balance composite.",
        sided=True,
        loinc=None,
        items=4,
        item_unit="mm",
        paired=True,
        source="Plisky PJ et al. The reliability of an instrumented device for measuring "
        "components of the star excursion balance test. N Am J Sports Phys Ther 2009;4:92-99. "
        "Anterior, posteromedial and posterolateral reach and limb length (mm); composite = "
        "sum of reaches / (3 x limb length) x 100. Anterior asymmetry of 4 cm or more: Plisky "
        "PJ et al. J Orthop Sports Phys Ther 2006;36:911-919.",
    ),
    *(
        Measure(
            id=mid,
            name=name,
            short_name=short,
            unit="N·m",
            ucum="N.m",
            min_value=0.0,
            max_value=1000.0,
            decimals=1,
            higher_is_better=True,
            mcid=None,
            mcid_source="No MCID; judged by limb symmetry against the other leg.",
            sided=True,
            loinc=None,
            paired=True,
            source=f"{name}, peak torque by isokinetic or fixed dynamometry (use the same "
            "device, speed and lever arm on both legs). Quadriceps LSI = involved / "
            "uninvolved x 100 (Grindem et al. 2016); H:Q ratio = hamstring / quadriceps.",
        )
        for mid, name, short in (
            ("quad_strength", "Quadriceps strength", "Quad strength"),
            ("hamstring_strength", "Hamstring strength", "Hamstring strength"),
        )
    ),
)

MEASURES: dict[str, Measure] = {m.id: m for m in _ALL}


def get_measure(measure_id: str) -> Measure:
    """The catalogue entry for ``measure_id``; unknown ids raise :class:`ValidationError`."""
    try:
        return MEASURES[measure_id]
    except (KeyError, TypeError):
        raise ValidationError(
            "measure", f"{measure_id!r} is not a known measure", allowed=", ".join(MEASURES)
        ) from None


OLDER_ADULT_BANDS = frozenset({"bwt_3m"})  # bands derived in community-dwelling older adults


def clinic_measure(measure_id: str, bwt_fall_flag: bool = True) -> Measure:
    """The catalogue entry as this clinic shows it.

    The 3MBWT bands come from community-dwelling older adults (Carter et al. 2019); a clinic
    whose patients are not from that population switches them off (Settings › Clinical),
    and then no fall-risk verdict is drawn from the 3MBWT.
    """
    m = get_measure(measure_id)
    if bwt_fall_flag or m.id not in OLDER_ADULT_BANDS:
        return m
    return replace(m, bands=(), source=m.source + " Fall-risk bands not applied: the clinic's "
                   "patients are not the population they were derived in.")


def check_number(field: str, value: object, allowed: str) -> float:
    """``value`` as a finite float; bools, text, NaN and infinities raise ValidationError."""
    cls = value.__class__
    if cls is float or cls is int:  # fast path for the common case (imports check millions)
        number = float(value)  # type: ignore[arg-type]
        if number - number == 0.0:  # finite (inf - inf and nan - nan are nan)
            return number
        raise ValidationError(field, f"{value!r} is not a finite number", allowed)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"{value!r} is not a number", allowed)
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(field, f"{value!r} is not a finite number", allowed)
    return number


def validate_value(measure_id: str, value: float) -> float:
    """Check ``value`` for ``measure_id`` and return it as float.

    Raises :class:`ValidationError` naming the measure and its allowed range when the value
    is not a finite number, out of range, or (for whole-number scales) not whole.
    """
    m = get_measure(measure_id)
    number = check_number(m.name, value, m.allowed)
    if not m.min_value <= number <= m.max_value:
        raise ValidationError(m.name, f"{number:g} is out of range", m.allowed)
    if m.integer_only and not number.is_integer():
        raise ValidationError(m.name, f"{number:g} is not a whole number", m.allowed)
    return number
