"""Export and import use cases (FHIR R4, CSV): load or store records, audit every transfer.

The file formats live in ``clinic_app.interop`` (below services: it knows only the domain),
imported when an export or import runs.

Imports are all-or-nothing: every row is checked (domain validators, links to patients,
episodes and sessions, duplicate MRNs) before anything is written, every problem found is
reported in one :class:`ImportRejected`, and the rows are stored in one unit of work, in
batches, by ``uow.bulk`` (``persistence/bulk.py``). Imported records get new stamps (created
by the importing user, version 1).

Imports are idempotent by record id: a row keeps the id (a UUID) it comes with, so a file
exported by Backstep imports into another database with the same ids, and importing it
again changes nothing. A row whose id is already stored with the same content is skipped
and counted (:attr:`ImportSummary.skipped`); one whose id is stored with different content
is a conflict, reported like any other problem, so nothing is stored. Rows without an id,
or whose id is not a UUID (a label linking a hand-made spreadsheet's rows), get a new id.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any

from clinic_app.config import make_private
from clinic_app.domain.charts import PatientChart
from clinic_app.domain.errors import ValidationError
from clinic_app.domain.imports import (
    EpisodeIn,
    EpisodeLink,
    ExportSummary,
    ImportBatch,
    ImportPhase,
    ImportProblem,
    ImportProgress,
    ImportRejected,
    ImportSummary,
    PatientIn,
    ReadProgress,
    SessionIn,
    TestIn,
    paused_gc,
)
from clinic_app.domain.limits import day_problem, instant_floor, instant_problem
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.records import WalkSessionDraft
from clinic_app.domain.validation import validate_episode
from clinic_app.persistence import mapping
from clinic_app.persistence.backup import parts_registry
from clinic_app.persistence.bulk import COLUMNS
from clinic_app.persistence.outfiles import (
    OutputExistsError,
    part_file,
    publish,
    refuse_existing,
    target_in,
)
from clinic_app.persistence.uow import Database, UnitOfWork

ChartWriter = Callable[[Sequence[PatientChart], Path], None]
"""Writes charts in some format to a path (a file for FHIR, a directory for CSV)."""

_DERIVED = frozenset({"family_key", "given_key"})  # search keys follow from the names


WRITE_BATCH = 10_000  # rows per executemany; progress is reported after each batch
LINK_REPORT_ROWS = 50_000  # rows linked between two progress reports


# --- export ----------------------------------------------------------------------------


def export_fhir(
    db: Database, actor: Principal, out: Path, mrn: str | None = None, *, force: bool = False,
) -> ExportSummary:
    """Write one patient (by MRN) or every patient as a FHIR R4 collection Bundle (JSON) to
    ``out``; audited.

    ``out`` may be a folder (a dated file name is chosen); an existing file is replaced
    only with ``force``.
    """
    from clinic_app.interop import fhir

    out = target_in(Path(out), fhir_filename(mrn, datetime.now(UTC).astimezone().date()))
    return _export(db, actor, out, mrn, fhir.write_bundle, "FHIR R4 bundle", is_dir=False,
                   force=force)


def fhir_filename(mrn: str | None, on: date) -> str:
    """A safe default name such as ``backstep-fhir-DEMO-00001-2026-03-05.json``."""
    who = re.sub(r"[^A-Za-z0-9._-]+", "_", mrn.strip().upper()).strip("._") if mrn else ""
    return f"backstep-fhir-{who + '-' if who else ''}{on.isoformat()}.json"


def export_csv(
    db: Database, actor: Principal, out_dir: Path, mrn: str | None = None, *,
    force: bool = False, progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write patients/episodes/sessions/tests CSV files into ``out_dir``; audited.

    Files of an earlier export in ``out_dir`` are replaced only with ``force``. The charts
    are read page by page inside one read-only snapshot (a consistent copy that never
    holds up a writer) and written as they come, so memory stays flat whatever the
    clinic's size; ``progress(patients_written, patients)`` is called from the start.
    """
    from clinic_app.interop import csv_io, plan_csv
    from clinic_app.services import plan_interop

    principal = as_principal(actor)
    require(principal, Action.EXPORT)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; the CSV export needs a folder.")
    patient_ids: list[uuid.UUID] = []
    counts = [0, 0, 0]  # episodes, sessions, tests

    def counted(pages: Iterator[list[PatientChart]],
                each: Callable[[list[PatientChart]], None]) -> Iterator[list[PatientChart]]:
        for page in pages:
            each(page)
            for chart in page:
                patient_ids.append(chart.patient.id)
                for ep in chart.episodes:
                    counts[0] += 1
                    counts[1] += len(ep.sessions)
                    counts[2] += len(ep.tests)
            yield page

    def write(tmp: Path) -> None:
        with db.unit_of_work(principal, read_only=True, snapshot=True) as uow:
            total = uow.bulk.patient_count(mrn)
            report = None
            if progress is not None:
                progress(0, total)

                def report(done: int) -> None:
                    progress(done, total)
            # The plan of care (goals, prescriptions, session checklists) goes into files
            # of its own, page by page as the charts are written, in the same snapshot.
            with plan_csv.PlanCsvWriter(tmp) as plan_files:
                def each(page: list[PatientChart]) -> None:
                    plan_files.write(plan_interop.with_plans(uow, page))

                csv_io.write_csv_pages(counted(uow.bulk.chart_pages(mrn), each), tmp, report)

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".backstep-export-{uuid.uuid4().hex[:8]}.part"
    _write_and_place(db, principal, write, lambda: patient_ids,
                     lambda: ExportSummary(out, len(patient_ids), *counts),
                     out, tmp, "CSV", True, force)
    return ExportSummary(out, len(patient_ids), *counts)


