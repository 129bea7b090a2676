"""Command line: ``clinic-app`` (GUI) and its maintenance sub-commands.

See DESIGN.md "Automation contract" for the stable command names.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from clinic_app import __version__
from clinic_app.config import AppConfig, backup_dir, resolve
from clinic_app.domain.errors import DomainError

if TYPE_CHECKING:
    from clinic_app.services.interop import ImportPhase


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clinic-app",
        description="Backstep: retro-walking knee rehabilitation charting. "
        "Without a command, opens the application window.",
    )
    parser.add_argument("--version", action="version", version=f"Backstep {__version__}")
    parser.add_argument(
        "--db", metavar="URL",
        help="database URL, e.g. postgresql://user@host/clinic "
        "(default: $CLINIC_APP_DB, else a SQLite file in the user data folder)",
    )
    parser.add_argument("--user", metavar="NAME", help="acting user recorded in the audit trail")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation in a temporary folder (database, PDF "
                        "report, window) and exit; real data is not touched")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="add realistic demonstration patients")
    demo.add_argument("--patients", type=int, default=24, metavar="N",
                      help="how many demo patients to add (default 24)")

    dbp = sub.add_parser("db", help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbsub.add_parser("upgrade", help="migrate the schema to this version (backup first)")

    bk = sub.add_parser("backup", help="write a verified backup of the whole database")
    bk.add_argument("--out", type=Path, metavar="FILE",
                    help=f"backup file (default: a time-stamped file in {backup_dir()})")

    rp = sub.add_parser("report", help="write the PDF progress report of one or more patients")
    rp.add_argument("patients", nargs="+", metavar="PATIENT", help="MRN of the patient")
    rp.add_argument("--out", type=Path, required=True, metavar="FILE.pdf",
                    help="the PDF file; with several patients, the folder for their reports")
    rp.add_argument("--from", dest="start", type=_date, metavar="YYYY-MM-DD",
                    help="first day of the period covered (default: first record)")
    rp.add_argument("--to", dest="end", type=_date, metavar="YYYY-MM-DD",
                    help="last day of the period covered (default: latest record)")
    rp.add_argument("--therapist", metavar="NAME", help="name printed above the signature line")

    ex = sub.add_parser("export", help="export records to FHIR R4 or CSV")
    exsub = ex.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    fh = exsub.add_parser("fhir", help="an HL7 FHIR R4 Bundle (JSON)")
    fh.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    fh.add_argument("--patient", metavar="MRN", help="only this patient (default: everyone)")
    cs = exsub.add_parser("csv", help="patients.csv, episodes.csv, sessions.csv, tests.csv")
    cs.add_argument("--out", type=Path, required=True, metavar="DIR")
    cs.add_argument("--patient", metavar="MRN", help="only this patient (default: everyone)")

    im = sub.add_parser("import", help="import records; nothing is stored if any row is bad")
    imsub = im.add_subparsers(dest="import_format", metavar="FORMAT", required=True)
    ic = imsub.add_parser("csv", help="one CSV file or a folder written by 'export csv'")
    ic.add_argument("file", type=Path, metavar="FILE")

    au = sub.add_parser("audit", help="audit trail tools")
    ausub = au.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ausub.add_parser("verify", help="check the tamper-evident chain of the whole audit trail")

    mv = sub.add_parser("move", help="copy the whole clinic into an empty database (e.g. a "
                        "PostgreSQL server); the old one then takes no more writes")
    mv.add_argument("--to", required=True, metavar="URL", dest="target",
                    help="the empty target, e.g. postgresql://backstep@server/backstep")

    rs = sub.add_parser("restore", help="verify a backup and restore it (current data is kept)")
    rs.add_argument("file", type=Path, metavar="FILE")
    return parser


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-31") from None


def _open(cfg: AppConfig):  # type: ignore[no-untyped-def]
    from clinic_app.persistence.uow import Database

    return Database.open(cfg.db_url, backup_dir=backup_dir())


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.self_test:
        from clinic_app.selftest import run_self_test

        return run_self_test(gui_check=_window_offscreen)
    cfg = resolve(args.db, args.user)
    if args.command is None:
        from clinic_app.app import run_gui

        return run_gui(cfg)
    try:
        return _dispatch(args, cfg)
    except DomainError as exc:
        print(f"clinic-app: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace, cfg: AppConfig) -> int:
    if args.command == "db":
        from clinic_app.persistence.migrate import head_revision

        db = _open(cfg)
        try:
            m = db.migration
            assert m is not None
            if m.from_revision == m.to_revision:
                print(f"Database is up to date (revision {m.to_revision}).")
            else:
                print(f"Database upgraded from {m.from_revision or 'empty'} to {head_revision()}.")
                if m.backup_path:
                    print(f"Backup taken first: {m.backup_path}")
        finally:
            db.close()
        return 0

    if args.command == "demo":
        from clinic_app.services.demo import seed_demo

        if args.patients < 1 or args.patients > 100_000:
            print("clinic-app: --patients must be between 1 and 100000", file=sys.stderr)
            return 2
        db = _open(cfg)
        try:
            n = seed_demo(db, cfg.actor, patients=args.patients)
        finally:
            db.close()
        print(f"Added {n} demo patients to {_where(cfg)}.")
        return 0

    if args.command == "backup":
        from clinic_app.services.maintenance import backup_now

        db = _open(cfg)
        try:
            result = backup_now(db, cfg.actor, args.out)
        finally:
            db.close()
        print(f"Backup written and verified: {result.path} ({result.size_bytes:,} bytes)")
        return 0

    if args.command == "report":
        from clinic_app.reports import build_progress_report
        from clinic_app.services.reporting import generate_batch, generate_report

        db = _open(cfg)
        try:
            if len(args.patients) == 1:
                outcomes = [generate_report(db, cfg.actor, args.patients[0], args.out,
                                            args.start, args.end, args.therapist,
                                            render=build_progress_report)]
            else:
                outcomes = generate_batch(db, cfg.actor, args.patients, args.out, args.start,
                                          args.end, args.therapist, render=build_progress_report)
        finally:
            db.close()
        for outcome in outcomes:
            print(f"Report written: {outcome.path} ({outcome.pages} page(s))")
        return 0

    if args.command == "export":
        from clinic_app import interop

        db = _open(cfg)
        try:
            if args.export_format == "fhir":
                summary = interop.export_fhir(db, cfg.actor, args.out, args.patient)
            else:
                summary = interop.export_csv(db, cfg.actor, args.out, args.patient)
        finally:
            db.close()
        print(f"Exported {summary.patients} patient(s), {summary.sessions} session(s) and "
              f"{summary.tests} test result(s) to {summary.path}")
        return 0

    if args.command == "import":
        from clinic_app import interop

        db = _open(cfg)
        try:
            result = interop.import_csv(db, cfg.actor, args.file, _ImportProgressLine())
        finally:
            print(file=sys.stderr)
            db.close()
        print(f"Imported {result.patients} patient(s), {result.episodes} episode(s), "
              f"{result.sessions} session(s) and {result.tests} test result(s).")
        return 0

    if args.command == "audit":
        db = _open(cfg)
        try:
            report = db.verify_audit()
        finally:
            db.close()
        if report.ok:
            print(f"Audit trail intact: {report.checked:,} events verified.")
            return 0
        print(f"AUDIT TRAIL TAMPERED: {len(report.problems)} problem(s) in "
              f"{report.checked:,} events:", file=sys.stderr)
        for problem in report.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1

    if args.command == "move":
        from clinic_app.persistence.move import check_table
        from clinic_app.services.moving import move_clinic

        db = _open(cfg)
        try:
            result = move_clinic(db, cfg.actor, args.target, _MoveProgressLine())
        finally:
            print(file=sys.stderr)
            db.close()
        print(check_table(result.tables))
        print(f"Moved {result.rows:,} rows from {result.source} to {result.target} in "
              f"{result.seconds:.1f} s; every table compared equal. The old database now "
              "refuses writes: point every workstation at the new one.")
        return 0

    if args.command == "restore":
        from clinic_app.persistence.engine import make_engine
        from clinic_app.persistence.uow import Database
        from clinic_app.services.maintenance import restore_from

        # No start-up checks: restoring is how a damaged database is repaired.
        db = Database(cfg.db_url, make_engine(cfg.db_url))
        try:
            safety = restore_from(db, cfg.actor, args.file)
        finally:
            db.close()
        print(f"Restored {args.file}. The data it replaced is kept in {safety.path}")
        return 0
    raise AssertionError(args.command)


class _ImportProgressLine:
    """Shows an import's progress on one stderr line per phase: percent, and rows stored."""

    def __init__(self) -> None:
        self.phase: ImportPhase | None = None
        self.shown = ""

    def __call__(self, phase: ImportPhase, done: int, total: int) -> None:
        if self.phase is not None and phase != self.phase:
            print(file=sys.stderr)  # keep the finished phase's line
        self.phase = phase
        percent = 100 * done // total if total else 100
        line = f"  {phase.label}: {percent} %"
        if phase == "storing":
            line += f" ({done:,} of {total:,} rows)"
        if line != self.shown:
            self.shown = line
            print(f"\r{line}", end="", file=sys.stderr, flush=True)


