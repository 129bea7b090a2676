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

import gc
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from clinic_app.config import make_private
from clinic_app.domain.charts import PatientChart
from clinic_app.domain.imports import (
    ExportSummary,
    ImportBatch,
    ImportPhase,
    ImportProblem,
    ImportProgress,
    ImportRejected,
    ImportSummary,
    ReadProgress,
    paused_gc,
)
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.persistence.backup import parts_registry
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
    """Write patients/episodes/sessions/tests CSV files and the plan of care (goals,
    prescriptions, session_safety) into ``out_dir``; audited.

    Files of an earlier export in ``out_dir`` are replaced only with ``force``. The records
    are read as plain rows, a page of patients at a time, inside one read-only snapshot (a
    consistent copy that never holds up a writer) and written as they come, so memory
    stays flat whatever the clinic's size; ``progress(patients_written, patients)`` is
    called from the start.
    """
    from clinic_app.interop import csv_stream, plan_csv
    from clinic_app.persistence.export_rows import EXPORT_COLUMNS
    from clinic_app.services import plan_interop

    principal = as_principal(actor)
    require(principal, Action.EXPORT)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; the CSV export needs a folder.")
    patient_ids: list[uuid.UUID] = []
    counts = [0, 0, 0]  # episodes, sessions, tests

    def counted(pages: Iterator[dict[str, Any]], each: Callable[[dict[str, Any]], None],
                ) -> Iterator[tuple[int, dict[str, Any]]]:
        for page in pages:
            each(page)
            patient_ids.extend(uuid.UUID(str(row[0])) for row in page["patients"])  # id text
            counts[0] += len(page["episodes"])
            counts[1] += len(page["sessions"])
            counts[2] += len(page["tests"])
            yield len(page["patients"]), page

    def write(tmp: Path) -> None:
        with db.unit_of_work(principal, read_only=True, snapshot=True) as uow:
            total = uow.bulk.patient_count(mrn)
            report = None
            if progress is not None:
                progress(0, total)

                def report(done: int) -> None:
                    progress(done, total)
            # The plan of care of each page's episodes goes into files of its own as the
            # page is written, read in the same snapshot.
            with plan_csv.PlanCsvWriter(tmp) as plan_files:
                if uow.bulk.csv_cells_exact():
                    _write_cells(uow, mrn, tmp, plan_files, patient_ids, counts, report)
                    return

                def each(page: dict[str, Any]) -> None:
                    plan_files.write(plan_interop.page_plans(uow, page["episodes"]))

                csv_stream.write_row_pages(counted(uow.bulk.export_pages(mrn), each),
                                           EXPORT_COLUMNS, tmp, report)

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".backstep-export-{uuid.uuid4().hex[:8]}.part"
    _write_and_place(db, principal, write, lambda: patient_ids,
                     lambda: ExportSummary(out, len(patient_ids), *counts),
                     out, tmp, "CSV", True, force)
    return ExportSummary(out, len(patient_ids), *counts)


def _write_cells(
    uow: UnitOfWork, mrn: str | None, tmp: Path, plan_files: Any,
    patient_ids: list[uuid.UUID], counts: list[int],
    report: Callable[[int], None] | None,
) -> None:
    """The chart files from cells the database formats (``persistence/export_csv.py``),
    a page of patients at a time; ``patient_ids`` and ``counts`` (episodes, sessions,
    tests) are filled as the pages go."""
    from clinic_app.domain.measures import MEASURES
    from clinic_app.interop import csv_export, csv_io
    from clinic_app.persistence.export_csv import CsvRules
    from clinic_app.services import plan_interop

    rules = CsvRules(csv_io.COLUMNS, csv_io._TEXT_COLUMNS, csv_io._FORMULA_START,
                     {measure_id: m.unit for measure_id, m in MEASURES.items()})
    at = {"episodes": 0, "sessions": 1, "tests": 2}
    done = 0
    with csv_export.CsvFiles(tmp, csv_io.COLUMNS) as files:
        for page in uow.bulk.csv_pages(rules, mrn):
            plan_files.write(plan_interop.page_plans(uow, page.episode_keys))
            for part in page.parts():
                files.write(part)
                if part.kind in at:
                    counts[at[part.kind]] += part.count
            patient_ids.extend(page.patient_ids)
            done += len(page.patient_ids)
            if report is not None:
                report(done)


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

ChunkSource = Callable[[bool], Iterable[tuple[str, list[Any]]]]
"""``read(first_pass)``: the rows to import as ``(file kind, rows)`` chunks in file order,
each time it is called (the import reads twice); progress is reported on the first pass."""


