"""Cohort curves and outcome figures from the database, on SQLite and PostgreSQL, against an
independent Python computation of the values the test stored."""

from __future__ import annotations

import uuid

import pytest
from accounts import as_user
from cohort_data import build_clinic, expected_curve, expected_outcomes

from clinic_app.domain.cohorts import AgeBand, CohortFilter, WeekBasis, quantile
from clinic_app.domain.records import Role
from clinic_app.persistence import cohorts
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService


@pytest.fixture
def clinic(db: Database) -> list:
    svcs = {name: ChartingService(db, as_user(db, name, Role.THERAPIST))
            for name in ("anna", "ben")}
    return build_clinic(svcs)


def _approx(weeks: list) -> list:
    return [(w.week, w.count, pytest.approx(w.q1), pytest.approx(w.median),
             pytest.approx(w.q3)) for w in weeks]


@pytest.mark.parametrize("measure", ["walk_6min", "knee_flexion_rom", "nprs"])
def test_curve_matches_python(db: Database, clinic: list, measure: str) -> None:
    with db.unit_of_work("t", read_only=True) as uow:
        curve = cohorts.cohort_curve(uow.session, CohortFilter(measure))
    n, weeks = expected_curve(clinic, measure)
    assert curve.patients == n
    assert [(w.week, w.count, w.q1, w.median, w.q3) for w in curve.weeks] == _approx(weeks)
    assert len(curve.weeks) >= 3


def test_filters_narrow_the_cohort(db: Database, clinic: list) -> None:
    with db.unit_of_work("t", read_only=True) as uow:
        by_start = cohorts.cohort_curve(
            uow.session, CohortFilter("walk_6min", WeekBasis.EPISODE_START,
                                      sex="female"))
        oa = cohorts.cohort_curve(uow.session, CohortFilter(
            "walk_6min", WeekBasis.EPISODE_START, diagnosis="knee_osteoarthritis"))
        anna = cohorts.cohort_curve(uow.session, CohortFilter("walk_6min", therapist="Anna"))
        nobody = cohorts.cohort_curve(uow.session, CohortFilter(
            "walk_6min", age_band=AgeBand(0, 18)))
    n, weeks = expected_curve(clinic, "walk_6min", surgery_basis=False, sex="female")
    assert (by_start.patients, _approx(weeks)) == (
        n, [(w.week, w.count, w.q1, w.median, w.q3) for w in by_start.weeks])
    n, weeks = expected_curve(clinic, "walk_6min", surgery_basis=False,
                              diagnosis="knee_osteoarthritis")
    assert oa.patients == n > 0
    assert [(w.week, w.count, w.q1, w.median, w.q3) for w in oa.weeks] == _approx(weeks)
    assert 0 < anna.patients < expected_curve(clinic, "walk_6min")[0]
    assert nobody.patients == 0 and nobody.weeks == ()


def test_age_band_is_age_at_episode_start(db: Database, clinic: list) -> None:
    band = AgeBand(30, 45)
    with db.unit_of_work("t", read_only=True) as uow:
        curve = cohorts.cohort_curve(uow.session, CohortFilter("walk_6min", age_band=band))

    def age(e) -> int:  # type: ignore[no-untyped-def]
        years = e.start.year - e.born.year
        return years - ((e.start.month, e.start.day) < (e.born.month, e.born.day))

    inside = [e for e in clinic if 30 <= age(e) < 45]
    n, weeks = expected_curve(inside, "walk_6min")
    assert curve.patients == n
    assert [(w.week, w.count, w.q1, w.median, w.q3) for w in curve.weeks] == _approx(weeks)


def test_outcomes_match_python(db: Database, clinic: list) -> None:
    with db.unit_of_work("t", read_only=True) as uow:
        measures = cohorts.measure_outcomes(uow.session)
        sessions = cohorts.session_outcomes(uow.session)
    expected = expected_outcomes(clinic)
    assert set(sessions) == set(expected)
    for diag, exp in expected.items():
        n, med, total, adverse = sessions[diag]
        assert (n, total, adverse) == (exp["episodes"], exp["sessions"], exp["adverse"])
        assert med == pytest.approx(exp["median_sessions"])
        got = {m.measure_id: (m.episodes, m.reached_mcid, pytest.approx(m.median_change))
               for m in measures[diag]}
        assert got == exp["measures"]


