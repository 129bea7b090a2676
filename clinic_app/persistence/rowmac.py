"""Keyed MACs of stored rows: a clinical or user row edited outside Backstep is detected.

Every patient, episode, session, test result, user, the clinic letterhead and the clinic-wide
settings carry
``row_mac`` = HMAC-SHA256, with the audit key, over a canonical text of the table name and
every other column (including ``id`` and ``version``). Backstep signs a row whenever it
inserts or updates it: ORM writes through mapper events below, bulk imports through
:func:`row_signer`. Someone who edits the database directly (``UPDATE patient ...``, a
backup opened in ``sqlite3``) cannot produce a matching MAC without the key, so
``audit verify`` reports the row, sign-in refuses such a user row, and Backstep refuses to
save over it (saving would otherwise re-sign, and so launder, the forged content).

What a row MAC cannot show by itself, a deleted row or an older signed state put back, is
checked against the audit trail by :func:`verify_rows`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Integer, LargeBinary, Table, Uuid, event, select
from sqlalchemy.orm import Mapper, Session, object_session
from sqlalchemy.orm.attributes import get_history

from clinic_app.domain.errors import DomainError
from clinic_app.persistence.models import (
    AuditRow,
    CareGoalRow,
    ClinicRow,
    ClinicSettingRow,
    EpisodeRow,
    PatientRow,
    PrescriptionRow,
    SessionSafetyRow,
    TestResultRow,
    UserRow,
    WalkSessionRow,
)
from clinic_app.persistence.types import UTCDateTime

ROW_KEY = "backstep_row_key"  # Session.info entry holding the key of the unit of work
SIGNED_MODELS: tuple[type[Any], ...] = (
    ClinicRow, UserRow, PatientRow, EpisodeRow, WalkSessionRow, TestResultRow,
    ClinicSettingRow, CareGoalRow, PrescriptionRow, SessionSafetyRow)
# Audit-trail entity names of the rows whose creation the trail records.
AUDITED_ENTITIES: dict[str, type[Any]] = {
    "patient": PatientRow, "episode": EpisodeRow, "session": WalkSessionRow,
    "test_result": TestResultRow, "user": UserRow, "goal": CareGoalRow,
    "prescription": PrescriptionRow, "session_safety": SessionSafetyRow,
}
WHAT = {"clinic": "clinic letterhead", "app_user": "user account", "patient": "patient",
        "episode": "episode of care", "walk_session": "session", "test_result": "test result",
        "clinic_setting": "clinic setting", "care_goal": "goal",
        "care_prescription": "prescription", "session_safety": "session checklist"}

ADDED_COLUMNS: dict[str, frozenset[str]] = {
    "care_goal": frozenset({"achieved_on"}),
    "episode": frozenset({"surgery_type", "treating_therapist"}),
}
"""Columns added to a signed table after rows were signed (table -> names). Such a column
enters the signed text only when it holds a value, so the rows signed before it existed
still verify, while setting, changing or clearing a value is detected like any edit."""


class TamperedRowError(DomainError):
    """A stored row does not carry Backstep's signature: it was changed outside Backstep."""


