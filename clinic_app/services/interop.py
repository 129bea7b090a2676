"""Export and import use cases (FHIR R4, CSV): load or store records, audit every transfer.

The file formats live in ``clinic_app.interop``, a layer *above* services (import-linter
contract in pyproject.toml), so the format code is passed in, as ``reporting`` does with its
renderer. ``clinic_app.interop`` offers the same three functions with the formats bound::

    from clinic_app.interop import export_csv, export_fhir, import_csv

Imports are all-or-nothing: every row is checked (domain validators, links to patients,
episodes and sessions, duplicate MRNs) before anything is written, every problem found is
reported in one :class:`ImportRejected`, and the rows are stored in one unit of work with
batched ``INSERT``s (executemany). Imported records get new ids and stamps (created by the
importing user, version 1); the ids in a file only link its rows to each other.
"""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from sqlalchemy import insert, select

from clinic_app.config import make_private
from clinic_app.domain.errors import DomainError, NotFoundError, ValidationError
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.records import (
    EpisodeDraft,
    PatientDraft,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.domain.validation import validate_episode
from clinic_app.persistence import mapping
from clinic_app.persistence.models import EpisodeRow, PatientRow, TestResultRow, WalkSessionRow
from clinic_app.persistence.uow import Database, UnitOfWork
from clinic_app.services.charting import EpisodeChart, PatientChart

ChartWriter = Callable[[Sequence[PatientChart], Path], None]
"""Writes charts in some format to a path (a file for FHIR, a directory for CSV)."""

CHUNK = 900  # ids per IN (...) list: below SQLite's default 999 host-parameter limit


# --- results and errors ---------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    path: Path
    patients: int
    episodes: int
    sessions: int
    tests: int


@dataclass(frozen=True)
class ImportSummary:
    """How many records an import stored."""

    patients: int = 0
    episodes: int = 0
    sessions: int = 0
    tests: int = 0

    @property
    def total(self) -> int:
        return self.patients + self.episodes + self.sessions + self.tests


class ImportProblem(NamedTuple):
    """One thing wrong with an import file.

    ``row`` is the spreadsheet row (the header is row 1, the first record row 2; a quoted
    value spanning lines still counts as one row); ``row`` 0 means the file as a whole.
    ``field`` is the CSV column name; ``message`` says what is wrong and what is allowed.
    """

    file: str
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} row {self.row}" if self.row else self.file
        return f"{where}, column {self.field}: {self.message}"


class ImportRejected(DomainError):
    """The import was refused and nothing was stored; ``problems`` lists every problem."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.row, p.field))
        rows = {(p.file, p.row) for p in self.problems}
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"Nothing was imported: {len(self.problems)} problem(s) in {len(rows)} row(s). "
            f"Correct them and import the file again.\n{lines}"
        )


# --- parsed input (built by clinic_app.interop.csv_io) -----------------------------------


@dataclass
class PatientIn:
    """A patient row; ``draft`` is None when the row had problems (reported already)."""

    file: str
    row: int
    mrn: str
    draft: PatientDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class EpisodeIn:
    """An episode row, linked to its patient by MRN; ``ref`` is the file's episode_id."""

    file: str
    row: int
    ref: str
    mrn: str
    draft: EpisodeDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class EpisodeLink:
    """How a session or test row names its episode: ``episode_ref``, else MRN + start date."""

    episode_ref: str = ""
    mrn: str = ""
    episode_start: date | None = None


@dataclass
class SessionIn:
    file: str
    row: int
    ref: str
    link: EpisodeLink
    draft: WalkSessionDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class TestIn:
    """A test row; ``value`` is the validated, scored value to store."""

    __test__ = False  # not a pytest test class

    file: str
    row: int
    link: EpisodeLink
    session_ref: str
    draft: TestResultDraft | None
    value: float | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class ImportBatch:
    """Everything read from the import file(s), plus the problems found while reading."""

    patients: list[PatientIn] = field(default_factory=list)
    episodes: list[EpisodeIn] = field(default_factory=list)
    sessions: list[SessionIn] = field(default_factory=list)
    tests: list[TestIn] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    source: str = ""

    @property
    def rows(self) -> int:
        return len(self.patients) + len(self.episodes) + len(self.sessions) + len(self.tests)


