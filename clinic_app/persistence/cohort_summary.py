"""The weekly cohort summary: one row per episode, measure, week basis and week.

A cohort curve needs, per week, the quartiles of one value per episode (the mean of its
results that week). Computing those means from the results on every view reads, joins and
groups every result of the measure; on a clinic of 100,000 patients that is seconds. This
table holds them ready, with the columns the cohort filters test copied from the episode and
the patient, so a curve reads one contiguous range of it in (measure, basis, week, value)
order and does nothing but rank.

It is derived data and kept exactly right in the transaction of every write that can change
it, by recomputing the rows of the episodes concerned from the stored records (never by
adding or subtracting, which would drift):

* ORM writes (results, episodes, patients: new, edited, entered in error) through a
  ``after_flush`` hook on the unit of work's sessions (:func:`maintain`);
* the import's batched writer calls :func:`after_bulk_insert`;
* a restore and a clinic move, which copy the stored records wholesale, and migration 0009
  (which fills the table 0008 made) call :func:`rebuild`, which recomputes everything (by
  :func:`fill_statements` when no one else reads the table meanwhile, otherwise in chunks
  of episodes);
* the synthetic clinics' fresh load (``fresh_load.py``) takes the generator's summary rows
  with the records, or runs :func:`fill_sql` at its end.

Only results, episodes and patients not entered in error are summarised, and a sided
measure's results only for the affected knee (both knees for a bilateral episode), as the
curve has always counted them. The table lives outside ``Base.metadata`` on purpose: the
backup's table dump, the move's copy-and-compare and the restore copy only the records, and
this table is rebuilt from them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    Uuid,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.schema import CreateIndex, DropIndex
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from clinic_app.domain.cohorts import MAX_WEEKS, WeekBasis
from clinic_app.domain.measures import MEASURES
from clinic_app.persistence.models import NAMING, EpisodeRow, PatientRow, TestResultRow

DERIVED = MetaData(naming_convention=NAMING)
"""Tables computed from the records; rebuilt, never copied or restored."""

cohort_week = Table(
    "cohort_week", DERIVED,
    Column("measure_id", String(40), nullable=False),
    Column("basis", String(10), nullable=False),  # a WeekBasis value
    Column("week", Integer, nullable=False),
    Column("v", Float, nullable=False),  # the mean of the episode's results that week
    Column("episode_id", Uuid, nullable=False),
    Column("patient_id", Uuid, nullable=False),
    # The episode's earliest week of this measure and basis: counting patients reads only
    # these rows, one per episode instead of one per week.
    Column("first_week", Boolean, nullable=False),
    # The cohort filters' columns, copied from the episode and its patient.
    Column("diagnosis", String(40), nullable=False),
    Column("affected_side", String(10), nullable=False),
    Column("operated", Boolean, nullable=False),
    Column("start_date", Date, nullable=False),
    # The treating therapist (the creator on episodes from before it was recorded).
    Column("therapist", String(100), nullable=False),
    Column("sex", String(10), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    # Last, where migration 0009's ALTER TABLE puts it: a SurgeryType code, empty when the
    # type is not recorded.
    Column("surgery_type", String(40)),
    # The curve's order: one range per measure and basis, weeks in order, values ranked.
    PrimaryKeyConstraint("measure_id", "basis", "week", "v", "episode_id",
                         name="pk_cohort_week"),
    Index("ix_cohort_week_episode", "episode_id"),
    # One diagnosis (the expected-recovery overlay) without reading the others' rows. It
    # holds every column a curve reads, so the table is not visited (PostgreSQL reads
    # it index-only for the whole measure too).
    Index("ix_cohort_week_diagnosis", "measure_id", "basis", "diagnosis", "week", "v",
          "patient_id", "first_week", "episode_id"),
    # Clustered on the curve's order on SQLite (the table is its primary-key b-tree).
    sqlite_with_rowid=False,
)
# A whole measure's curve reads only the week and the value: a narrow copy of the table's
# order is read four times faster than the table's wide rows.
Index("ix_cohort_week_curve", cohort_week.c.measure_id, cohort_week.c.basis,
      cohort_week.c.week, cohort_week.c.v)
# Counting a whole measure's patients: one entry per episode, in patient order, so the
# count of distinct patients needs no sort.
Index("ix_cohort_week_first", cohort_week.c.measure_id, cohort_week.c.basis,
      cohort_week.c.first_week, cohort_week.c.patient_id,
      sqlite_where=cohort_week.c.first_week.is_(True),
      postgresql_where=cohort_week.c.first_week.is_(True))
# The same for one diagnosis (an overlay's cohort), with the episode its exclusion tests.
Index("ix_cohort_week_first_diagnosis", cohort_week.c.measure_id, cohort_week.c.basis,
      cohort_week.c.diagnosis, cohort_week.c.first_week, cohort_week.c.patient_id,
      cohort_week.c.episode_id,
      sqlite_where=cohort_week.c.first_week.is_(True),
      postgresql_where=cohort_week.c.first_week.is_(True))

# Ids per IN list. A refresh statement holds its list four times (two week bases, and the
# episode's and the results' keys): 800 host parameters, below the 999 older SQLite builds
# allow.
CHUNK = 200
REBUILD_EPISODES = 2000  # episodes recomputed per statement by rebuild()
LAST_DAY = (MAX_WEEKS + 1) * 7  # exclusive: curves stop after week MAX_WEEKS


def days_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Whole days from ``earlier`` to ``later`` (both dates)."""
    if dialect == "postgresql":
        return later - earlier  # date - date is an integer number of days
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _sided_measures() -> list[str]:
    return sorted(m.id for m in MEASURES.values() if m.sided)