class _MoveProgressLine:
    """A move's progress on one stderr line per table."""

    def __init__(self) -> None:
        self.shown = ""

    def __call__(self, phase: str, table: str, done: int, total: int) -> None:
        line = f"  {phase} {table}: {done:,} of {total:,} rows"
        if line.split(":")[0] != self.shown.split(":")[0] and self.shown:
            print(file=sys.stderr)  # keep the finished table's line
        self.shown = line
        print(f"\r{line}", end="", file=sys.stderr, flush=True)


def _window_offscreen() -> str:
    """Self-test: create the QApplication and the main window offscreen, then close them."""
    import os

    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import qVersion
    from PySide6.QtWidgets import QApplication

    from clinic_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(actor="self-test", offer_demo=False)
    window.show()
    app.processEvents()
    shown = window.isVisible()
    window.close()
    window.deleteLater()
    app.processEvents()
    if not shown:
        raise RuntimeError("the main window did not show")
    return f"main window created offscreen (Qt {qVersion()}, {app.platformName()})"


def _where(cfg: AppConfig) -> str:
    from sqlalchemy.engine import make_url

    return make_url(cfg.db_url).render_as_string(hide_password=True)


def main() -> None:
    """Entry point of the ``clinic-app`` script."""
    sys.exit(run())