class ImportPhase(StrEnum):
    """The steps of an import, in the order ``progress`` reports them."""

    CHECKING = "checking"
    """Reading the file(s) and checking every row; ``done``/``total`` are bytes read."""
    LINKING = "linking"
    """Checking links and duplicates against the database; ``done``/``total`` are rows."""
    STORING = "storing"
    """Every check passed, rows are being written; ``done``/``total`` are rows."""

    @property
    def label(self) -> str:
        """What a progress display calls this step."""
        return _PHASE_LABELS[self]


_PHASE_LABELS = {ImportPhase.CHECKING: "Checking rows", ImportPhase.LINKING: "Checking links",
                 ImportPhase.STORING: "Storing rows"}


ImportProgress = Callable[[ImportPhase, int, int], None]
"""``progress(phase, done, total)``: called when a phase starts (``done`` 0), regularly
while it runs and when it ends (``done == total``); see :class:`ImportPhase` for the units.
Runs in the importing thread: a GUI must hand it to its own thread."""

ReadProgress = Callable[[int, int], None]
"""``progress(done, total)`` of a reader, in bytes of the file(s) read."""


class BatchReader(Protocol):
    """Reads an import file or folder into an :class:`ImportBatch` (no database access)."""

    def __call__(self, source: Path, *, progress: ReadProgress | None = None) -> ImportBatch:
        ...


WRITE_BATCH = 10_000  # rows per executemany; progress is reported after each batch
LINK_REPORT_ROWS = 50_000  # rows linked between two progress reports
SQLITE_IMPORT_CACHE_KIB = 256 * 1024
"""SQLite page cache while an import writes (default 2 MiB): a large import otherwise
spills pages to the WAL and re-reads index pages over and over."""


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic objects are made.

    Its collections scan every live object and cost a large import about a third of its
    time while freeing nothing; reference counting still frees memory as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- export ----------------------------------------------------------------------------


def export_fhir(
    db: Database, actor: Principal, out: Path, mrn: str | None = None, *,
    write: ChartWriter,
) -> ExportSummary:
    """Write one patient (by MRN) or every patient as a FHIR bundle file ``out``; audited."""
    return _export(db, actor, Path(out), mrn, write, "FHIR R4 bundle", is_dir=False)


def export_csv(
    db: Database, actor: Principal, out_dir: Path, mrn: str | None = None, *,
    write: ChartWriter,
) -> ExportSummary:
    """Write patients/episodes/sessions/tests CSV files into ``out_dir``; audited."""
    return _export(db, actor, Path(out_dir), mrn, write, "CSV", is_dir=True)


def _export(
    db: Database, actor: Principal, out: Path, mrn: str | None, write: ChartWriter,
    what: str, is_dir: bool,
) -> ExportSummary:
    """Load, write into a temporary place, audit, then move into place.

    The export appears only after its audit events are committed, so there is never an
    unaudited export on disk.
    """
    principal = as_principal(actor)
    require(principal, Action.EXPORT)
    with db.unit_of_work(principal) as uow:
        charts = load_charts(uow, mrn)
    summary = _count(charts, out)
    parent = out if is_dir else out.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".backstep-export-{uuid.uuid4().hex[:8]}.part"
    try:
        if is_dir:
            tmp.mkdir()
        write(charts, tmp)
        for part in (tmp.iterdir() if is_dir else (tmp,)):
            make_private(part)  # patient data: owner-only, whoever calls this
        with db.unit_of_work(principal) as uow:
            detail = (f"{what} to {out}: {summary.patients} patient(s), {summary.episodes} "
                      f"episode(s), {summary.sessions} session(s), {summary.tests} test(s)")
            for chart in charts:
                uow.audit.record("export", "patient", chart.patient.id, chart.patient.id,
                                 detail=f"{what} to {out}")
            uow.audit.record("export", "fhir" if what.startswith("FHIR") else "csv",
                             detail=detail)
        if is_dir:
            for part in sorted(tmp.iterdir()):
                os.replace(part, out / part.name)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    return summary