def _text(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _float(value: Any) -> str:
    return repr(float(value))


def _int(value: Any) -> str:
    return str(int(value))


def _bool(value: Any) -> str:
    return "1" if value else "0"


def _uuid(value: Any) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _datetime(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite returns UTC without a zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _date(value: Any) -> str:
    return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _binary(value: Any) -> str:
    return bytes(value).hex()


def _normaliser(column: Any) -> Callable[[Any], str]:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _datetime
    for sql_type, fn in ((Boolean, _bool), (Float, _float), (Integer, _int), (Uuid, _uuid),
                         (Date, _date), (JSON, _json), (LargeBinary, _binary)):
        if isinstance(kind, sql_type):
            return fn
    return _text


@dataclass(frozen=True)
class _Layout:
    table: Table
    names: tuple[str, ...]
    normalisers: tuple[Callable[[Any], str], ...]


def _layout(model: type[Any]) -> _Layout:
    table = model.__table__
    cols = sorted((c for c in table.columns if c.name != "row_mac"), key=lambda c: c.name)
    return _Layout(table, tuple(c.name for c in cols), tuple(_normaliser(c) for c in cols))


LAYOUTS: dict[str, _Layout] = {m.__tablename__: _layout(m) for m in SIGNED_MODELS}


def canonical(table: str, values: Mapping[str, Any]) -> bytes:
    """The bytes a row's MAC covers: table name, then ``column=value`` in column order.

    Values are normalised per column type so that what Python writes and what either
    database returns give the same text (floats by ``repr``, times in UTC microseconds).
    """
    layout = LAYOUTS[table]
    parts = [table]
    optional = ADDED_COLUMNS.get(table, frozenset())
    for name, norm in zip(layout.names, layout.normalisers, strict=True):
        value = values.get(name)
        if value is None and name in optional:
            continue
        parts.append(f"{name}\x1f" + ("\x00" if value is None else norm(value)))
    return "\x1e".join(parts).encode()


def compute(key: bytes, table: str, values: Mapping[str, Any]) -> str:
    """The HMAC-SHA256 (hex) of one row's content."""
    return hmac.new(key, canonical(table, values), hashlib.sha256).hexdigest()


def matches(key: bytes, table: str, values: Mapping[str, Any]) -> bool:
    """True when the row's stored ``row_mac`` is Backstep's signature of its content."""
    stored = values.get("row_mac")
    return isinstance(stored, str) and hmac.compare_digest(stored, compute(key, table, values))


def sign_values(key: bytes, table: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (one row to insert, every column but ``row_mac``) with its ``row_mac``."""
    values["row_mac"] = compute(key, table, values)
    return values


def row_signer(key: bytes, table: str, keys: Sequence[str],
               same: Mapping[str, Any]) -> Callable[[Sequence[Any]], str]:
    """A fast :func:`compute` for bulk inserts: rows are tuples in ``keys`` order, and the
    ``same`` values (identical in every row) are normalised once. Gives the same MACs.

    A CSV import signs up to millions of rows, so the function is generated once per table
    and column order with one inline expression per column: the common value types take a
    fast path, anything else goes through the column's normaliser (tested to agree).
    """
    layout = LAYOUTS[table]
    position = {k: i for i, k in enumerate(keys)}
    fast: dict[Callable[[Any], str], str] = {_text: "v{i} if v{i}.__class__ is str else N{i}(v{i})",
            _float: "repr(v{i}) if v{i}.__class__ is float else N{i}(v{i})",
            _int: "str(v{i}) if v{i}.__class__ is int else N{i}(v{i})",
            _uuid: "str(v{i}) if v{i}.__class__ is UUID else N{i}(v{i})",
            _datetime: "v{i}.isoformat(timespec='microseconds') "
                       "if v{i}.__class__ is datetime and v{i}.tzinfo is UTC else N{i}(v{i})"}
    scope: dict[str, Any] = {"UUID": uuid.UUID, "datetime": datetime, "UTC": UTC, "NULL": "\x00",
                             "SEP": "\x1e",
                             "KEYED": hmac.new(key, digestmod=hashlib.sha256)}
    loads: list[str] = []
    pieces: list[str] = [repr(table)]
    optional = ADDED_COLUMNS.get(table, frozenset())
    for n, (name, norm) in enumerate(zip(layout.names, layout.normalisers, strict=True)):
        if name not in position:
            value = same.get(name)
            if value is None and name in optional:
                continue
            pieces.append(repr(f"{name}\x1f" + ("\x00" if value is None else norm(value))))
            continue
        scope[f"N{n}"] = norm
        loads.append(f"    v{n} = row[{position[name]}]")
        expr = fast.get(norm, "N{i}(v{i})").format(i=n)
        prefix = repr(f"{name}\x1f")
        if name in optional:  # left out while empty, as in canonical()
            pieces.append(f"*(() if v{n} is None else ({prefix} + ({expr}),))")
            continue
        pieces.append(prefix + f" + (NULL if v{n} is None else ({expr}))")
    source = ("def sign(row):\n" + "\n".join(loads) + "\n    mac = KEYED.copy()\n"
              "    mac.update(SEP.join((" + ", ".join(pieces) + ",)).encode())\n"
              "    return mac.hexdigest()\n")
    exec(compile(source, f"<row signer for {table}>", "exec"), scope)  # noqa: S102
    sign: Callable[[Sequence[Any]], str] = scope["sign"]
    return sign


def canonical_template(table: str, varying: Sequence[str],
                       same: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """:func:`canonical` as a ``%``-format string for rows that differ only in ``varying``.

    Returns the template and the order its ``%s`` slots take the varying columns in (the
    canonical column order). Each slot takes the column's value already normalised as
    :func:`canonical` would (UUIDs with dashes, times as UTC ISO with microseconds, floats
    by ``repr``); every other column of the table takes its value from ``same``. For a
    generator that writes millions of rows: one C-level format per row.
    """
    layout = LAYOUTS[table]
    unknown = set(varying) - set(layout.names)
    if unknown:
        raise ValueError(f"{table} has no signed column {sorted(unknown)}")
    parts = [table.replace("%", "%%")]
    order: list[str] = []
    optional = ADDED_COLUMNS.get(table, frozenset())
    for name, norm in zip(layout.names, layout.normalisers, strict=True):
        if name in varying:
            parts.append(f"{name}\x1f%s")
            order.append(name)
            continue
        value = same.get(name)
        if value is None and name in optional:  # as canonical() leaves it out
            continue
        text = "\x00" if value is None else norm(value)
        parts.append(f"{name}\x1f{text}".replace("%", "%%"))
    return "\x1e".join(parts), tuple(order)


def hmac_states(key: bytes, prefix: bytes = b"") -> tuple[Any, Any]:
    """The inner (with ``prefix`` already hashed) and outer SHA-256 states of HMAC with
    ``key`` (RFC 2104), for signing millions of rows that share the start of their text.

    ``i = inner.copy(); i.update(rest); o = outer.copy(); o.update(i.digest())`` then
    ``o.hexdigest()`` equals ``hmac.new(key, prefix + rest, sha256).hexdigest()`` (tested),
    without setting up the key per row or hashing the shared start again.
    """
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    inner.update(prefix)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    return inner, outer


def _current_values(target: Any) -> dict[str, Any]:
    return {name: getattr(target, name) for name in LAYOUTS[target.__tablename__].names}


def _loaded_values(target: Any) -> dict[str, Any]:
    """The row as it was loaded from the database, before this unit of work changed it."""
    values: dict[str, Any] = {}
    for name in [*LAYOUTS[target.__tablename__].names, "row_mac"]:
        hist = get_history(target, name)
        if hist.deleted:
            values[name] = hist.deleted[0]
        elif hist.unchanged:
            values[name] = hist.unchanged[0]
        else:
            values[name] = getattr(target, name)
    return values


def refuse_if_tampered(key: bytes, target: Any) -> None:
    """Raise :class:`TamperedRowError` unless ``target`` (as loaded) carries a valid MAC."""
    table = target.__tablename__
    if not matches(key, table, _loaded_values(target)):
        raise TamperedRowError(
            f"The {WHAT[table]} record {target.id} was changed outside Backstep (its "
            "signature does not match its content). Nothing was saved. An administrator "
            "should run `clinic-app audit verify` and restore a good backup.")


def _key_of(target: Any) -> bytes | None:
    session = object_session(target)
    return None if session is None else session.info.get(ROW_KEY)


def _before_insert(_mapper: Mapper[Any], _conn: Any, target: Any) -> None:
    key = _key_of(target)
    if key is None:
        return
    # Column defaults are applied in the INSERT, after this event: apply them now so the
    # MAC covers what is stored.
    for column in target.__table__.columns:
        default = column.default
        if default is None or getattr(target, column.key) is not None:
            continue
        if default.is_scalar:
            setattr(target, column.key, default.arg)
        elif default.is_callable:
            setattr(target, column.key, default.arg(None))
    target.row_mac = compute(key, target.__tablename__, _current_values(target))


def _before_update(_mapper: Mapper[Any], _conn: Any, target: Any) -> None:
    key = _key_of(target)
    session = object_session(target)
    if key is None or session is None or not session.is_modified(target):
        return
    # Never re-sign a row someone forged in the database: that would launder the forgery.
    refuse_if_tampered(key, target)
    values = _current_values(target)
    # SQLAlchemy's version counter writes version + 1 in this UPDATE (version_id_col).
    values["version"] = _loaded_values(target)["version"] + 1
    target.row_mac = compute(key, target.__tablename__, values)


for _model in SIGNED_MODELS:
    event.listen(_model, "before_insert", _before_insert)
    event.listen(_model, "before_update", _before_update)


# --- verification ---------------------------------------------------------------------------

@dataclass
class RowReport:
    """Result of checking every signed row and comparing rows with the audit trail."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)


def _rows(session: Session, layout: _Layout, batch: int) -> Iterator[Sequence[Any]]:
    """Every row of the table as a tuple: its signed columns in layout order, then row_mac."""
    table = layout.table
    columns = [*(table.c[name] for name in layout.names), table.c.row_mac]
    at_id = layout.names.index("id")
    last: Any = None
    while True:
        q = select(*columns).order_by(table.c.id).limit(batch)
        if last is not None:
            q = q.where(table.c.id > last)
        rows = session.execute(q).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][at_id]


def _audited(session: Session) -> dict[tuple[str, str], list[int]]:
    """Records the trail created or changed: (table, id) -> [first event, version the trail
    implies, event of the last write]. Each audited update or "entered in error" of a clinical
    record raised its version by one (user accounts also change on sign-in, unaudited)."""
    audited: dict[tuple[str, Any], list[int]] = {}
    q = (select(AuditRow.seq, AuditRow.action, AuditRow.entity, AuditRow.entity_id)
         .where(AuditRow.entity.in_(list(AUDITED_ENTITIES)), AuditRow.entity_id.is_not(None),
                AuditRow.action.in_(["create", "import", "update", "entered_in_error"]))
         .order_by(AuditRow.seq))
    for seq, action, entity, entity_id in session.execute(q):
        entry = audited.setdefault((AUDITED_ENTITIES[entity].__tablename__, entity_id),
                                   [seq, 1, 0])
        if action in {"update", "entered_in_error"} and entity != "user":
            entry[1] += 1
            entry[2] = seq
    return audited


def verify_rows(session: Session, key: bytes, batch: int = 5000) -> RowReport:
    """Check every signed row's MAC, and that each audited record still exists, unrolled.

    A record the trail says was created (or imported) must still exist, and its version
    must not be older than the version the trail's updates imply (an older, validly signed
    copy of the row put back). Messages name tables and ids, never patient values.
    """
    report = RowReport()
    audited = _audited(session)
    for model in SIGNED_MODELS:
        table = model.__tablename__
        layout = LAYOUTS[table]
        at_id, at_version = layout.names.index("id"), layout.names.index("version")
        sign = row_signer(key, table, layout.names, {})
        for row in _rows(session, layout, batch):
            report.checked += 1
            row_id, stored = row[at_id], row[-1]
            if stored is None:
                report.problems.append(
                    f"{WHAT[table]} {row_id}: has no signature (inserted outside Backstep)")
            elif not hmac.compare_digest(stored, sign(row)):
                report.problems.append(
                    f"{WHAT[table]} {row_id}: changed outside Backstep "
                    "(its signature does not match)")
            entry = audited.pop((table, str(row_id)), None)
            if entry is not None and entry[2] and row[at_version] < entry[1]:
                report.problems.append(
                    f"{WHAT[table]} {row_id}: version {row[at_version]} is older than version "
                    f"{entry[1]} written in audit event {entry[2]} (an old copy was put back)")
    for (table, entity_id), (first_seq, _version, _last) in sorted(
            audited.items(), key=lambda item: item[1][0]):
        report.problems.append(
            f"{WHAT[table]} {entity_id}: recorded in audit event {first_seq} but missing from "
            "the database (deleted outside Backstep)")
    return report