def _weeks_of(dialect: str, basis: WeekBasis, where: Sequence[ColumnElement[bool]]
              ) -> Select[Any]:
    """The summary rows (without ``first_week``) of one week basis for the episodes that
    ``where`` chooses: one mean per episode, measure and week."""
    e, t, p = EpisodeRow, TestResultRow, PatientRow
    anchor = e.surgery_date if basis is WeekBasis.SURGERY else e.start_date
    days = days_between(dialect, t.performed_on, anchor)
    week = days // 7  # days are not negative here: the floor on both databases
    sided = _sided_measures()
    return (
        select(t.measure_id.label("measure_id"), literal(basis.value).label("basis"),
               week.label("week"), func.avg(t.value).label("v"),
               e.id.label("episode_id"), e.patient_id.label("patient_id"),
               e.diagnosis.label("diagnosis"), e.affected_side.label("affected_side"),
               e.surgery_date.is_not(None).label("operated"),
               e.start_date.label("start_date"),
               func.coalesce(e.treating_therapist, e.created_by).label("therapist"),
               p.sex.label("sex"), p.date_of_birth.label("date_of_birth"),
               e.surgery_type.label("surgery_type"))
        .select_from(t)
        .join(e, e.id == t.episode_id)
        .join(p, p.id == e.patient_id)
        .where(t.entered_in_error.is_(False), e.entered_in_error.is_(False),
               p.entered_in_error.is_(False), anchor.is_not(None),
               days >= 0, days < LAST_DAY,
               or_(t.measure_id.not_in(sided), t.side.is_(None), t.side == e.affected_side,
                   e.affected_side == "bilateral"),
               *where)
        # Grouped by the episode's and patient's keys, their other columns are plain
        # columns on both databases.
        .group_by(e.id, p.id, t.measure_id, week)
    )