def _count(charts: Sequence[PatientChart], out: Path) -> ExportSummary:
    eps = [e for c in charts for e in c.episodes]
    return ExportSummary(out, len(charts), len(eps), sum(len(e.sessions) for e in eps),
                         sum(len(e.tests) for e in eps))


def load_charts(uow: UnitOfWork, mrn: str | None = None) -> list[PatientChart]:
    """Whole charts (records entered in error included) of one patient or all, by MRN.

    Four queries in all, whatever the number of patients. Raises NotFoundError for an
    unknown MRN. Episodes, sessions and tests come oldest first.
    """
    s = uow.session
    pq = select(PatientRow).order_by(PatientRow.mrn)
    if mrn is not None:
        key = mrn.strip().upper()
        pq = pq.where(PatientRow.mrn == key)
    patients = [mapping.patient_of(r) for r in s.scalars(pq)]
    if mrn is not None and not patients:
        raise NotFoundError(f"No patient with MRN {mrn.strip().upper()!r}: nothing was exported.")
    ids = [p.id for p in patients] if mrn is not None else None
    eq = select(EpisodeRow).order_by(EpisodeRow.start_date, EpisodeRow.created_at, EpisodeRow.id)
    sq = select(WalkSessionRow).order_by(
        WalkSessionRow.performed_at, WalkSessionRow.created_at, WalkSessionRow.id)
    tq = select(TestResultRow).order_by(
        TestResultRow.performed_on, TestResultRow.created_at, TestResultRow.measure_id,
        TestResultRow.side, TestResultRow.id)
    if ids is not None:
        eq = eq.where(EpisodeRow.patient_id.in_(ids))
        sq = sq.join(EpisodeRow, WalkSessionRow.episode_id == EpisodeRow.id).where(
            EpisodeRow.patient_id.in_(ids))
        tq = tq.join(EpisodeRow, TestResultRow.episode_id == EpisodeRow.id).where(
            EpisodeRow.patient_id.in_(ids))
    episodes = [mapping.episode_of(r) for r in s.scalars(eq)]
    sessions = defaultdict(list)
    for r in s.scalars(sq):
        sessions[r.episode_id].append(mapping.session_of(r))
    tests = defaultdict(list)
    for r in s.scalars(tq):
        tests[r.episode_id].append(mapping.test_result_of(r))
    by_patient = defaultdict(list)
    for ep in episodes:
        by_patient[ep.patient_id].append(
            EpisodeChart(ep, tuple(sessions[ep.id]), tuple(tests[ep.id])))
    return [PatientChart(p, tuple(by_patient[p.id])) for p in patients]


# --- import ----------------------------------------------------------------------------

_EPISODE_COLUMNS = {
    "Diagnosis": "diagnosis", "Affected side": "affected_side", "Start date": "start_date",
    "Surgery date": "surgery_date", "End date": "end_date",
    "Referring doctor": "referring_doctor", "Notes": "notes",
}


@dataclass
class _Ep:
    """An episode an import row can link to: from this file or already in the database."""

    id: uuid.UUID
    patient_id: uuid.UUID
    mrn: str
    start: date | None
    ok: bool = True  # False: the file's row had problems (reported already)


@dataclass
class _Sess:
    id: uuid.UUID
    episode_id: uuid.UUID | None
    ok: bool = True