def import_csv(
    db: Database, actor: Principal, source: Path, progress: ImportProgress | None = None,
) -> ImportSummary:
    """Import a CSV file (or an exported folder) in one transaction; nothing if any row is bad.

    The plan-of-care files (goals, prescriptions, session_safety) are read after the
    chart files, and may come alone, linking to episodes and sessions already stored.

    Raises :class:`ImportRejected` listing every problem (file, row, column, message).
    ``progress(phase, done, total)`` reports the :class:`ImportPhase` steps in order:
    checking from before the first row is read (rows and links, in bytes of the files),
    linking once that is done, then storing per batch written; the rows become visible
    only when the whole import commits.

    The files are read twice as a stream (``import_plan.py``): once to check everything
    in a read-only snapshot, once to store, so memory stays flat whatever their size.
    """
    from clinic_app.interop import csv_stream

    principal = as_principal(actor)
    require(principal, Action.WRITE_CLINICAL)  # before a long read, not after it
    source = Path(source)
    now = datetime.now().astimezone()  # the same "now" for both readings
    today = date.today()
    problems: list[ImportProblem] = []
    checking: ReadProgress | None = None
    if progress is not None:
        def checking(done: int, total: int) -> None:
            progress(ImportPhase.CHECKING, done, total)

    def read(first_pass: bool) -> Iterable[tuple[str, list[Any]]]:
        # raw: rows stored as they are are recognised without being converted
        return csv_stream.read_chunks(source, problems, now, today,
                                      checking if first_pass else None, raw=True)

    return _import(db, principal, read, problems, source.name, progress, own_chunks=True)


def store_batch(
    db: Database, actor: Principal, batch: ImportBatch,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Check ``batch`` (rows read into memory) against the database and store it all, or
    raise ImportRejected. ``progress(phase, done, total)``: see :func:`import_csv`."""
    lists = (("patients", batch.patients), ("episodes", batch.episodes),
             ("sessions", batch.sessions), ("tests", batch.tests), ("goals", batch.goals),
             ("prescriptions", batch.prescriptions), ("session_safety", batch.safety))
    problems = list(batch.problems)
    return _import(db, as_principal(actor),
                   lambda _first: [(kind, rows) for kind, rows in lists if rows],
                   problems, batch.source, progress)


def _import(
    db: Database, principal: Principal, read: ChunkSource, problems: list[ImportProblem],
    source: str, progress: ImportProgress | None, own_chunks: bool = False,
) -> ImportSummary:
    """Check every chunk (read-only), then store them all in one transaction, audited.

    ``own_chunks``: nobody else holds the chunks ``read`` gives (a stream), so each is
    emptied once handled, in slices (``csv_stream.drop``): freed in one step, 10,000 rows
    of patients or episodes held the interpreter, and a window waiting for it, for tens of ms.
    """
    from clinic_app.interop.csv_stream import drop
    from clinic_app.services.import_plan import ImportPlan

    def handled(rows: Any) -> None:
        if own_chunks and isinstance(rows, list):
            drop(rows)

    # One pause for the whole import: the collector would otherwise scan the rows of every
    # chunk over and over. Checking a row leaves about one small reference cycle behind,
    # so the young generations are collected after each chunk (a few ms; the long-lived
    # lookups have moved to the oldest generation by then and are not scanned again):
    # without it memory grew by about 200 bytes a row.
    with paused_gc():
        with db.unit_of_work(principal, read_only=True, snapshot=True) as uow:
            check = ImportPlan(uow, problems, store=False)
            try:
                for kind, rows in read(True):
                    if kind == "patients":
                        require(principal, Action.WRITE_PATIENT)
                    check.add(kind, rows)
                    handled(rows)
                    del rows
                    gc.collect(1)
            finally:
                uow.bulk.close_side_reader()  # before its snapshot's transaction ends
        rows_read, summary, new_ids = check.rows, check.summary(), dict(check.new_ids)
        check.release()
        del check
        if rows_read == 0 and not problems:
            problems.append(ImportProblem(source, 0, "file", "contains no records"))
        if problems:
            raise ImportRejected(problems)
        if progress is not None:  # links were checked with each chunk of rows
            progress(ImportPhase.LINKING, 0, rows_read)
            progress(ImportPhase.LINKING, rows_read, rows_read)
        with ExitStack() as stack:
            if summary.total:
                stack.enter_context(db.announced_job("import", principal.username))
            uow = stack.enter_context(db.unit_of_work(principal))
            if progress is not None:
                progress(ImportPhase.STORING, 0, summary.total)
            if summary.total:
                stack.enter_context(uow.bulk.bulk_writing())
                again: list[ImportProblem] = []  # the database may have changed meanwhile
                plan = ImportPlan(uow, again, store=True, new_ids=new_ids,
                                  total=summary.total, progress=progress,
                                  write_batch=WRITE_BATCH)
                for kind, rows in read(False):
                    plan.add(kind, rows)
                    handled(rows)
                    del rows
                    gc.collect(1)
                if again:
                    raise ImportRejected(again)
                summary = plan.summary()
                plan.release()  # the lookups go before the audit events are made
                # One event per patient touched, chained in the order of their ids, written
                # a batch at a time so that memory stays flat.
                for details in plan.audit_details(WRITE_BATCH):
                    uow.audit.record_many("import", "patient", [
                        (patient_id, patient_id, f"from {source}: " + _counts_text(counts))
                        for patient_id, counts in details
                    ])
            uow.audit.record(
                "import", "csv", detail=f"{source}: {summary.patients} patient(s), "
                f"{summary.episodes} episode(s), {summary.sessions} session(s), "
                f"{summary.tests} test(s), {_plan_records(summary)} plan-of-care record(s); "
                f"{summary.skipped} row(s) already stored",
            )
    return summary


def _plan_records(summary: ImportSummary) -> int:
    return summary.goals + summary.prescriptions + summary.checklists


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n)