def _export(
    db: Database, actor: Principal, out: Path, mrn: str | None, write: ChartWriter,
    what: str, is_dir: bool, force: bool,
) -> ExportSummary:
    """Load, write into a temporary place, then audit and move into place together.

    The files are moved into place inside the transaction that records the export, so a
    failed move records nothing, and a failed commit takes the files away again: the audit
    trail lists exactly the exports that exist.
    """
    principal = as_principal(actor)
    require(principal, Action.EXPORT)
    if is_dir and out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; the CSV export needs a folder.")
    if not is_dir:
        refuse_existing(out, force)
    with db.unit_of_work(principal, read_only=True, snapshot=True) as uow:
        charts = load_charts(uow, mrn)
    summary = _count(charts, out)
    with ExitStack() as stack:
        if is_dir:
            out.mkdir(parents=True, exist_ok=True)
            tmp = out / f".backstep-export-{uuid.uuid4().hex[:8]}.part"
        else:
            # Registered, so that a killed export leaves no copy behind after the next start.
            tmp = stack.enter_context(part_file(out, parts_registry()))
        _write_and_place(db, principal, lambda path: write(charts, path),
                         lambda: [c.patient.id for c in charts], lambda: summary,
                         out, tmp, what, is_dir, force)
    return summary


def _write_and_place(
    db: Database, principal: Principal, write: Callable[[Path], None],
    patient_ids: Callable[[], list[uuid.UUID]], summary_of: Callable[[], ExportSummary],
    out: Path, tmp: Path, what: str, is_dir: bool, force: bool,
) -> None:
    """Write with ``write(tmp)``, then audit (per patient and in all) and move into place.

    ``patient_ids`` and ``summary_of`` are asked after the write: a streamed export only
    knows them then.
    """
    placed: list[Path] = []
    try:
        if is_dir:
            tmp.mkdir()
        write(tmp)
        summary = summary_of()
        parts = sorted(tmp.iterdir()) if is_dir else [tmp]
        for part in parts:
            make_private(part)  # patient data: owner-only, whoever calls this
        dests = [out / part.name for part in parts] if is_dir else [out]
        for dest in dests:
            refuse_existing(dest, force)
        try:
            with db.unit_of_work(principal) as uow:
                detail = (f"{what} to {out}: {summary.patients} patient(s), "
                          f"{summary.episodes} episode(s), {summary.sessions} session(s), "
                          f"{summary.tests} test(s)")
                ids = patient_ids()
                for start in range(0, len(ids), WRITE_BATCH):  # bounded memory per batch
                    uow.audit.record_many("export", "patient", [
                        (pid, pid, f"{what} to {out}") for pid in ids[start:start + WRITE_BATCH]])
                uow.audit.record("export", "fhir" if what.startswith("FHIR") else "csv",
                                 detail=detail)
                for part, dest in zip(parts, dests, strict=True):
                    publish(part, dest, force)
                    placed.append(dest)
        except BaseException:
            for dest in placed:  # nothing exported stays on disk without its audit events
                dest.unlink(missing_ok=True)
            raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _count(charts: Sequence[PatientChart], out: Path) -> ExportSummary:
    eps = [e for c in charts for e in c.episodes]
    return ExportSummary(out, len(charts), len(eps), sum(len(e.sessions) for e in eps),
                         sum(len(e.tests) for e in eps))