def import_csv(
    db: Database, actor: Principal, source: Path, *, read: BatchReader,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Import a CSV file (or an exported folder) in one transaction; nothing if any row is bad.

    Raises :class:`ImportRejected` listing every problem (file, row, column, message).
    ``progress(phase, done, total)`` reports the :class:`ImportPhase` steps in order:
    checking from before the first row is read, linking, then storing per batch written;
    the rows become visible only when the whole import commits.
    """
    principal = as_principal(actor)
    require(principal, Action.WRITE_CLINICAL)  # before a long read, not after it
    source = Path(source)
    checking: ReadProgress | None = None
    if progress is not None:
        def checking(done: int, total: int) -> None:
            progress(ImportPhase.CHECKING, done, total)
    # One pause for the whole import, ended only once the rows are freed: the collector
    # would otherwise catch up on the millions of rows still alive between the steps.
    with paused_gc():
        batch = read(source, progress=checking)
        if batch.patients:
            require(principal, Action.WRITE_PATIENT)
        summary = store_batch(db, principal, batch, progress)
        del batch
    return summary


def store_batch(
    db: Database, actor: Principal, batch: ImportBatch,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Check ``batch`` against the database and store it all, or raise ImportRejected.

    ``progress(phase, done, total)``: see :func:`import_csv` (linking and storing here).
    """
    principal = as_principal(actor)
    problems = list(batch.problems)
    if batch.rows == 0 and not problems:
        problems.append(ImportProblem(batch.source, 0, "file", "contains no records"))
    with paused_gc(), db.unit_of_work(principal) as uow, _bulk_cache(uow):
        plan = _Plan(uow, problems, progress, batch.rows)
        plan.patients(batch.patients)
        plan.episodes(batch.episodes)
        plan.sessions(batch.sessions)
        plan.tests(batch.tests)
        if problems:
            raise ImportRejected(problems)
        summary = plan.write(progress)
        uow.audit.record_many("import", "patient", [
            (patient_id, patient_id, f"from {batch.source}: " + _counts_text(counts))
            for patient_id, counts in sorted(plan.touched.items(), key=lambda kv: str(kv[0]))
        ])
        uow.audit.record(
            "import", "csv", detail=f"{batch.source}: {summary.patients} patient(s), "
            f"{summary.episodes} episode(s), {summary.sessions} session(s), "
            f"{summary.tests} test(s)",
        )
    return summary


@contextmanager
def _bulk_cache(uow: UnitOfWork) -> Iterator[None]:
    """SQLite: a large page cache for this transaction, the previous size restored after."""
    conn = uow.session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB:d}")
    try:
        yield
    finally:  # dirty pages stay in the cache until the commit writes them
        conn.exec_driver_sql(f"PRAGMA cache_size = {before:d}")


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n)


def _uuids(text: str) -> list[uuid.UUID]:
    """``[UUID(text)]``, or ``[]`` when ``text`` is not a UUID (it then matches nothing)."""
    try:
        return [uuid.UUID(text)]
    except ValueError:
        return []


def _new_ids(n: int) -> list[uuid.UUID]:
    """``n`` new :func:`uuid.uuid4` ids in ascending order.

    Rows get them in the order they are inserted, so the primary-key index of a large
    import grows at its end instead of at random places (SQLite: a third less write time
    for 1M sessions). They are as random as any other id; only their order is chosen.
    """
    ids = [uuid.uuid4() for _ in range(n)]
    ids.sort(key=attrgetter("int"))
    return ids


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


