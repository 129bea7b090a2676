"""Hot queries use indexes: EXPLAIN QUERY PLAN on SQLite shows no full table scan.

(PostgreSQL's planner picks sequential scans on small test tables by design, so its plans
are measured in bench/ against the synthetic clinic instead.)
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Select, select, text

from clinic_app.persistence.audit import AuditRow
from clinic_app.persistence.models import EpisodeRow, TestResultRow, WalkSessionRow
from clinic_app.persistence.uow import Database


def _plan(db: Database, query: Select) -> list[str]:  # type: ignore[type-arg]
    sql = str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        return [row[3] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]


def _no_full_scan(plan: list[str]) -> bool:
    return not any(step.startswith("SCAN") and "USING" not in step for step in plan)


def _list_plan(db: Database, typed: str, count: bool = False) -> list[str]:
    """The plan of the very SQL and parameters the patient list runs for ``typed``."""
    sql, values = db.patient_list.statement(typed, count=count)
    with db.engine.connect() as conn:
        return [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(values))]


@pytest.mark.parametrize("typed", ["mul", "müller an", "DEMO-00", "23.04.1961", "1961-04-23"])
def test_patient_search_uses_indexes(sqlite_db: Database, typed: str) -> None:
    plan = _list_plan(sqlite_db, typed)
    assert not any(step.startswith("SCAN patient") and "INDEX" not in step for step in plan), plan
    assert any("USING INDEX" in step or "USING COVERING INDEX" in step for step in plan), plan


@pytest.mark.parametrize("typed", ["mul", "23.04.1961"])
def test_patient_count_uses_indexes(sqlite_db: Database, typed: str) -> None:
    plan = _list_plan(sqlite_db, typed, count=True)
    assert not any(step.startswith("SCAN patient") and "INDEX" not in step for step in plan), plan


def test_full_patient_list_walks_the_name_index(sqlite_db: Database) -> None:
    plan = _list_plan(sqlite_db, "")
    assert plan[0].startswith("SCAN patient USING INDEX ix_patient_family_key"), plan


@pytest.mark.parametrize(
    "query",
    [
        select(EpisodeRow).where(EpisodeRow.patient_id == uuid.UUID(int=1)),
        select(WalkSessionRow).where(WalkSessionRow.episode_id == uuid.UUID(int=1))
        .order_by(WalkSessionRow.performed_at),
        select(TestResultRow).where(TestResultRow.episode_id == uuid.UUID(int=1),
                                    TestResultRow.measure_id == "tug"),
        select(TestResultRow).where(TestResultRow.session_id == uuid.UUID(int=1)),
        select(AuditRow).where(AuditRow.patient_id == uuid.UUID(int=1)),
    ],
    ids=["episodes", "sessions", "tests-by-measure", "tests-by-session", "audit-by-patient"],
)
def test_chart_queries_use_indexes(sqlite_db: Database, query: Select) -> None:  # type: ignore[type-arg]
    plan = _plan(sqlite_db, query)
    assert _no_full_scan(plan), plan


def test_audit_head_lookup_reads_the_rowid_tree_backwards(sqlite_db: Database) -> None:
    """Every append reads the newest event: seq is the rowid, so no sort and no index needed."""
    plan = _plan(sqlite_db, select(AuditRow.seq, AuditRow.mac)
                 .order_by(AuditRow.seq.desc()).limit(1))
    assert plan == ["SCAN audit_event"], plan  # walks the rowid b-tree from the end, LIMIT 1


def _kind_plan(db: Database, kind: str, typed: str) -> list[str]:
    """The plan of one of the statements a search page runs (PatientList.page)."""
    from clinic_app.persistence.repositories import _search_words

    shape, values = _search_words(typed)
    prepared = db.patient_list._statement(kind, () if kind.startswith("end") else shape, False)
    values.update(limit=200, window=5000, wend=4999, af="m", ag="a", aid=uuid.UUID(int=1),
                  gv="anna", rf="m", rid=uuid.UUID(int=1), uf="n", uid=uuid.UUID(int=1))
    with db.engine.connect() as conn:
        return [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + prepared.sql,
                                                   tuple(prepared.params(values)))]


@pytest.mark.parametrize("typed", ["s", "yılm", "müller an", "SYN-0"])
def test_a_search_page_walks_the_order_index_alone(sqlite_db: Database, typed: str) -> None:
    for kind in ("walk", "walk_after"):
        plan = _kind_plan(sqlite_db, kind, typed)
        assert any("COVERING INDEX ix_patient_family_key" in step for step in plan), plan
        assert not any(step.startswith("SCAN patient") and "INDEX" not in step
                       for step in plan), plan
    end = _kind_plan(sqlite_db, "end_after", "")
    assert end == ["SEARCH patient USING COVERING INDEX ix_patient_family_key "
                   "((family_key,given_key,id)>(?,?,?))"], end


@pytest.mark.parametrize(("column", "index"), [
    ("family_key", "ix_patient_family_key (family_key>? AND family_key<?)"),
    ("given_key", "ix_patient_given_key (given_key>? AND given_key<?)"),
    ("mrn", "sqlite_autoindex_patient_2 (mrn>? AND mrn<?)"),
])
def test_each_prefix_branch_is_an_index_range(sqlite_db: Database, column: str,
                                              index: str) -> None:
    for typed in ("ande", "yılm"):
        plan = _kind_plan(sqlite_db, f"branch:0:{column}:200", typed)
        assert any(index in step for step in plan), plan
        assert not any(step.startswith("SCAN patient") for step in plan), plan


@pytest.mark.parametrize(("kind", "end"), [
    ("given_family_run:200", "(given_key,family_key,id)<(?,?,?)"),
    ("given_run:0:200:ceiling", "(given_key,family_key,id)<(?,?,?)"),
    ("given_run:0:200:open", "given_key<?"),
])
def test_a_given_name_run_is_one_range_of_its_index(sqlite_db: Database, kind: str,
                                                    end: str) -> None:
    """A run starts at its bound inside ix_patient_given_key and ends at the page's
    ceiling (or the run's end), whatever the words' letters."""
    for typed in ("k o", "yılm ande", "ande SYN-0"):
        plan = _kind_plan(sqlite_db, kind, typed)
        assert any(f"ix_patient_given_key ((given_key,family_key,id)>(?,?,?) AND {end})"
                   in step for step in plan), plan
        assert not any(step.startswith("SCAN patient") for step in plan), plan
