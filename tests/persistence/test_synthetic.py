"""The synthetic clinic generator and the fresh load under it, on a real SQLite file and the
real PostgreSQL server: what it writes is exactly what the CSV import's writer stores for
the same rows, it is a clinic the app opens (signatures verify, integrity check passes), and
a failed load leaves the empty database as it was, indexes and constraints included.
(Speed is measured by bench/synthetic.py itself; see bench/README.md.)"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select, text

from clinic_app.domain.cohorts import WeekBasis
from clinic_app.persistence import cohort_summary, rowmac
from clinic_app.persistence.bulk import COLUMNS
from clinic_app.persistence.fresh_load import FreshLoad, NotEmptyError
from clinic_app.persistence.uow import Database

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"patient": "patient", "episode": "episode", "session": "walk_session",
          "test": "test_result"}


def _synthetic() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthetic", ROOT / "bench" / "synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("synthetic", module)
    spec.loader.exec_module(module)
    return module


synthetic = _synthetic()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A factory of URLs of new, empty databases of one kind (a file; a database on the
    real server, dropped at the end of the run)."""
    made = iter(range(100))

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'clinic{next(made)}.sqlite3'}"
        return str(request.getfixturevalue("pg_server").create())

    yield make


def _raw_rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f'SELECT * FROM "{table}" ORDER BY id')]


def _schema(db: Database) -> list[tuple[Any, ...]]:
    """Indexes and foreign keys of the loaded tables, as the database describes them."""
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            return [tuple(r) for r in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")]
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "ORDER BY 1")]


def test_rows_are_what_the_import_writer_stores(new_url: Any) -> None:
    url = new_url()
    counts = synthetic.generate(url, patients=25, sessions_per_patient=3, tests_per_patient=4,
                                progress=False)
    assert (counts["patients"], counts["episodes"], counts["sessions"], counts["tests"]) == (
        25, 25, 75, 100)
    built = Database.open(url)
    copy = Database.open(new_url())
    try:
        # The same rows, read back through the column types, stored again by the import's
        # writer (persistence/bulk.py), which signs them itself.
        for kind, table in TABLES.items():
            with built.unit_of_work("test") as uow:
                t = rowmac.LAYOUTS[table].table
                rows = [tuple(r) for r in uow.session.execute(
                    select(*(t.c[c] for c in COLUMNS[kind])).order_by(t.c.id))]
                stamp = uow.session.execute(select(t.c.created_at, t.c.created_by,
                                                   t.c.updated_at, t.c.updated_by,
                                                   t.c.version).limit(1)).one()
            stamps = dict(zip(("created_at", "created_by", "updated_at", "updated_by",
                               "version"), stamp, strict=True))
            with copy.unit_of_work("test") as uow:
                uow.bulk.insert(kind, rows, stamps)
        for table in TABLES.values():
            assert _raw_rows(built, table) == _raw_rows(copy, table), table
    finally:
        built.close()
        copy.close()


def test_the_clinic_opens_and_verifies(new_url: Any) -> None:
    url = new_url()
    synthetic.generate(url, patients=40, sessions_per_patient=2, tests_per_patient=10,
                       workers=2, block_size=15, progress=False)
    db = Database.open(url)  # SQLite: the integrity check runs here and passes
    try:
        report = db.verify_audit()
        assert report.problems == []
        assert report.rows_checked == 40 + 40 + 80 + 400
        with db.engine.connect() as conn:
            mrns = [r[0] for r in conn.execute(text("SELECT mrn FROM patient ORDER BY mrn"))]
            assert mrns == [f"SYN-{i:07d}" for i in range(40)]  # every block, each once
            ids = [r[0] for r in conn.execute(text("SELECT id FROM walk_session"))]
            latest = conn.execute(text(
                "SELECT max(performed_on) FROM test_result")).scalar()
            no_surgery = conn.execute(text(
                "SELECT count(*) FROM episode WHERE surgery_date IS NULL "
                "OR surgery_date >= start_date")).scalar()
        assert len({str(i) for i in ids}) == 80
        assert all(uuid.UUID(str(i)).version == 4 for i in ids)
        if isinstance(latest, str):
            latest = date.fromisoformat(latest)
        assert latest < datetime.now(UTC).date()  # nothing dated in the future
        assert no_surgery == 0  # every episode is a knee episode after surgery
    finally:
        db.close()


@pytest.mark.parametrize("summary", [False, True], ids=["records", "with-summary"])
def test_a_failed_load_leaves_the_empty_database_as_it_was(new_url: Any,
                                                          summary: bool) -> None:
    url = new_url()
    db = Database.open(url)
    key = db.audit_key
    before = _schema(db)
    db.close()
    gen = synthetic.Generator("sqlite" if url.startswith("sqlite") else "postgresql", key,
                              patients=20, sessions=2, tests=2, seed=3, size=10)
    block = gen.block(0)
    orphan = gen.block(1)["walk_session"]  # sessions whose episodes are never written
    layouts = gen.layouts
    with pytest.raises(Exception, match="(?i)foreign key"), \
            FreshLoad(url, summary=summary) as load:
        for table in ("patient", "episode", "walk_session"):
            load.put(table, layouts[table].columns, block[table], layouts[table].same)
        if summary:
            load.put("cohort_week", gen.summary_layout.columns, block["cohort_week"],
                     gen.summary_layout.same)
        load.put("walk_session", layouts["walk_session"].columns, orphan,
                 layouts["walk_session"].same)
    db = Database.open(url)
    try:
        assert _schema(db) == before
        for table in TABLES.values():
            assert _raw_rows(db, table) == []
        assert _summary_stored(db) == []
    finally:
        db.close()