class _Plan:
    """Resolves links, checks what needs the database, then writes the rows in batches."""

    def __init__(self, uow: UnitOfWork, problems: list[ImportProblem],
                 progress: ImportProgress | None = None, rows: int = 0) -> None:
        self.progress = progress
        self.linked, self.to_link = 0, rows
        if progress is not None:
            progress(ImportPhase.LINKING, 0, rows)
        self.uow = uow
        self.s = uow.session
        self.problems = problems
        self.now = uow.patients.now()
        self.actor = uow.actor
        self.patient_rows = _Rows(PatientRow, (
            "mrn", "family_name", "given_name", "family_key", "given_key", "date_of_birth",
            "sex", "phone", "email", "notes"))
        self.episode_rows = _Rows(EpisodeRow, (
            "patient_id", "diagnosis", "affected_side", "start_date", "surgery_date",
            "end_date", "referring_doctor", "notes"))
        self.session_rows = _Rows(WalkSessionRow, (
            "episode_id", "performed_at", "mode", "surface", "assistance",
            *mapping.SESSION_FIELDS))
        self.test_rows = _Rows(TestResultRow, (
            "episode_id", "session_id", "measure_id", "performed_on", "side", "value", "items",
            "notes"))
        # MRN -> (patient id, date of birth or None when the file's row had problems)
        self.by_mrn: dict[str, tuple[uuid.UUID, date | None]] = {}
        self.episodes_by_ref: dict[str, _Ep] = {}
        self.episodes_by_key: dict[tuple[str, date], list[_Ep]] = defaultdict(list)
        self.sessions_by_ref: dict[str, _Sess] = {}
        self.touched: dict[uuid.UUID, dict[str, int]] = defaultdict(
            lambda: {"patient": 0, "episode(s)": 0, "session(s)": 0, "test(s)": 0})

    def bad(self, file: str, row: int, column: str, message: str) -> None:
        self.problems.append(ImportProblem(file, row, column, message))

    def _linked(self, rows: int) -> None:
        """Report ``rows`` more rows linked (each kind of row reports when it is done)."""
        self.linked += rows
        if self.progress is not None:
            self.progress(ImportPhase.LINKING, self.linked, self.to_link)

    def _stamps(self) -> dict[str, Any]:
        """The stamp columns every imported row shares."""
        return {"created_at": self.now, "created_by": self.actor, "updated_at": self.now,
                "updated_by": self.actor, "version": 1}

    # patients ---------------------------------------------------------------------------
    def patients(self, rows: list[PatientIn]) -> None:
        mrns = [r.mrn for r in rows if r.mrn]
        taken: set[str] = set()
        for chunk in _chunks(mrns):
            taken.update(self.s.scalars(select(PatientRow.mrn).where(PatientRow.mrn.in_(chunk))))
        first_row: dict[str, int] = {}
        for r in rows:
            if r.mrn in first_row:
                self.bad(r.file, r.row, "mrn",
                         f"MRN {r.mrn} appears twice in the file (also row {first_row[r.mrn]})")
                continue
            if r.mrn:
                first_row[r.mrn] = r.row
            if r.mrn in taken:
                self.bad(r.file, r.row, "mrn",
                         f"MRN {r.mrn} is already used by a patient in the database "
                         "(allowed: an MRN not yet in the database)")
                continue
            pid = uuid.uuid4()
            if r.mrn:
                self.by_mrn[r.mrn] = (pid, r.draft.date_of_birth if r.draft else None)
            if r.draft is None:
                continue
            d = r.draft
            self.patient_rows.add(
                pid, r.entered_in_error, r.error_reason,
                d.mrn, d.family_name, d.given_name, mapping.search_key(d.family_name),
                mapping.search_key(d.given_name), d.date_of_birth, str(d.sex), d.phone,
                d.email, d.notes,
            )
            self.touched[pid]["patient"] = 1
        self._linked(len(rows))

    def _known_patients(self, mrns: Iterable[str]) -> None:
        """Add database patients for the MRNs not defined by the file."""
        wanted = sorted({m for m in mrns if m and m not in self.by_mrn})
        for chunk in _chunks(wanted):
            q = select(PatientRow.mrn, PatientRow.id, PatientRow.date_of_birth).where(
                PatientRow.mrn.in_(chunk))
            for mrn, pid, dob in self.s.execute(q):
                self.by_mrn[mrn] = (pid, dob)

    # episodes ---------------------------------------------------------------------------
    def episodes(self, rows: list[EpisodeIn]) -> None:
        self._known_patients(r.mrn for r in rows)
        first_ref: dict[str, int] = {}
        for r in rows:
            if r.ref and r.ref in first_ref:
                self.bad(r.file, r.row, "episode_id",
                         f"episode_id {r.ref} appears twice (also row {first_ref[r.ref]})")
                continue
            patient = self.by_mrn.get(r.mrn)
            if patient is None:
                if r.mrn:
                    self.bad(r.file, r.row, "mrn", f"no patient with MRN {r.mrn} in the file "
                             "or the database (allowed: a registered MRN)")
                continue
            pid, dob = patient
            eid = uuid.uuid4()
            ok = r.draft is not None and dob is not None
            if ok:
                assert r.draft is not None and dob is not None
                try:
                    validate_episode(r.draft, dob)
                except ValidationError as exc:
                    self.bad(r.file, r.row, _EPISODE_COLUMNS.get(exc.field, exc.field), str(exc))
                    ok = False
            ep = _Ep(eid, pid, r.mrn, r.draft.start_date if r.draft else None, ok)
            if r.ref:
                first_ref[r.ref] = r.row
                self.episodes_by_ref[r.ref] = ep
            if ep.start is not None:
                self.episodes_by_key[(r.mrn, ep.start)].append(ep)
            if not ok:
                continue
            assert r.draft is not None
            d = r.draft
            self.episode_rows.add(
                eid, r.entered_in_error, r.error_reason,
                pid, str(d.diagnosis), str(d.affected_side), d.start_date, d.surgery_date,
                d.end_date, d.referring_doctor, d.notes,
            )
            self.touched[pid]["episode(s)"] += 1
        self._linked(len(rows))

    def _known_episodes(self, links: Iterable[EpisodeLink]) -> None:
        """Add database episodes named by id, or by MRN + start date, to the lookups."""
        links = list(links)
        ids: set[uuid.UUID] = set()
        for link in links:
            if link.episode_ref and link.episode_ref not in self.episodes_by_ref:
                ids.update(_uuids(link.episode_ref))
        for chunk in _chunks(sorted(ids, key=str)):
            q = (select(EpisodeRow.id, EpisodeRow.patient_id, PatientRow.mrn,
                        EpisodeRow.start_date)
                 .join(PatientRow, EpisodeRow.patient_id == PatientRow.id)
                 .where(EpisodeRow.id.in_(chunk)))
            for eid, pid, mrn, start in self.s.execute(q):
                self.episodes_by_ref[str(eid)] = _Ep(eid, pid, mrn, start)
        self._known_patients(link.mrn for link in links if not link.episode_ref)
        pids = sorted({self.by_mrn[link.mrn][0] for link in links
                       if not link.episode_ref and link.mrn in self.by_mrn}, key=str)
        file_eps = {ep.id for eps in self.episodes_by_key.values() for ep in eps}
        for chunk in _chunks(pids):
            q = (select(EpisodeRow.id, EpisodeRow.patient_id, PatientRow.mrn,
                        EpisodeRow.start_date)
                 .join(PatientRow, EpisodeRow.patient_id == PatientRow.id)
                 .where(EpisodeRow.patient_id.in_(chunk),
                        EpisodeRow.entered_in_error.is_(False)))
            for eid, pid, mrn, start in self.s.execute(q):
                if eid not in file_eps:
                    self.episodes_by_key[(mrn, start)].append(_Ep(eid, pid, mrn, start))

    def _episode_for(self, file: str, row: int, link: EpisodeLink) -> _Ep | None:
        """The episode a row links to, or None (a problem is reported unless already known)."""
        if link.episode_ref:
            ep = self.episodes_by_ref.get(link.episode_ref)
            if ep is None:
                self.bad(file, row, "episode_id", f"no episode {link.episode_ref} in the file "
                         "or the database (allowed: an episode_id from episodes.csv or the "
                         "database, or leave blank and give mrn + episode_start)")
                return None
            if link.mrn and ep.mrn != link.mrn:
                self.bad(file, row, "mrn", f"MRN {link.mrn} does not match episode "
                         f"{link.episode_ref}, which belongs to MRN {ep.mrn}")
                return None
            return ep
        if not link.mrn or link.episode_start is None:
            return None  # missing values were reported while reading
        if link.mrn not in self.by_mrn:
            self.bad(file, row, "mrn", f"no patient with MRN {link.mrn} in the file or the "
                     "database (allowed: a registered MRN)")
            return None
        candidates = self.episodes_by_key.get((link.mrn, link.episode_start), [])
        if not candidates:
            self.bad(file, row, "episode_start",
                     f"patient {link.mrn} has no episode of care starting "
                     f"{link.episode_start.isoformat()} (allowed: the start date of one of "
                     "the patient's episodes)")
            return None
        if len(candidates) > 1:
            self.bad(file, row, "episode_start",
                     f"patient {link.mrn} has {len(candidates)} episodes starting "
                     f"{link.episode_start.isoformat()}; give episode_id to choose one")
            return None
        return candidates[0]

    # sessions ---------------------------------------------------------------------------
    def sessions(self, rows: list[SessionIn]) -> None:
        self._known_episodes(r.link for r in rows)
        first_ref: dict[str, int] = {}
        counts: dict[int, int] = defaultdict(int)  # sessions per episode, by id(episode)
        episodes: dict[int, _Ep] = {}
        append = self.session_rows.rows.append  # what _Rows.add does, without a call a row
        episode_for = self._episode_for
        resolved: dict[int, _Ep] = {}  # rows share link objects: resolve each once
        ids = iter(_new_ids(len(rows)))
        # The values in the order of the table's keys (mapping.SESSION_FIELDS), by construction.
        session_values = attrgetter(*mapping.SESSION_FIELDS)
        for count, r in enumerate(rows, start=1):
            if not count % LINK_REPORT_ROWS:
                self._linked(LINK_REPORT_ROWS)
            if r.ref:
                if r.ref in first_ref:
                    self.bad(r.file, r.row, "session_id",
                             f"session_id {r.ref} appears twice (also row {first_ref[r.ref]})")
                    continue
                first_ref[r.ref] = r.row
            ep = resolved.get(id(r.link))
            if ep is None:
                ep = episode_for(r.file, r.row, r.link)
                if ep is not None:
                    resolved[id(r.link)] = ep
                    episodes[id(ep)] = ep
            sid = next(ids)
            d = r.draft
            ok = ep is not None and ep.ok and d is not None
            if r.ref:
                self.sessions_by_ref[r.ref] = _Sess(sid, ep.id if ep else None, ok)
            if not ok:
                continue
            assert ep is not None and d is not None
            flagged = r.entered_in_error
            append((sid, flagged, r.error_reason if flagged else None,
                    ep.id, d.performed_at, str(d.mode), str(d.surface), str(d.assistance),
                    *session_values(d)))
            counts[id(ep)] += 1
        for key, n in counts.items():
            self.touched[episodes[key].patient_id]["session(s)"] += n
        self._linked(len(rows) % LINK_REPORT_ROWS)

    # tests ------------------------------------------------------------------------------
    def tests(self, rows: list[TestIn]) -> None:
        self._known_episodes(r.link for r in rows)
        self._known_sessions({r.session_ref for r in rows if r.session_ref})
        ids = iter(_new_ids(len(rows)))
        for count, r in enumerate(rows, start=1):
            if not count % LINK_REPORT_ROWS:
                self._linked(LINK_REPORT_ROWS)
            ep = self._episode_for(r.file, r.row, r.link)
            ok = ep is not None and ep.ok and r.draft is not None and r.value is not None
            session_id = None
            if r.session_ref:
                sess = self.sessions_by_ref.get(r.session_ref)
                if sess is None:
                    self.bad(r.file, r.row, "session_id", f"no session {r.session_ref} in the "
                             "file or the database (allowed: a session_id from sessions.csv "
                             "or the database, or blank)")
                    ok = False
                elif not sess.ok:
                    ok = False
                elif ep is not None and sess.episode_id != ep.id:
                    self.bad(r.file, r.row, "session_id", f"session {r.session_ref} belongs to "
                             "another episode of care (allowed: a session of the same episode)")
                    ok = False
                else:
                    session_id = sess.id
            if not ok:
                continue
            assert ep is not None and r.draft is not None and r.value is not None
            d = r.draft
            self.test_rows.add(
                next(ids), r.entered_in_error, r.error_reason,
                ep.id, session_id, d.measure_id, d.performed_on,
                str(d.side) if d.side else None, r.value,
                list(d.items) if d.items is not None else None, d.notes,
            )
            self.touched[ep.patient_id]["test(s)"] += 1
        self._linked(len(rows) % LINK_REPORT_ROWS)

    def _known_sessions(self, refs: set[str]) -> None:
        ids: set[uuid.UUID] = set()
        for ref in refs - self.sessions_by_ref.keys():
            ids.update(_uuids(ref))
        for chunk in _chunks(sorted(ids, key=str)):
            q = select(WalkSessionRow.id, WalkSessionRow.episode_id).where(
                WalkSessionRow.id.in_(chunk))
            for sid, eid in self.s.execute(q):
                self.sessions_by_ref[str(sid)] = _Sess(sid, eid)

    # write ------------------------------------------------------------------------------
    def write(self, progress: ImportProgress | None = None) -> ImportSummary:
        """Batched INSERTs (executemany), parents first, inside the unit of work."""
        tables = (self.patient_rows, self.episode_rows, self.session_rows, self.test_rows)
        total = sum(len(t.rows) for t in tables)
        done = 0
        if progress is not None:
            progress(ImportPhase.STORING, 0, total)
        conn = self.s.connection()
        stamps = self._stamps()
        for t in tables:
            for i in range(0, len(t.rows), WRITE_BATCH):
                chunk = t.rows[i:i + WRITE_BATCH]
                _insert_many(conn, t.model.__table__, t.keys, chunk, stamps)
                done += len(chunk)
                if progress is not None:
                    progress(ImportPhase.STORING, done, total)
        return ImportSummary(*(len(t.rows) for t in tables))