def summary_rows(dialect: str, where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """Every summary row of the episodes ``where`` chooses, as the table holds them."""
    both = union_all(_weeks_of(dialect, WeekBasis.SURGERY, where),
                     _weeks_of(dialect, WeekBasis.EPISODE_START, where)).subquery("weeks")
    first = both.c.week == func.min(both.c.week).over(
        partition_by=[both.c.episode_id, both.c.measure_id, both.c.basis])
    return select(*(both.c[c.name] if c.name != "first_week" else first.label("first_week")
                    for c in cohort_week.columns))


def _insert(conn: Connection, where: Sequence[ColumnElement[bool]]) -> None:
    stmt = insert(cohort_week).from_select([c.name for c in cohort_week.columns],
                                           summary_rows(conn.dialect.name, where))
    conn.execute(stmt)


def fill_statements(dialect: str) -> list[Insert | ExecutableDDLElement]:
    """The statements that fill the EMPTY summary at once, for a database only this
    transaction uses (a fresh load, a migration, a move's new target): its secondary
    indexes dropped, every row inserted by one set-based statement in the primary key's
    order (an append to the clustered b-tree), then the indexes built again, one sort each.

    The rows come from :func:`summary_rows`, the select every other path uses, and the
    indexes from the table's own definition, so a column or an index added to
    ``cohort_week`` is filled and rebuilt here too.
    """
    indexes = sorted(cohort_week.indexes, key=lambda i: str(i.name))
    rows = summary_rows(dialect, []).subquery("summary")
    key = [rows.c[c.name] for c in cohort_week.primary_key.columns]
    fill = insert(cohort_week).from_select(
        [c.name for c in cohort_week.columns],
        select(*(rows.c[c.name] for c in cohort_week.columns)).order_by(*key))
    return [*(DropIndex(i) for i in indexes), fill, *(CreateIndex(i) for i in indexes)]


def fill_sql(dialect: Dialect) -> list[str]:
    """:func:`fill_statements` as SQL text with its values inline, for a caller holding a
    DB-API connection (the fresh load)."""
    return [str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            for stmt in fill_statements(dialect.name)]


def _chunks(ids: Collection[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    ordered = sorted(ids)  # PostgreSQL row locks in one order: no deadlock between writers
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i:i + CHUNK]


def refresh(conn: Connection, episode_ids: Iterable[uuid.UUID] = (),
            patient_ids: Iterable[uuid.UUID] = ()) -> None:
    """Recompute the summary rows of these episodes and of every episode of these patients,
    in ``conn``'s transaction.

    On PostgreSQL the episodes' rows are locked first (``FOR NO KEY UPDATE``): two
    workstations saving results of one episode at once then recompute one after the other,
    the second from a statement that sees the first's committed rows.
    """
    episodes = {i for i in episode_ids if i is not None}
    patients = {i for i in patient_ids if i is not None}
    pg = conn.dialect.name == "postgresql"
    e = EpisodeRow
    for chunk in _chunks(patients):
        if pg:
            conn.execute(select(e.id).where(e.patient_id.in_(chunk)).order_by(e.id)
                         .with_for_update(key_share=True))
        # By the episodes' keys (indexed); a patient's episodes are few.
        conn.execute(delete(cohort_week).where(cohort_week.c.episode_id.in_(
            select(e.id).where(e.patient_id.in_(chunk)))))
        _insert(conn, [e.patient_id.in_(chunk), TestResultRow.episode_id.in_(
            select(e.id).where(e.patient_id.in_(chunk)))])
    for chunk in _chunks(episodes):
        if pg:
            conn.execute(select(e.id).where(e.id.in_(chunk)).order_by(e.id)
                         .with_for_update(key_share=True))
        conn.execute(delete(cohort_week).where(cohort_week.c.episode_id.in_(chunk)))
        # The same keys on the results too, so they are found through their episode index
        # rather than by reading every result and joining.
        _insert(conn, [e.id.in_(chunk), TestResultRow.episode_id.in_(chunk)])


def rebuild(conn: Connection, progress: Any = None, *, exclusive: bool = False) -> int:
    """Recompute the whole summary in ``conn``'s transaction; returns the rows it holds.

    ``exclusive``: no other connection reads the summary meanwhile without waiting anyway
    (a migration, a move's new target, a SQLite restore, whose readers keep their snapshot):
    the summary is then filled by :func:`fill_statements`, indexes dropped and rebuilt, which
    is many times faster. Otherwise (a PostgreSQL restore, where dropping an index would
    make the other workstations' cohort pages wait for the restore) episodes are taken in
    key order, :data:`REBUILD_EPISODES` per statement, so each step groups a bounded number
    of results whatever the clinic's size. ``progress(done, total)`` is called after each
    step when given.
    """
    conn.execute(delete(cohort_week))
    e = EpisodeRow
    total = int(conn.execute(select(func.count()).select_from(e)).scalar() or 0)
    if exclusive:
        for stmt in fill_statements(conn.dialect.name):
            conn.execute(stmt)
        if progress is not None:
            progress(total, total)
        return int(conn.execute(select(func.count()).select_from(cohort_week)).scalar() or 0)
    done = 0
    low: uuid.UUID | None = None
    while True:
        q = select(e.id).order_by(e.id).offset(REBUILD_EPISODES - 1).limit(1)
        if low is not None:
            q = q.where(e.id > low)
        high = conn.execute(q).scalar()
        t = TestResultRow
        where: list[ColumnElement[bool]] = [] if low is None else [e.id > low,
                                                                   t.episode_id > low]
        if high is not None:
            where += [e.id <= high, t.episode_id <= high]
        _insert(conn, where)
        done = min(total, done + REBUILD_EPISODES) if high is not None else total
        if progress is not None:
            progress(done, total)
        if high is None:
            break
        low = high
    return int(conn.execute(select(func.count()).select_from(cohort_week)).scalar() or 0)


# --- keeping it right on every write ----------------------------------------------------------

def _touched(session: Session) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Episodes and patients whose summary rows a flush may change."""
    episodes: set[uuid.UUID] = set()
    patients: set[uuid.UUID] = set()
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, TestResultRow):
            episodes.add(obj.episode_id)
            # A result moved to another episode leaves that one's weeks too.
            episodes.update(x for x in get_history(obj, "episode_id").deleted if x)
        elif isinstance(obj, EpisodeRow):
            episodes.add(obj.id)
        elif isinstance(obj, PatientRow):
            patients.add(obj.id)
    return episodes, patients


def _after_flush(session: Session, _context: Any) -> None:
    episodes, patients = _touched(session)
    if episodes or patients:
        refresh(session.connection(), episodes, patients)


def maintain(factory: sessionmaker[Session]) -> None:
    """Keep the summary right for every ORM write of sessions made by ``factory``: after
    each flush (the rows are then written, in the same transaction) the episodes whose
    results, episode or patient rows were added or changed are recomputed."""
    from sqlalchemy import event

    # Called once per factory (each Database makes its own). No event.contains() guard:
    # SQLAlchemy's registry is keyed by id(), and a collected factory's id can be reused by
    # a new one, which then looked as if it were already listened to.
    event.listen(factory, "after_flush", _after_flush)


def after_bulk_insert(conn: Connection, kind: str, keys: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> None:
    """The import's batched writer stored ``rows`` of ``kind`` (values in ``keys`` order):
    recompute the episodes whose results they are.

    New patients and episodes have no results yet, so only results (``kind == "test"``)
    change the summary.
    """
    if kind != "test" or not rows:
        return
    at = list(keys).index("episode_id")
    refresh(conn, {row[at] for row in rows})