def test_only_an_empty_database_is_loaded(new_url: Any) -> None:
    url = new_url()
    synthetic.generate(url, patients=3, sessions_per_patient=1, tests_per_patient=1,
                       progress=False)
    db = Database.open(url)
    before = _raw_rows(db, "patient")
    db.close()
    with pytest.raises(NotEmptyError, match="already holds 3 rows in patient"):
        synthetic.generate(url, patients=3, progress=False)
    db = Database.open(url)
    try:
        assert _raw_rows(db, "patient") == before
        assert db.verify_audit().problems == []
    finally:
        db.close()


def test_the_signing_shortcuts_give_the_rows_signatures() -> None:
    key = b"k" * 32
    row = {"id": uuid.uuid4(), "episode_id": uuid.uuid4(), "performed_on": date(2024, 5, 6),
           "measure_id": "tug", "value": 11.3, "side": None, "session_id": None,
           "items": None, "notes": "", "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
           "created_by": "x%y", "updated_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
           "updated_by": "x", "version": 1, "entered_in_error": False, "error_reason": None}
    varying = ("episode_id", "id", "measure_id", "performed_on", "value")
    template, order = rowmac.canonical_template(
        "test_result", varying, {k: v for k, v in row.items() if k not in varying})
    assert order == varying
    signed = (str(row["episode_id"]), str(row["id"]), "tug", "2024-05-06", repr(11.3))
    assert (template % signed).encode() == rowmac.canonical("test_result", row)
    for secret in (key, b"", b"x" * 100):  # short, empty and longer than a SHA-256 block
        inner, outer = rowmac.hmac_states(secret, b"start")
        inner, outer = inner.copy(), outer.copy()
        inner.update(b" and the rest")
        outer.update(inner.digest())
        assert outer.hexdigest() == hmac.new(secret, b"start and the rest",
                                             hashlib.sha256).hexdigest()


def _summary(conn: Any) -> list[tuple[Any, ...]]:
    c = cohort_summary.cohort_week.c
    return [tuple(r) for r in conn.execute(select(*cohort_summary.cohort_week.columns)
                                           .order_by(c.episode_id, c.measure_id, c.basis,
                                                     c.week))]


def _summary_stored(db: Database) -> list[tuple[Any, ...]]:
    """The summary's rows as the database stores them (SQLite: with each value's type)."""
    names = [c.name for c in cohort_summary.cohort_week.columns]
    listed = ", ".join(names)
    if db.dialect == "sqlite":
        listed += ", " + ", ".join(f"typeof({n})" for n in names)
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT {listed} FROM cohort_week ORDER BY episode_id, measure_id, basis, week")]


@pytest.mark.parametrize("summary_rows", [True, False], ids=["generated", "by-select"])
def test_the_cohort_summary_is_what_a_rebuild_gives(new_url: Any, summary_rows: bool) -> None:
    # 107 results 7 days apart: the last ones fall after the summary's last week on one
    # week basis or both, so the cut-off is tested too.
    url = new_url()
    synthetic.generate(url, patients=60, sessions_per_patient=1, tests_per_patient=107,
                       workers=2 if summary_rows else 1, block_size=25, progress=False,
                       summary_rows=summary_rows)
    db = Database.open(url)
    empty = Database.open(new_url())
    try:
        stored = _summary_stored(db)
        with db.engine.connect() as conn, conn.begin() as tx:
            as_read = _summary(conn)
            cohort_summary.rebuild(conn)  # from scratch, episodes in chunks, rolled back
            fresh = _summary(conn)
            tx.rollback()
        assert len(stored) == 60 * (105 + 104)  # weeks 0-104 from the start, 1-104 after surgery
        assert {r[1] for r in as_read} == {b.value for b in WeekBasis}
        assert {r[4] for r in as_read} == {r[4] for r in fresh}  # every episode
        # Same rows; the weekly means to the last bits a different summing order leaves.
        assert [r[:3] + r[4:] for r in as_read] == [r[:3] + r[4:] for r in fresh]
        assert [r[3] for r in as_read] == pytest.approx([r[3] for r in fresh], rel=1e-12)
        # Its indexes dropped for the load are all back, as the migrations define them.
        assert sorted(_schema(db)) == sorted(_schema(empty))
        # The exclusive rebuild (a migration's) stores the same values with the same types.
        with db.engine.begin() as conn:
            cohort_summary.rebuild(conn, exclusive=True)
        assert _summary_stored(db) == stored
    finally:
        db.close()
        empty.close()