class _Rows:
    """New rows of one table as tuples in the order of ``keys`` (the stamps come apart)."""

    def __init__(self, model: Any, columns: tuple[str, ...]) -> None:
        self.model = model
        self.keys = ("id", "entered_in_error", "error_reason", *columns)
        self.rows: list[tuple[Any, ...]] = []

    def add(self, id_: uuid.UUID, entered_in_error: bool, reason: str | None,
            *values: Any) -> None:
        self.rows.append((id_, entered_in_error, reason if entered_in_error else None,
                          *values))


def _insert_many(conn: Any, table: Any, keys: Sequence[str], rows: Sequence[tuple[Any, ...]],
                 same: dict[str, Any]) -> None:
    """``INSERT`` ``rows`` (tuples in ``keys`` order, plus the ``same`` values in every row).

    SQLite: one DB-API executemany of the SQL that ``insert(table)`` compiles to.
    PostgreSQL (psycopg): ``COPY ... FROM STDIN`` on the transaction's own connection, about
    three times faster than multi-row INSERTs for a large import. Both apply each column
    type's bind processor for this dialect (public ``TypeEngine`` API) column by column,
    once for a ``same`` value; Core's per-row parameter handling was about half the write
    time. Other drivers: Core's executemany.
    """
    dialect = conn.dialect
    if dialect.name == "sqlite":
        compiled = insert(table).compile(dialect=dialect, column_keys=[*keys, *same])
        order = list(compiled.positiontup or [*keys, *same])
        conn.exec_driver_sql(compiled.string, _converted_rows(dialect, table, order, keys,
                                                              rows, same))  # fmt: skip
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        order = [*keys, *same]
        quote = dialect.identifier_preparer.quote
        sql = (f"COPY {dialect.identifier_preparer.format_table(table)} "
               f"({', '.join(quote(name) for name in order)}) FROM STDIN")
        raw = conn.connection.dbapi_connection  # the same transaction: rolled back with it
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in _converted_rows(dialect, table, order, keys, rows, same):
                copy.write_row(row)
    else:
        conn.execute(insert(table), [{**same, **dict(zip(keys, row, strict=True))}
                                     for row in rows])


def _converted_rows(dialect: Any, table: Any, order: Sequence[str], keys: Sequence[str],
                    rows: Sequence[tuple[Any, ...]],
                    same: dict[str, Any]) -> list[tuple[Any, ...]]:  # fmt: skip
    """``rows`` as DB-API values in ``order``, through each column's bind processor."""
    position = {key: i for i, key in enumerate(keys)}
    by_column = list(zip(*rows, strict=True))
    columns: list[Iterable[Any]] = []
    for key in order:
        proc = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if key in same:
            value = same[key]
            columns.append(repeat(proc(value) if proc is not None else value, len(rows)))
        else:
            values = by_column[position[key]]
            columns.append(values if proc is None else map(proc, values))
    return list(zip(*columns, strict=True))