def load_charts(uow: UnitOfWork, mrn: str | None = None) -> list[PatientChart]:
    """Whole charts (records entered in error included) of one patient or all, by MRN,
    each episode with its plan-of-care records."""
    from clinic_app.services.plan_interop import with_plans

    return with_plans(uow, uow.bulk.charts(mrn))


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

    @cached_property
    def floor(self) -> datetime:
        """The earliest instant a session of this episode may have (its start day)."""
        return instant_floor(episode_start=self.start)


@dataclass
class _Sess:
    id: uuid.UUID
    episode_id: uuid.UUID | None
    ok: bool = True


def import_csv(
    db: Database, actor: Principal, source: Path, progress: ImportProgress | None = None,
) -> ImportSummary:
    """Import a CSV file (or an exported folder) in one transaction; nothing if any row is bad.

    Raises :class:`ImportRejected` listing every problem (file, row, column, message).
    ``progress(phase, done, total)`` reports the :class:`ImportPhase` steps in order:
    checking from before the first row is read, linking, then storing per batch written;
    the rows become visible only when the whole import commits.
    """
    from clinic_app.interop import csv_io

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
        from clinic_app.interop import plan_csv

        if plan_csv.plan_only(source):  # only goals / prescriptions / checklists
            batch = ImportBatch(source=str(source))
        else:
            batch = csv_io.read_import(source, progress=checking)
        plan_csv.read_plan_import(source, batch)
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
    with paused_gc(), db.announced_job("import", principal.username), \
            db.unit_of_work(principal) as uow, uow.bulk.large_cache():
        plan = _Plan(uow, problems, progress, batch.rows)
        plan.patients(batch.patients)
        plan.episodes(batch.episodes)
        plan.sessions(batch.sessions)
        plan.tests(batch.tests)
        care = _care_rows(plan, uow, batch)
        plan.reconcile()
        care.reconcile()
        if problems:
            raise ImportRejected(problems)
        summary = care.write(plan.write(progress))
        uow.audit.record_many("import", "patient", [
            (patient_id, patient_id, f"from {batch.source}: " + _counts_text(counts))
            for patient_id, counts in sorted(plan.touched.items(), key=lambda kv: str(kv[0]))
        ])
        uow.audit.record(
            "import", "csv", detail=f"{batch.source}: {summary.patients} patient(s), "
            f"{summary.episodes} episode(s), {summary.sessions} session(s), "
            f"{summary.tests} test(s); {summary.skipped} row(s) already stored",
        )
    return summary


def _care_rows(plan: _Plan, uow: UnitOfWork, batch: ImportBatch) -> Any:
    """The plan-of-care rows of ``batch`` linked (``services/plan_interop.py``)."""
    from clinic_app.services.plan_interop import CarePlanRows

    care = CarePlanRows(plan, uow)
    care.link(batch)
    return care


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n)


def _uuids(text: str) -> list[uuid.UUID]:
    """``[UUID(text)]``, or ``[]`` when ``text`` is not a UUID (it then matches nothing)."""
    try:
        return [uuid.UUID(text)]
    except ValueError:
        return []


def _given_id(ref: str) -> uuid.UUID | None:
    """The record id a row comes with: its ref when that is a UUID, else ``None``."""
    if len(ref) != 36:  # the form Backstep exports; anything else is a label
        return None
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _id_order(row: tuple[Any, ...]) -> int:
    return int(row[0].int)


