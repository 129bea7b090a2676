"""The CSV export's reads: every record of a clinic as plain rows, a page of patients at a
time, in the order the charts list them.

Whole charts (``BulkRepository.chart_pages``) build a domain object per row and the writer
then takes them apart again: for a clinic of two million rows that was most of the
export's time. These reads return Core rows whose columns are already the export's (named
as the CSV columns, the patient's MRN and the episode's start date joined in), with
values converted by the column types as everywhere else (ids, UTC instants, JSON).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import String, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from clinic_app.domain.errors import NotFoundError
from clinic_app.persistence import mapping
from clinic_app.persistence.models import EpisodeRow, PatientRow, TestResultRow, WalkSessionRow

PAGE = 900  # patients per page: their ids make one IN list on every database

Page = dict[str, Sequence[Any]]
"""File kind (``patients``, ``episodes``, ``sessions``, ``tests``) -> its rows, each in the
order of :data:`EXPORT_COLUMNS`."""


def _columns(dialect: str = "") -> dict[str, tuple[Any, ...]]:
    """The export's columns of each kind; ids and dates already as the text the CSV holds
    where the database can give it exactly (see :func:`_id_text`, :func:`_day_text`)."""
    p, e, s, t = PatientRow, EpisodeRow, WalkSessionRow, TestResultRow

    def uid(col: Any, name: str | None = None) -> Any:
        return _id_text(col, dialect).label(name or col.key)

    def day(col: Any, name: str | None = None) -> Any:
        return _day_text(col, dialect).label(name or col.key)

    return {
        "patients": (uid(p.id, "patient_id"), p.mrn, p.family_name, p.given_name,
                     day(p.date_of_birth), p.sex, p.phone, p.email, p.notes,
                     p.entered_in_error, p.error_reason),
        "episodes": (uid(e.id, "episode_id"), uid(e.patient_id), p.mrn, e.diagnosis,
                     e.affected_side, day(e.start_date), day(e.surgery_date),
                     day(e.end_date), e.referring_doctor, e.notes, e.entered_in_error,
                     e.error_reason, e.surgery_type,
                     func.coalesce(e.treating_therapist, e.created_by)
                     .label("treating_therapist")),
        "sessions": (uid(s.id, "session_id"), uid(s.episode_id), p.mrn,
                     day(e.start_date, "episode_start"), s.performed_at, s.mode, s.surface,
                     *(getattr(s, name) for name in mapping.SESSION_FIELDS[:4]),
                     s.assistance,
                     *(getattr(s, name) for name in mapping.SESSION_FIELDS[4:]),
                     s.entered_in_error, s.error_reason),
        "tests": (uid(t.id, "test_id"), uid(t.episode_id), uid(t.session_id), p.mrn,
                  day(e.start_date, "episode_start"), t.measure_id, day(t.performed_on),
                  t.side, t.value, _json_or_null(t.items, dialect).label("items"), t.notes,
                  t.entered_in_error, t.error_reason),
    }


def _id_text(col: Any, dialect: str) -> Any:
    """A UUID column as its canonical text (``str(uuid)``), made by the database.

    Parsing two or three ids a row into ``uuid.UUID`` objects only to print them again was
    the largest single cost of exporting two million rows. SQLite stores the 32 hex digits
    (SQLAlchemy's ``Uuid``), PostgreSQL prints a ``uuid`` in the canonical form.
    """
    if dialect == "sqlite":
        raw = type_coerce(col, String)
        parts = [func.substr(raw, start, n) for start, n in
                 ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
        return type_coerce(parts[0].op("||")("-").op("||")(parts[1]).op("||")("-")
                           .op("||")(parts[2]).op("||")("-").op("||")(parts[3])
                           .op("||")("-").op("||")(parts[4]), String)
    if dialect == "postgresql":
        return cast(col, String)
    return col


def _json_or_null(col: Any, dialect: str) -> Any:
    """A JSON column with JSON ``null`` as SQL NULL on SQLite, so that the million tests
    without questionnaire items are not each run through the JSON parser."""
    if dialect == "sqlite":
        return type_coerce(func.nullif(type_coerce(col, String), "null"), col.type)
    return col


def _day_text(col: Any, dialect: str) -> Any:
    """A date column as ``YYYY-MM-DD``: on SQLite the stored text itself (SQLAlchemy keeps
    dates in exactly that form there); elsewhere the driver's date (printed the same)."""
    if dialect == "sqlite":
        return type_coerce(col, String)
    return col


EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple(c.key for c in cols) for kind, cols in _columns().items()}
"""The columns of each kind's rows, named as the CSV files name them."""


def _statements(ids: list[uuid.UUID] | None, mrn: str | None, dialect: str) -> dict[str, Any]:
    """The four reads for the patients with these ids (or the one MRN), in chart order:
    patients by MRN; episodes by start, creation and id; their records in time order."""
    p, e, s, t = PatientRow, EpisodeRow, WalkSessionRow, TestResultRow
    cols = _columns(dialect)
    episode_order = (p.mrn, e.start_date, e.created_at, e.id)
    patients = select(*cols["patients"]).order_by(p.mrn)
    episodes = (select(*cols["episodes"]).join(p, e.patient_id == p.id)
                .order_by(*episode_order))
    sessions = (select(*cols["sessions"]).join(e, s.episode_id == e.id)
                .join(p, e.patient_id == p.id)
                .order_by(*episode_order, s.performed_at, s.created_at, s.id))
    tests = (select(*cols["tests"]).join(e, t.episode_id == e.id)
             .join(p, e.patient_id == p.id)
             .order_by(*episode_order, t.performed_on, t.created_at, t.measure_id, t.side,
                       t.id))
    if ids is not None:
        patients = patients.where(p.id.in_(ids))
        episodes, sessions, tests = (q.where(e.patient_id.in_(ids))
                                     for q in (episodes, sessions, tests))
    if mrn is not None:
        patients, episodes, sessions, tests = (q.where(p.mrn == mrn)
                                               for q in (patients, episodes, sessions, tests))
    return {"patients": patients, "episodes": episodes, "sessions": sessions, "tests": tests}


def export_pages(s: Session, mrn: str | None = None, size: int = PAGE) -> Iterator[Page]:
    """Every patient's records (entered in error included), ``size`` patients by MRN at a
    time; only the patient with ``mrn`` when given (NotFoundError when there is none).

    Read them inside one snapshot for a consistent copy: each page is a few statements.
    """
    if mrn is not None:
        key = mrn.strip().upper()
        page = _page(s, _statements(None, key, _dialect(s)))
        if not page["patients"]:
            raise NotFoundError(f"No patient with MRN {key!r}: nothing was exported.")
        yield page
        return
    after: str | None = None
    while True:
        q = select(PatientRow.id, PatientRow.mrn).order_by(PatientRow.mrn).limit(size)
        if after is not None:
            q = q.where(PatientRow.mrn > after)
        keys = s.connection().execute(q).all()
        if not keys:
            return
        after = keys[-1][1]
        yield _page(s, _statements([k[0] for k in keys], None, _dialect(s)))


def _dialect(s: Session) -> str:
    return str(s.connection().dialect.name)


def _page(s: Session, statements: dict[str, Any]) -> Page:
    # Core on the session's connection (its transaction): the ORM's result machinery is
    # not needed for plain rows and costs a third of the read.
    conn = s.connection()
    return {kind: conn.execute(q).all() for kind, q in statements.items()}
