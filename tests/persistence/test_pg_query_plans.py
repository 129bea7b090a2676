"""PostgreSQL plans of the patient list, read with EXPLAIN as SQLite's are.

A few thousand patients are seeded with names across the alphabet and analysed, so the
planner has real statistics; the plans must use the prefix-capable indexes (the name keys
are ``COLLATE "C"``, so a range on them is an index condition in any database locale) and
be the same whether the typed prefix sorts first or last.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from clinic_app.persistence import rowmac
from clinic_app.persistence.mapping import search_key
from clinic_app.persistence.models import PatientRow
from clinic_app.persistence.uow import Database

NAMES = ["Andersson", "Brown", "Costa", "Dubois", "Fischer", "García", "Kowalski", "Müller",
         "Novak", "Rossi", "Schmidt", "Tanaka", "Wójcik", "Yılmaz", "Zielińska"]
GIVEN = ["Anna", "Bo", "Carla", "Emil", "Ines", "Jonas", "Lea", "Omar", "Sofia", "Yuki"]


@pytest.fixture(scope="module")
def big_pg(pg_server: Any) -> Iterator[Database]:
    db = Database.open(pg_server.create())
    now = datetime.now(UTC)
    rows = []
    for i in range(6000):
        family, given = NAMES[i % len(NAMES)], GIVEN[(i // len(NAMES)) % len(GIVEN)]
        rows.append(rowmac.sign_values(db.audit_key, "patient", {
            "id": uuid.uuid4(), "mrn": f"PL-{i:06d}", "family_name": family,
            "given_name": given, "family_key": search_key(family), "given_key": search_key(given),
            "date_of_birth": date(1940, 1, 1) + timedelta(days=i * 3), "sex": "unknown",
            "phone": "", "email": "", "notes": "", "created_at": now, "created_by": "t",
            "updated_at": now, "updated_by": "t", "version": 1, "entered_in_error": False}))
    with db.engine.begin() as conn:
        conn.execute(insert(PatientRow), rows)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE patient")  # statistics and the visibility map
    try:
        yield db
    finally:
        db.close()


def _plan(db: Database, kind: str, typed: str, **bound: Any) -> dict[str, Any]:
    """EXPLAIN (FORMAT JSON) of the statement the list runs, with the typed values bound."""
    from clinic_app.persistence.repositories import _search_words

    prepared = db.patient_list._statement(kind, _search_words(typed)[0], False)
    values = _search_words(typed)[1]
    values.update(limit=200, window=5000, af="", ag="", aid=uuid.UUID(int=0), wend=4999,
                  cap=10_001)
    values.update(bound)
    conn = db.engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("EXPLAIN (FORMAT JSON) " + prepared.sql, prepared.params(values))
        doc = cur.fetchone()[0]
        conn.rollback()
    finally:
        conn.close()
    return (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]


def _nodes(plan: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(plan["Node Type"], plan.get("Index Name", ""))]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


def _search_part(plan: dict[str, Any]) -> dict[str, Any]:
    """The LIMITed search inside a statement that then fetches the hits' rows by id (how
    those <= 200 rows are fetched is the planner's choice, by table size)."""
    if plan["Node Type"] == "Limit":
        return plan
    for child in plan.get("Plans", []):
        found = _search_part(child)
        if found:
            return found
    return {}


def _index_conds(plan: dict[str, Any]) -> list[str]:
    """Index conditions, without PostgreSQL's casts and parentheses."""
    out = []
    if "Index Cond" in plan:
        out.append(plan["Index Cond"].replace("::text", "").replace("(", "").replace(")", ""))
    for child in plan.get("Plans", []):
        out += _index_conds(child)
    return out


@pytest.mark.parametrize(("kind", "index", "column"), [
    ("branch:0:family_key:200", "ix_patient_family_key", "family_key"),
    ("branch:0:given_key:200", "ix_patient_given_key", "given_key"),
])
def test_a_prefix_is_an_index_range_wherever_it_sorts(big_pg: Database, kind: str,
                                                      index: str, column: str) -> None:
    plans = {typed: _search_part(_plan(big_pg, kind, typed))
             for typed in ("ande", "kowa", "yılm", "zie")}
    shapes = {typed: _nodes(plan) for typed, plan in plans.items()}
    assert len(set(map(tuple, shapes.values()))) == 1, shapes  # same plan for a and z
    for typed, plan in plans.items():
        assert any(name == index for _, name in shapes[typed]), shapes[typed]
        conds = " ".join(_index_conds(plan))
        assert f"{column} >=" in conds and f"{column} <" in conds, (typed, conds)
        assert "Seq Scan" not in {node for node, _ in shapes[typed]}, shapes[typed]