def _new_ids(n: int) -> list[uuid.UUID]:
    """``n`` new :func:`uuid.uuid4` ids in ascending order.

    Rows get them in the order they are inserted, so the primary-key index of a large
    import grows at its end instead of at random places (SQLite: a third less write time
    for 1M sessions). They are as random as any other id; only their order is chosen.
    """
    ids = [uuid.uuid4() for _ in range(n)]
    ids.sort(key=attrgetter("int"))
    return ids


class _Plan:
    """Resolves links, checks what needs the database, then writes the rows in batches."""

    def __init__(self, uow: UnitOfWork, problems: list[ImportProblem],
                 progress: ImportProgress | None = None, rows: int = 0) -> None:
        self.progress = progress
        self.linked, self.to_link = 0, rows
        if progress is not None:
            progress(ImportPhase.LINKING, 0, rows)
        self.bulk = uow.bulk
        self.problems = problems
        self.today = date.today()
        self.patient_rows = _Rows("patient")
        self.episode_rows = _Rows("episode")
        self.session_rows = _Rows("session")
        self.test_rows = _Rows("test")
        # MRN -> (patient id, date of birth or None when the file's row had problems)
        self.by_mrn: dict[str, tuple[uuid.UUID, date | None]] = {}
        self.episodes_by_ref: dict[str, _Ep] = {}
        self.episodes_by_key: dict[tuple[str, date], list[_Ep]] = defaultdict(list)
        self.sessions_by_ref: dict[str, _Sess] = {}
        self.touched: dict[uuid.UUID, dict[str, int]] = defaultdict(
            lambda: {"patient": 0, "episode(s)": 0, "session(s)": 0, "test(s)": 0})
        # Rows that came with their id: id -> (file, row), per table, checked by reconcile().
        self.given: dict[str, dict[uuid.UUID, tuple[str, int]]] = {
            "patient_id": {}, "episode_id": {}, "session_id": {}, "test_id": {}}
        self.patient_of: dict[uuid.UUID, uuid.UUID] = {}  # episode id -> patient id

    def bad(self, file: str, row: int, column: str, message: str) -> None:
        self.problems.append(ImportProblem(file, row, column, message))

    def _linked(self, rows: int) -> None:
        """Report ``rows`` more rows linked (each kind of row reports when it is done)."""
        self.linked += rows
        if self.progress is not None:
            self.progress(ImportPhase.LINKING, self.linked, self.to_link)

    # patients ---------------------------------------------------------------------------
    def patients(self, rows: list[PatientIn]) -> None:
        mrns = [r.mrn for r in rows if r.mrn]
        taken = self.bulk.patient_ids(mrns)
        first_row: dict[str, int] = {}
        first_ref: dict[str, int] = {}
        given_ids = self.given["patient_id"]
        for r in rows:
            if r.mrn in first_row:
                self.bad(r.file, r.row, "mrn",
                         f"MRN {r.mrn} appears twice in the file (also row {first_row[r.mrn]})")
                continue
            if r.mrn:
                first_row[r.mrn] = r.row
            if r.ref and r.ref in first_ref:
                self.bad(r.file, r.row, "patient_id", f"patient_id {r.ref} appears twice in "
                         f"the file (also row {first_ref[r.ref]})")
                continue
            if r.ref:
                first_ref[r.ref] = r.row
            given = _given_id(r.ref)
            owner = taken.get(r.mrn)
            if owner is not None and owner != given:
                self.bad(r.file, r.row, "mrn",
                         f"MRN {r.mrn} is already used by a patient in the database "
                         "(allowed: an MRN not yet in the database, or that patient's "
                         "patient_id)")
                continue
            pid = given or uuid.uuid4()
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
            if given is not None:
                given_ids[given] = (r.file, r.row)
        self._linked(len(rows))

    def _known_patients(self, mrns: Iterable[str]) -> None:
        """Add database patients for the MRNs not defined by the file."""
        wanted = sorted({m for m in mrns if m and m not in self.by_mrn})
        for mrn, pid, dob in self.bulk.patients(wanted):
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
            given = _given_id(r.ref)
            eid = given or uuid.uuid4()
            self.patient_of[eid] = pid
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
            if given is not None:
                self.given["episode_id"][given] = (r.file, r.row)
        self._linked(len(rows))

    def _known_episodes(self, links: Iterable[EpisodeLink]) -> None:
        """Add database episodes named by id, or by MRN + start date, to the lookups."""
        links = list(links)
        ids: set[uuid.UUID] = set()
        for link in links:
            if link.episode_ref and link.episode_ref not in self.episodes_by_ref:
                ids.update(_uuids(link.episode_ref))
        for eid, pid, mrn, start in self.bulk.episodes(sorted(ids, key=str)):
            self.episodes_by_ref[str(eid)] = _Ep(eid, pid, mrn, start)
        self._known_patients(link.mrn for link in links if not link.episode_ref)
        pids = sorted({self.by_mrn[link.mrn][0] for link in links
                       if not link.episode_ref and link.mrn in self.by_mrn}, key=str)
        file_eps = {ep.id for eps in self.episodes_by_key.values() for ep in eps}
        for eid, pid, mrn, start in self.bulk.valid_episodes_of(pids):
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
        given_ids = self.given["session_id"]
        append = self.session_rows.rows.append  # what _Rows.add does, without a call a row
        episode_for = self._episode_for
        resolved: dict[int, _Ep] = {}  # rows share link objects: resolve each once
        ids = iter(_new_ids(len(rows)))
        # The values in the order of the table's keys (mapping.SESSION_FIELDS), by construction.
        session_values = attrgetter(*mapping.SESSION_FIELDS)
        for count, r in enumerate(rows, start=1):
            if not count % LINK_REPORT_ROWS:
                self._linked(LINK_REPORT_ROWS)
            given = None
            if r.ref:
                if r.ref in first_ref:
                    self.bad(r.file, r.row, "session_id",
                             f"session_id {r.ref} appears twice (also row {first_ref[r.ref]})")
                    continue
                first_ref[r.ref] = r.row
                given = _given_id(r.ref)
            ep = resolved.get(id(r.link))
            if ep is None:
                ep = episode_for(r.file, r.row, r.link)
                if ep is not None:
                    resolved[id(r.link)] = ep
                    self.patient_of[ep.id] = ep.patient_id
            sid = next(ids) if given is None else given
            d = r.draft
            ok = ep is not None and ep.ok and d is not None
            if ok and d.performed_at < ep.floor:  # type: ignore[union-attr]
                self._before_episode(r.file, r.row, d, ep)  # type: ignore[arg-type]
                ok = False
            if r.ref:
                self.sessions_by_ref[r.ref] = _Sess(sid, ep.id if ep else None, ok)
            if not ok:
                continue
            assert ep is not None and d is not None
            flagged = r.entered_in_error
            append((sid, flagged, r.error_reason if flagged else None,
                    ep.id, d.performed_at, str(d.mode), str(d.surface), str(d.assistance),
                    *session_values(d)))
            if given is not None:
                given_ids[given] = (r.file, r.row)
        self._linked(len(rows) % LINK_REPORT_ROWS)

    def _before_episode(self, file: str, row: int, d: WalkSessionDraft, ep: _Ep) -> None:
        """Report a session dated before its episode started (the domain words it)."""
        problem = instant_problem("Date/time", d.performed_at, episode_start=ep.start)
        if problem is not None:
            self.bad(file, row, "performed_at", str(problem))

    # tests ------------------------------------------------------------------------------
    def tests(self, rows: list[TestIn]) -> None:
        self._known_episodes(r.link for r in rows)
        self._known_sessions({r.session_ref for r in rows if r.session_ref})
        ids = iter(_new_ids(len(rows)))
        first_ref: dict[str, int] = {}
        for count, r in enumerate(rows, start=1):
            if not count % LINK_REPORT_ROWS:
                self._linked(LINK_REPORT_ROWS)
            if r.ref:
                if r.ref in first_ref:
                    self.bad(r.file, r.row, "test_id",
                             f"test_id {r.ref} appears twice (also row {first_ref[r.ref]})")
                    continue
                first_ref[r.ref] = r.row
            given = _given_id(r.ref)
            ep = self._episode_for(r.file, r.row, r.link)
            ok = ep is not None and ep.ok and r.draft is not None and r.value is not None
            if ok and ep is not None and r.draft is not None:
                problem = day_problem("Performed on", r.draft.performed_on,
                                      episode_start=ep.start, today=self.today)
                if problem is not None:
                    self.bad(r.file, r.row, "performed_on", str(problem))
                    ok = False
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
            tid = next(ids) if given is None else given
            self.test_rows.add(
                tid, r.entered_in_error, r.error_reason,
                ep.id, session_id, d.measure_id, d.performed_on,
                str(d.side) if d.side else None, r.value,
                list(d.items) if d.items is not None else None, d.notes,
            )
            self.patient_of[ep.id] = ep.patient_id
            if given is not None:
                self.given["test_id"][tid] = (r.file, r.row)
        self._linked(len(rows) % LINK_REPORT_ROWS)

    def _known_sessions(self, refs: set[str]) -> None:
        ids: set[uuid.UUID] = set()
        for ref in refs - self.sessions_by_ref.keys():
            ids.update(_uuids(ref))
        for sid, eid in self.bulk.session_episodes(sorted(ids, key=str)).items():
            self.sessions_by_ref[str(sid)] = _Sess(sid, eid)

    # ids already stored ---------------------------------------------------------------
    def reconcile(self) -> None:
        """Skip rows already stored as they are; report those stored with other content.

        Only rows that came with their id can be stored already. The comparison is of the
        very values that would be inserted (stamps aside), read back by id in chunks.
        """
        tables = ((self.patient_rows, "patient_id", "patient"),
                  (self.episode_rows, "episode_id", "episode"),
                  (self.session_rows, "session_id", "session"),
                  (self.test_rows, "test_id", "test"))
        for t, column, what in tables:
            given = self.given[column]
            stored = self.bulk.stored(t.kind, list(given)) if given else {}
            if not stored:
                continue
            keep: list[tuple[Any, ...]] = []
            for row in t.rows:
                old = stored.get(row[0])
                if old is None:
                    keep.append(row)
                    continue
                differ = [k for k, a, b in zip(t.keys[1:], row[1:], old, strict=True)
                          if k not in _DERIVED and a != b]
                if not differ:
                    t.skipped += 1
                    continue
                file, number = given[row[0]]
                self.bad(file, number, column,
                         f"{column} {row[0]} is already stored with other values "
                         f"({', '.join(differ)} differ): a conflict (allowed: the stored "
                         f"{what} unchanged, or a new {column})")
            t.rows = keep
        for t, column, _ in tables:
            if self.given[column]:  # ids from the file are random: insert in index order
                t.rows.sort(key=_id_order)
        self._touch()

    def _touch(self) -> None:
        """Count, per patient, what will be stored (for the patients' audit events)."""
        for row in self.patient_rows.rows:
            self.touched[row[0]]["patient"] = 1
        for row in self.episode_rows.rows:
            self.touched[row[3]]["episode(s)"] += 1
        for what, rows in (("session(s)", self.session_rows.rows),
                           ("test(s)", self.test_rows.rows)):
            per_episode = Counter(row[3] for row in rows)
            for episode_id, n in per_episode.items():
                self.touched[self.patient_of[episode_id]][what] += n

    # write ------------------------------------------------------------------------------
    def write(self, progress: ImportProgress | None = None) -> ImportSummary:
        """Batched INSERTs (executemany), parents first, inside the unit of work."""
        tables = (self.patient_rows, self.episode_rows, self.session_rows, self.test_rows)
        total = sum(len(t.rows) for t in tables)
        done = 0
        if progress is not None:
            progress(ImportPhase.STORING, 0, total)
        stamps = self.bulk.stamps()
        for t in tables:
            for i in range(0, len(t.rows), WRITE_BATCH):
                chunk = t.rows[i:i + WRITE_BATCH]
                self.bulk.insert(t.kind, chunk, stamps)
                done += len(chunk)
                if progress is not None:
                    progress(ImportPhase.STORING, done, total)
        return ImportSummary(*(len(t.rows) for t in tables), *(t.skipped for t in tables))


class _Rows:
    """New rows of one kind as tuples in the order of ``bulk.COLUMNS[kind]`` (the stamps
    come apart)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.keys = COLUMNS[kind]
        self.rows: list[tuple[Any, ...]] = []
        self.skipped = 0  # rows already stored with the same content

    def add(self, id_: uuid.UUID, entered_in_error: bool, reason: str | None,
            *values: Any) -> None:
        self.rows.append((id_, entered_in_error, reason if entered_in_error else None,
                          *values))
