"""Cohort curves and outcome figures, aggregated by the database.

Nothing here loads individual results into Python: the answers are a row per week (curve)
or per diagnosis and measure (outcomes). Curves read the weekly summary
(``persistence.cohort_summary``: each episode's mean per week, kept right on every write);
the outcomes read the results themselves. Quartiles are PostgreSQL's ``percentile_cont``;
SQLite has no percentile aggregate, so the same linear interpolation is built from the
values' ranks: for the outcomes with ``row_number()`` and ``count()`` over the ordered
values, for a curve by reading the two values around each quartile's rank from the
summary's index (see ``clinic_app.domain.cohorts`` for the definition). Rows entered in
error, and everything under a patient or episode entered in error, are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, Subquery

from clinic_app.domain.cohorts import (
    CohortCurve,
    CohortFilter,
    CohortWeek,
    MeasureOutcome,
    SurgeryFilter,
)
from clinic_app.domain.measures import get_measure
from clinic_app.domain.records import ACL_RECONSTRUCTIONS, TestResult
from clinic_app.persistence.cohort_summary import cohort_week
from clinic_app.persistence.mapping import test_result_of
from clinic_app.persistence.models import EpisodeRow, PatientRow, TestResultRow, WalkSessionRow

QUARTILES = (0.25, 0.5, 0.75)


def _age_at_start_at_least(dialect: str, born: Any, start: Any, years: int
                           ) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return born <= start - func.make_interval(years)
    return born <= func.date(start, f"-{years} years")


def _age_at_start_below(dialect: str, born: Any, start: Any, years: int) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return born > start - func.make_interval(years)
    return born > func.date(start, f"-{years} years")


def summary_conditions(dialect: str, f: CohortFilter) -> list[ColumnElement[bool]]:
    """The WHERE terms choosing a cohort's rows of the weekly summary.

    The summary holds only results, episodes and patients not entered in error, one row per
    episode and week of each measure and week basis (``persistence.cohort_summary``).
    """
    s = cohort_week.c
    terms: list[ColumnElement[bool]] = [s.measure_id == f.measure_id,
                                        s.basis == f.basis.value]
    if f.diagnosis:
        terms.append(s.diagnosis == f.diagnosis)
    if f.surgery is SurgeryFilter.OPERATED:
        terms.append(s.operated.is_(True))
    elif f.surgery is SurgeryFilter.NOT_OPERATED:
        terms.append(s.operated.is_(False))
    elif f.surgery is SurgeryFilter.ACL_RECONSTRUCTION:
        terms.append(s.surgery_type.in_(sorted(str(t) for t in ACL_RECONSTRUCTIONS)))
    if f.surgery_type is not None:
        terms.append(s.surgery_type == str(f.surgery_type))
    if f.side:
        terms.append(s.affected_side == f.side)
    if f.sex:
        terms.append(s.sex == f.sex)
    if f.age_band is not None:
        terms.append(_age_at_start_at_least(dialect, s.date_of_birth, s.start_date,
                                            f.age_band.low))
        terms.append(_age_at_start_below(dialect, s.date_of_birth, s.start_date,
                                         f.age_band.high))
    if f.started_from is not None:
        terms.append(s.start_date >= f.started_from)
    if f.started_to is not None:
        terms.append(s.start_date <= f.started_to)
    if f.therapist:
        terms.append(s.therapist == f.therapist.strip().lower())
    if f.exclude_episode:
        terms.append(s.episode_id != uuid.UUID(f.exclude_episode))
    return terms


def weekly_values(dialect: str, f: CohortFilter) -> Select[Any]:
    """One row per episode and week of the cohort: ``patient_id``, ``week``, ``v`` (the
    mean of the episode's results of the measure that week) and ``first_week``.

    A result of a sided measure counts only for the affected knee (both knees for a
    bilateral episode); unsided results always count (decided when the summary is written).
    """
    s = cohort_week.c
    return select(s.patient_id, s.week, s.v, s.first_week).where(
        and_(*summary_conditions(dialect, f)))


def quartiles_by(dialect: str, values: Subquery | CTE, keys: Sequence[str],
                 value: str = "v") -> Select[Any]:
    """``keys``, ``n`` and ``q1``/``q2``/``q3`` of ``values.c[value]`` per group of ``keys``.

    PostgreSQL: ``percentile_cont``. SQLite: rank each value in its group and interpolate
    between the ranks ``floor(h)`` and ``floor(h) + 1``, ``h = (n - 1) p``; with p a quarter,
    ``(n - 1) k / 4`` in integers gives the floor and the fraction exactly.
    """
    group = [values.c[k] for k in keys]
    v = values.c[value]
    if dialect == "postgresql":
        return select(
            *group, func.count().label("n"),
            *(func.percentile_cont(p).within_group(v).label(f"q{i}")
              for i, p in enumerate(QUARTILES, 1)),
        ).group_by(*group)
    ranked = select(
        *group, v.label("v"),
        func.row_number().over(partition_by=group, order_by=v).label("rn"),
        func.count().over(partition_by=group).label("n"),
    ).subquery("ranked")
    rk = [ranked.c[k] for k in keys]
    cols: list[ColumnElement[Any]] = []
    for i in (1, 2, 3):
        steps = (ranked.c.n - 1) * i  # h = steps / 4
        lo = steps // 4 + 1  # 1-based rank of floor(h); integer division
        frac = cast(steps % 4, Float) / 4.0
        at_lo = func.max(case((ranked.c.rn == lo, ranked.c.v)))
        at_hi = func.max(case((ranked.c.rn == lo + 1, ranked.c.v)))
        fr = func.max(frac)
        cols.append((at_lo + func.coalesce((at_hi - at_lo) * fr, 0.0)).label(f"q{i}"))
    return select(*rk, func.max(ranked.c.n).label("n"), *cols).group_by(*rk)


def cohort_curve(session: Session, f: CohortFilter) -> CohortCurve:
    """The cohort's median and quartiles per week, and its number of patients, from the
    weekly summary.

    PostgreSQL: one statement (quartiles by ``percentile_cont`` per week, patients counted
    on each episode's first week). SQLite has
    no percentile aggregate, and ranking every row with window functions sorts them all
    again; the summary is already in (measure, basis, week, value) order, so the counts per
    week come first and each quartile is then read at its rank (``LIMIT 2 OFFSET k``, the
    two values it lies between) in one statement per week.
    """
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        return _ranked_curve(session, f)
    # Plain subqueries, not one common table expression read twice: PostgreSQL then reads
    # the summary's index in (week, value) order for the quartiles instead of sorting a
    # materialised copy.
    weekly = weekly_values(dialect, f).subquery("weekly")
    firsts = weekly_values(dialect, f).where(cohort_week.c.first_week.is_(True)).subquery(
        "firsts")
    patients = select(func.count(func.distinct(firsts.c.patient_id))).scalar_subquery()
    stmt = quartiles_by(dialect, weekly, ["week"]).add_columns(
        patients.label("patients")).order_by("week")
    rows = session.execute(stmt).all()
    weeks = tuple(CohortWeek(int(r.week), int(r.n), float(r.q1), float(r.q2), float(r.q3))
                  for r in rows)
    return CohortCurve(f, int(rows[0].patients) if rows else 0, weeks)


def _ranked_curve(session: Session, f: CohortFilter) -> CohortCurve:
    """SQLite: counts per week, then per week the three quartiles each read at its rank
    in the summary's value order (see :func:`cohort_curve`); all in the caller's read
    transaction, so every statement sees the same rows."""
    s = cohort_week.c
    terms = summary_conditions("sqlite", f)
    counts = session.execute(select(s.week, func.count()).where(*terms)
                             .group_by(s.week).order_by(s.week)).all()
    if not counts:
        return CohortCurve(f, 0, ())
    patients = session.execute(select(func.count(func.distinct(s.patient_id)))
                               .where(*terms, _first_weeks(f))).scalar_one()
    stmt = _quartiles_at_ranks(terms)
    weeks = []
    for week, n in counts:
        params: dict[str, Any] = {"week": week}
        for i in (1, 2, 3):
            # h = (n - 1) i / 4: the value at rank floor(h) and the fraction to the next.
            params[f"off{i}"], steps = divmod((n - 1) * i, 4)
            params[f"frac{i}"] = steps / 4.0
        q1, q2, q3 = session.execute(stmt, params).one()
        weeks.append(CohortWeek(int(week), int(n), float(q1), float(q2), float(q3)))
    return CohortCurve(f, int(patients), tuple(weeks))


def _first_weeks(f: CohortFilter) -> ColumnElement[bool]:
    """Each episode's first week, written so that SQLite uses the partial "first week"
    indexes only when they hold every column the filter tests.

    Those indexes hold measure, basis, diagnosis, patient and episode; a filter on another
    column (sex, age, side, start, therapist, surgery) would look up the table once per
    entry, slower than reading the summary's own rows in order. SQLite takes a partial
    index only when the query repeats its condition (``first_week IS 1``) word for word,
    so the equivalent ``first_week = 1`` keeps it off.
    """
    s = cohort_week.c
    covered = not (f.sex or f.age_band or f.side or f.started_from or f.started_to
                   or f.therapist or f.surgery is not SurgeryFilter.ANY
                   or f.surgery_type is not None)
    return s.first_week.is_(True) if covered else s.first_week == True  # noqa: E712


def _quartiles_at_ranks(terms: list[ColumnElement[bool]]) -> Select[Any]:
    """One week's three quartiles; parameters ``week``, ``off1..3`` (0-based rank of the
    lower value) and ``frac1..3`` (where the quartile lies between it and the next)."""
    s = cohort_week.c
    cols = []
    for i in (1, 2, 3):
        two = (select(s.v).where(*terms, s.week == bindparam("week"))
               .order_by(s.v).limit(2).offset(bindparam(f"off{i}", type_=Integer))
               .subquery(f"at{i}"))
        lo, hi = func.min(two.c.v), func.max(two.c.v)
        # A rank at the very end has no next value: min = max, and the step adds 0.
        cols.append(select(lo + bindparam(f"frac{i}", type_=Float) * (hi - lo))
                    .scalar_subquery().label(f"q{i}"))
    return select(*cols)


def _changes(dialect: str, diagnosis: str | None) -> Subquery:
    """Per episode and measure with at least two results: the first and last value."""
    order_first = (TestResultRow.performed_on, TestResultRow.created_at, TestResultRow.id)
    part = (TestResultRow.episode_id, TestResultRow.measure_id)
    terms: list[ColumnElement[bool]] = [TestResultRow.entered_in_error.is_(False),
             EpisodeRow.entered_in_error.is_(False), PatientRow.entered_in_error.is_(False)]
    if diagnosis:
        terms.append(EpisodeRow.diagnosis == diagnosis)
    sided = [m for m in _mcid_measures() if get_measure(m).sided]
    # A sided measure's change is followed on the affected knee only.
    terms.append(or_(TestResultRow.measure_id.not_in(sided) if sided else literal(True),
                     TestResultRow.side.is_(None),
                     TestResultRow.side == EpisodeRow.affected_side))
    terms.append(TestResultRow.measure_id.in_(_mcid_measures()))
    ranked = (
        select(EpisodeRow.diagnosis.label("diagnosis"), TestResultRow.episode_id,
               TestResultRow.measure_id, TestResultRow.value,
               func.row_number().over(partition_by=part, order_by=order_first).label("first"),
               func.row_number().over(partition_by=part,
                                      order_by=[c.desc() for c in order_first]).label("last"),
               func.count().over(partition_by=part).label("n"))
        .select_from(TestResultRow)
        .join(EpisodeRow, EpisodeRow.id == TestResultRow.episode_id)
        .join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
        .where(and_(*terms))
        .subquery("ranked_results")
    )
    return (
        select(ranked.c.diagnosis, ranked.c.measure_id,
               (func.max(case((ranked.c["last"] == 1, ranked.c.value)))
                - func.max(case((ranked.c["first"] == 1, ranked.c.value)))).label("change"))
        .where(ranked.c.n >= 2)
        .group_by(ranked.c.diagnosis, ranked.c.episode_id, ranked.c.measure_id)
        .subquery("changes")
    )


def _mcid_measures() -> list[str]:
    from clinic_app.domain.measures import MEASURES

    return sorted(m.id for m in MEASURES.values() if m.mcid is not None)


def measure_outcomes(session: Session, diagnosis: str | None = None
                     ) -> dict[str, list[MeasureOutcome]]:
    """Per diagnosis, each measure's episodes, MCID reached and median change."""
    dialect = session.get_bind().dialect.name
    changes = _changes(dialect, diagnosis)
    med = quartiles_by(dialect, changes, ["diagnosis", "measure_id"], "change").subquery("med")
    improved: list[ColumnElement[Any]] = []
    for mid in _mcid_measures():
        m = get_measure(mid)
        gain = changes.c.change if m.higher_is_better else -changes.c.change
        improved.append(and_(changes.c.measure_id == mid, gain >= m.mcid))
    reached = (
        select(changes.c.diagnosis, changes.c.measure_id,
               func.sum(case((or_(*improved), 1), else_=0)).label("reached"))
        .group_by(changes.c.diagnosis, changes.c.measure_id)
        .subquery("reached")
    )
    stmt = (
        select(med.c.diagnosis, med.c.measure_id, med.c.n, med.c.q2, reached.c.reached)
        .join(reached, and_(reached.c.diagnosis == med.c.diagnosis,
                            reached.c.measure_id == med.c.measure_id))
        .order_by(med.c.diagnosis, med.c.measure_id)
    )
    out: dict[str, list[MeasureOutcome]] = {}
    for r in session.execute(stmt):
        out.setdefault(r.diagnosis, []).append(MeasureOutcome(
            r.measure_id, int(r.n), get_measure(r.measure_id).mcid, int(r.reached),
            float(r.q2)))
    return out


def session_outcomes(session: Session, diagnosis: str | None = None
                     ) -> dict[str, tuple[int, float | None, int, int]]:
    """Per diagnosis: episodes, median sessions per episode, sessions, sessions with an
    adverse event recorded."""
    dialect = session.get_bind().dialect.name
    terms: list[ColumnElement[bool]] = [EpisodeRow.entered_in_error.is_(False),
                                        PatientRow.entered_in_error.is_(False)]
    if diagnosis:
        terms.append(EpisodeRow.diagnosis == diagnosis)
    live = and_(WalkSessionRow.id.is_not(None), WalkSessionRow.entered_in_error.is_(False))
    per_episode = (
        select(EpisodeRow.diagnosis.label("diagnosis"),
               func.sum(case((live, 1), else_=0)).label("sessions"),
               func.sum(case((and_(live, func.trim(WalkSessionRow.adverse_events) != ""), 1),
                             else_=0)).label("adverse"))
        .select_from(EpisodeRow)
        .join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
        .outerjoin(WalkSessionRow, WalkSessionRow.episode_id == EpisodeRow.id)
        .where(and_(*terms))
        .group_by(EpisodeRow.diagnosis, EpisodeRow.id)
        .subquery("per_episode")
    )
    med = quartiles_by(dialect, per_episode, ["diagnosis"], "sessions").subquery("med")
    totals = (
        select(per_episode.c.diagnosis, func.sum(per_episode.c.sessions).label("sessions"),
               func.sum(per_episode.c.adverse).label("adverse"))
        .group_by(per_episode.c.diagnosis).subquery("totals")
    )
    stmt = select(med.c.diagnosis, med.c.n, med.c.q2, totals.c.sessions, totals.c.adverse).join(
        totals, totals.c.diagnosis == med.c.diagnosis).order_by(med.c.diagnosis)
    return {r.diagnosis: (int(r.n), float(r.q2), int(r.sessions), int(r.adverse))
            for r in session.execute(stmt)}


def rts_candidates(session: Session, measure_ids: Sequence[str], diagnosis: str | None
                   ) -> dict[uuid.UUID, tuple[str, str, date | None, list[TestResult]]]:
    """ACL episodes that have a result of every measure a return-to-sport criteria set
    needs, with those results (nothing else): only these can have met the criteria, so the
    other episodes' rows never leave the database.

    Returns ``episode id -> (diagnosis, affected side, surgery date, results)``.
    """
    terms: list[ColumnElement[bool]] = [
        EpisodeRow.entered_in_error.is_(False), PatientRow.entered_in_error.is_(False),
        EpisodeRow.diagnosis == "acl_reconstruction", TestResultRow.entered_in_error.is_(False),
        TestResultRow.measure_id.in_(list(measure_ids))]
    if diagnosis:
        terms.append(EpisodeRow.diagnosis == diagnosis)
    complete = (
        select(TestResultRow.episode_id)
        .join(EpisodeRow, EpisodeRow.id == TestResultRow.episode_id)
        .join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
        .where(and_(*terms))
        .group_by(TestResultRow.episode_id)
        .having(func.count(func.distinct(TestResultRow.measure_id)) == len(set(measure_ids)))
    )
    rows = session.execute(
        select(TestResultRow, EpisodeRow.diagnosis, EpisodeRow.affected_side,
               EpisodeRow.surgery_date)
        .join(EpisodeRow, EpisodeRow.id == TestResultRow.episode_id)
        .where(TestResultRow.episode_id.in_(complete),
               TestResultRow.entered_in_error.is_(False),
               TestResultRow.measure_id.in_(list(measure_ids)))
    )
    out: dict[uuid.UUID, tuple[str, str, date | None, list[TestResult]]] = {}
    for row, diag, side, surgery in rows:
        out.setdefault(row.episode_id, (diag, side, surgery, []))[3].append(
            test_result_of(row))
    return out


class CohortRepository:
    """The cohort and outcome aggregations on one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def curve(self, f: CohortFilter) -> CohortCurve:
        return cohort_curve(self.s, f)

    def measure_outcomes(self, diagnosis: str | None = None) -> dict[str, list[MeasureOutcome]]:
        return measure_outcomes(self.s, diagnosis)

    def session_outcomes(self, diagnosis: str | None = None
                         ) -> dict[str, tuple[int, float | None, int, int]]:
        return session_outcomes(self.s, diagnosis)

    def rts_candidates(self, measure_ids: Sequence[str], diagnosis: str | None = None
                       ) -> dict[uuid.UUID, tuple[str, str, date | None, list[TestResult]]]:
        return rts_candidates(self.s, measure_ids, diagnosis)