def test_the_walk_and_its_end_read_the_order_index_only(big_pg: Database) -> None:
    for typed in ("ande", "s", "yılm"):
        # (Which way the page's own <= 200 rows are then fetched is the planner's choice.)
        walk = _nodes(_plan(big_pg, "walk_after", typed))
        assert ("Index Only Scan", "ix_patient_family_key") in walk, walk
    end = _nodes(_plan(big_pg, "end_after", ""))
    assert end[-1] == ("Index Only Scan", "ix_patient_family_key"), end


def test_a_deep_page_by_key_starts_at_the_key(big_pg: Database) -> None:
    plan = _plan(big_pg, "after", "")
    conds = " ".join(_index_conds(plan))
    assert ("Index Scan", "ix_patient_family_key") in _nodes(plan) or \
        ("Index Only Scan", "ix_patient_family_key") in _nodes(plan), _nodes(plan)
    assert "ROWfamily_key, given_key, id >" in conds, conds


def test_a_count_of_one_letter_words_stops_at_the_cap(big_pg: Database) -> None:
    """Words of one letter each ("s a") are counted by the plain capped statement: the
    scans feed the LIMIT row by row (nothing collects, sorts or hashes every match first),
    so the count stops once the cap is reached. Where matches are rare it still has to
    test a whole letter's range, which the list's time budget bounds (count_within)."""
    for typed in ("s a", "a s", "k o"):
        plan = _plan(big_pg, "capped", typed)
        assert plan["Node Type"] == "Aggregate", plan["Node Type"]
        limit = _search_part(plan)
        assert limit, _nodes(plan)
        below = {node for node, _ in _nodes(limit)[1:]}
        blocking = {"Sort", "Hash", "HashAggregate", "Aggregate", "Unique", "Materialize",
                    "SetOp", "Gather Merge"}
        assert not below & blocking, (typed, _nodes(limit))
        assert below & {"Bitmap Index Scan", "Index Scan", "Index Only Scan"}, \
            (typed, _nodes(limit))


@pytest.mark.parametrize("kind", ["given_family_run:200", "given_run:0:200:ceiling",
                                  "given_run:0:200:open"])
def test_a_given_name_run_starts_at_its_bound(big_pg: Database, kind: str) -> None:
    """A run of one given name is read from its bound in ix_patient_given_key, with no
    range of the word's own (PostgreSQL would start there instead) and not through the
    family index's order (a whole family range, testing each given name)."""
    for typed, given in (("o k", "omar"), ("yuki ande", "yuki"), ("s z", "sofia")):
        plan = _search_part(_plan(big_pg, kind, typed, gv=given, rf="k", rid=uuid.UUID(int=0),
                                  uf="l", uid=uuid.UUID(int=0)))
        # (On this small table a bitmap of the bounded range and a sort is the planner's
        # choice for some runs; either way the range is the run's, in its index. Words
        # tested row by row may add their own ranges, ANDed with the run's bounds.)
        nodes = _nodes(plan)
        indexes = {name for _, name in nodes if name}
        assert "ix_patient_given_key" in indexes, (typed, nodes)
        assert "Seq Scan" not in {node for node, _ in nodes}, (typed, nodes)
        if kind == "given_family_run:200":
            assert indexes == {"ix_patient_given_key"}, (typed, nodes)
        conds = " ".join(_index_conds(plan))
        assert "ROWgiven_key, family_key, id >" in conds, (typed, conds)
        assert f"given_key >= '{typed.split()[0]}'" not in conds, (typed, conds)


def test_a_count_of_one_word_reads_its_ranges_one_after_the_other(big_pg: Database) -> None:
    """One word is counted range by range (family, given name, MRN), each read in its own
    index and feeding the LIMIT row by row: a family prefix is counted from the order
    index alone, never gathered into a bitmap of all its matches first."""
    from clinic_app.persistence.repositories import _search_words

    for typed in ("ande", "s", "yılm"):
        sql, _ = big_pg.patient_list.statement(typed, count=True, cap=10_001)
        assert sql == big_pg.patient_list._statement("capped_disjoint:0",
                                                     _search_words(typed)[0], False).sql
        limit = _search_part(_plan(big_pg, "capped_disjoint:0", typed))
        nodes = _nodes(limit)
        below = {node for node, _ in nodes[1:]}
        assert not below & {"Sort", "Hash", "HashAggregate", "Unique", "BitmapOr",
                            "Materialize", "SetOp"}, (typed, nodes)
        assert ("Index Only Scan", "ix_patient_family_key") in nodes, (typed, nodes)