@pytest.mark.parametrize("values", [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0],
                                    [2.0, 9.0, 4.0, 4.0, 7.5, 1.25]])
def test_quantile_definition(values: list[float]) -> None:
    import statistics

    if len(values) > 1:
        assert [quantile(values, p) for p in (0.25, 0.5, 0.75)] == pytest.approx(
            statistics.quantiles(values, n=4, method="inclusive"))
    assert quantile(values, 0.5) == pytest.approx(statistics.median(values))


@pytest.mark.parametrize(("f", "index"), [
    (CohortFilter("tug"), "ix_cohort_week_curve"),
    (CohortFilter("tug", diagnosis="acl_reconstruction",
                  exclude_episode=str(uuid.UUID(int=1))), "ix_cohort_week_diagnosis")])
def test_curve_reads_one_range_of_the_summary(sqlite_db: Database, f: CohortFilter,
                                              index: str) -> None:
    """Each statement of a SQLite curve reads the summary's range of the measure (and of
    the diagnosis, for an overlay) in (week, value) order: no results, no sort of the rows
    (PostgreSQL's plans are measured in bench/)."""
    from sqlalchemy import func, select

    from clinic_app.persistence.cohort_summary import cohort_week

    s = cohort_week.c
    terms = cohorts.summary_conditions("sqlite", f)
    statements = [select(s.week, func.count()).where(*terms).group_by(s.week),
                  cohorts._quartiles_at_ranks(terms)]
    ranks = {"week": 1, "off1": 0, "off2": 0, "off3": 0, "frac1": 0.0, "frac2": 0.0,
             "frac3": 0.0}
    with sqlite_db.engine.connect() as conn:
        for stmt in statements:
            compiled = stmt.compile(dialect=sqlite_db.engine.dialect)
            values = compiled.construct_params(ranks)
            plan = [row[3] for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + compiled.string,
                tuple(values[k].hex if isinstance(values[k], uuid.UUID) else values[k]
                      for k in compiled.positiontup or ()))]
            assert any(index in step for step in plan), plan
            assert not any("TEMP B-TREE" in step or "test_result" in step for step in plan), plan


ACL_GRAFTS = {"acl_recon_hamstring", "acl_recon_patellar", "acl_recon_quadriceps"}


@pytest.mark.parametrize(("chosen", "kept"), [
    (CohortFilter("walk_6min", surgery="acl_reconstruction_any"), ACL_GRAFTS),
    (CohortFilter("walk_6min", surgery_type="acl_recon_patellar"), {"acl_recon_patellar"}),
    (CohortFilter("walk_6min", surgery_type="acl_repair"), {"acl_repair"}),
    (CohortFilter("walk_6min", WeekBasis.EPISODE_START, surgery="not_operated"), {None}),
])
def test_surgery_type_filter_matches_python(db: Database, clinic: list, chosen: CohortFilter,
                                            kept: set) -> None:
    with db.unit_of_work("t", read_only=True) as uow:
        curve = cohorts.cohort_curve(uow.session, chosen)
    on_start = chosen.basis is WeekBasis.EPISODE_START
    stored = [e for e in clinic if not (kept == {None} and e.surgery is not None)]
    n, weeks = expected_curve(stored, "walk_6min", surgery_basis=not on_start,
                              surgery_types=kept)
    assert curve.patients == n > 0
    assert [(w.week, w.count, w.q1, w.median, w.q3) for w in curve.weeks] == _approx(weeks)


def test_therapist_filter_is_the_treating_therapist(db: Database, clinic: list) -> None:
    with db.unit_of_work("t", read_only=True) as uow:
        ben = cohorts.cohort_curve(uow.session, CohortFilter("walk_6min", therapist="Ben"))
    n, weeks = expected_curve(clinic, "walk_6min", therapist="ben")
    assert any(e.therapist != e.by for e in clinic if e.live)  # the two differ here
    assert ben.patients == n > 0
    assert [(w.week, w.count, w.q1, w.median, w.q3) for w in ben.weeks] == _approx(weeks)


def test_an_unknown_surgery_type_is_refused_naming_the_field() -> None:
    from clinic_app.domain.errors import ValidationError

    with pytest.raises(ValidationError, match="Surgery type.*allowed: acl_recon_hamstring"):
        CohortFilter("walk_6min", surgery_type="knee_swap")  # type: ignore[arg-type]
