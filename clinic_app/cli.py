"""Command line: ``clinic-app`` (GUI) and its maintenance sub-commands.

The command names, options and exit codes are a stable contract (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from clinic_app import __version__
from clinic_app.config import AppConfig, backup_dir, resolve
from clinic_app.domain.errors import DomainError

if TYPE_CHECKING:
    from clinic_app.domain.imports import ImportPhase
    from clinic_app.services.facade import Clinic

EXIT_ERROR = 2
EXIT_UNEXPECTED = 1
ROLES = {"admin": "admin", "therapist": "therapist", "frontdesk": "front_desk"}


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
    parser.add_argument("--user", metavar="NAME",
                        help="the Backstep user who signs in (default: $CLINIC_APP_USER); the "
                        "password is asked on the terminal, or read with --password-stdin")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the signing-in user's password from the first line of "
                        "standard input (for scripts), e.g. "
                        "echo \"$PW\" | clinic-app --user anna --password-stdin backup")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation in a temporary folder (database, PDF "
                        "report, window) and exit; real data is not touched")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="add realistic demonstration patients")
    demo.add_argument("--patients", type=int, default=48, metavar="N",
                      help="how many demo patients to add (default 48)")
    demo.set_defaults(handler=_cmd_demo)

    dbp = sub.add_parser("db", help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbsub.add_parser("upgrade", help="migrate the schema to this version (backup first)")
    dbp.set_defaults(handler=_cmd_db)

    bk = sub.add_parser("backup", help="write a verified backup of the whole database")
    bk.add_argument("--out", type=Path, metavar="FILE",
                    help="backup file, or a folder for a time-stamped one "
                    "(default: a time-stamped file in the data folder's backups)")
    bk.add_argument("--force", action="store_true", help="replace an existing FILE")
    bk.set_defaults(handler=_cmd_backup)

    rp = sub.add_parser("report", help="write the PDF progress report of one or more patients")
    rp.add_argument("patients", nargs="+", metavar="PATIENT", help="MRN of the patient")
    rp.add_argument("--out", type=Path, required=True, metavar="FILE.pdf",
                    help="the PDF file, or a folder for it; with several patients, the "
                    "folder for their reports")
    rp.add_argument("--force", action="store_true", help="replace existing PDF files")
    rp.add_argument("--from", dest="start", type=_date, metavar="YYYY-MM-DD",
                    help="first day of the period covered (default: first record)")
    rp.add_argument("--to", dest="end", type=_date, metavar="YYYY-MM-DD",
                    help="last day of the period covered (default: latest record)")
    rp.add_argument("--therapist", metavar="NAME", help="name printed above the signature line")
    rp.set_defaults(handler=_cmd_report)

    oc = sub.add_parser("outcomes", help="write the clinic's outcomes report (aggregate "
                        "figures per diagnosis, no patient data)")
    oc.add_argument("--out", type=Path, required=True, metavar="FILE.pdf", help="the PDF file")
    oc.add_argument("--csv", type=Path, metavar="FILE.csv", help="also the same figures as CSV")
    oc.add_argument("--diagnosis", metavar="D", help="only this diagnosis (e.g. "
                    "acl_reconstruction, knee_osteoarthritis)")
    oc.add_argument("--force", action="store_true", help="replace existing files")
    oc.set_defaults(handler=_cmd_outcomes)

    for name, what, handler in (
            ("handout", "the patient's home retro-walking programme (PDF handout)",
             "_cmd_handout"),
            ("discharge", "the discharge summary for the referring doctor (PDF)",
             "_cmd_discharge")):
        dp = sub.add_parser(name, help=f"write {what} of the latest episode")
        dp.add_argument("patient", metavar="MRN", help="MRN of the patient")
        dp.add_argument("--out", type=Path, required=True, metavar="FILE.pdf",
                        help="the PDF file, or a folder for it")
        dp.add_argument("--force", action="store_true", help="replace an existing PDF file")
        dp.set_defaults(handler=globals()[handler])

    ex = sub.add_parser("export", help="export records to FHIR R4 or CSV")
    exsub = ex.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    ex.set_defaults(handler=_cmd_export)
    fh = exsub.add_parser("fhir", help="an HL7 FHIR R4 Bundle (JSON)")
    fh.add_argument("--out", type=Path, required=True, metavar="FILE.json",
                    help="the bundle file, or a folder for a dated one")
    fh.add_argument("--force", action="store_true", help="replace an existing file")
    fh.add_argument("--patient", metavar="MRN", help="only this patient (default: everyone)")
    cs = exsub.add_parser("csv", help="patients.csv, episodes.csv, sessions.csv, tests.csv")
    cs.add_argument("--out", type=Path, required=True, metavar="DIR")
    cs.add_argument("--force", action="store_true",
                    help="replace the CSV files of an earlier export in DIR")
    cs.add_argument("--patient", metavar="MRN", help="only this patient (default: everyone)")

    im = sub.add_parser("import", help="import records; nothing is stored if any row is bad")
    imsub = im.add_subparsers(dest="import_format", metavar="FORMAT", required=True)
    im.set_defaults(handler=_cmd_import)
    ic = imsub.add_parser("csv", help="one CSV file or a folder written by 'export csv'")
    ic.add_argument("file", type=Path, metavar="FILE")

    au = sub.add_parser("audit", help="audit trail tools")
    ausub = au.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ausub.add_parser("verify", help="check the tamper-evident chain of the whole audit trail")
    au.set_defaults(handler=_cmd_audit)

    mv = sub.add_parser("move", help="copy the whole clinic into an empty database (e.g. a "
                        "PostgreSQL server); the old one then takes no more writes")
    mv.add_argument("--to", required=True, metavar="URL", dest="target",
                    help="the empty target, e.g. postgresql://backstep@server/backstep")
    mv.set_defaults(handler=_cmd_move)

    rs = sub.add_parser("restore", help="verify a backup and restore it (current data is kept)")
    rs.add_argument("file", type=Path, metavar="FILE")
    rs.set_defaults(handler=_cmd_restore)

    us = sub.add_parser("users", help="user accounts")
    ussub = us.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    us.set_defaults(handler=_cmd_users)
    ua = ussub.add_parser(
        "add", help="add a user; the first administrator needs no sign-in while no user exists, "
        "afterwards an administrator signs in with --user")
    ua.add_argument("name", metavar="NAME", help="the new user name (2-100 letters, digits, . _ -)")
    ua.add_argument("--role", required=True, choices=sorted(ROLES),
                    help="admin, therapist or frontdesk (read-only)")
    ua.add_argument("--full-name", default="", metavar="TEXT", help="name shown and printed")
    ua.add_argument("--password-stdin", dest="new_password_stdin", action="store_true",
                    help="read the new user's password from standard input (after the "
                    "administrator's password when both come from there)")
    return parser


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-31") from None


def _open(cfg: AppConfig) -> Clinic:
    from clinic_app.services.facade import Clinic

    return Clinic.open(cfg.db_url, backup_dir=backup_dir(), app_user=cfg.user or None)


NO_USERS = ("This database has no users yet. Create the administrator first: "
            "clinic-app users add NAME --role admin --password-stdin")


def _read_password(from_stdin: bool, prompt: str, what: str) -> str:
    """One password: a line of standard input (scripts) or a prompt on the terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise DomainError(f"{what}: standard input gave no password (one line expected).")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise DomainError(f"{what}: there is no terminal to ask for it; give it on standard "
                          "input with --password-stdin.")
    import getpass

    return getpass.getpass(prompt)


def _sign_in(args: argparse.Namespace, cfg: AppConfig, clinic: Clinic,
             password: list[str] | None = None) -> Clinic:
    """Sign in the Backstep user named with --user, exactly as the window does; returns
    ``clinic``, now acting for that user.

    ``password`` keeps the password once read, for a second attempt on another database.
    """
    if clinic.needs_first_admin():
        raise DomainError(NO_USERS)
    if not cfg.user:
        raise DomainError("Sign in: give your Backstep user name with --user NAME (the password "
                          "is asked on the terminal, or read with --password-stdin).")
    kept = password if password is not None else []
    if not kept:
        kept.append(_read_password(args.password_stdin, f"Backstep password for {cfg.user}: ",
                                   "Password"))
    clinic.sign_in(cfg.user, kept[0])
    return clinic


def _sign_in_to_restore(args: argparse.Namespace, cfg: AppConfig, clinic: Clinic) -> Clinic:
    """Sign in on the database to be replaced; if that SQLite file is too damaged to read,
    on (a copy of) the backup being restored: the user must be an administrator there."""
    import shutil
    import tempfile

    from sqlalchemy.exc import DBAPIError

    from clinic_app.services.facade import Clinic, DatabaseDamagedError

    password: list[str] = []
    try:
        return _sign_in(args, cfg, clinic, password)
    except (DBAPIError, DatabaseDamagedError):
        if clinic.dialect != "sqlite" or not Path(args.file).is_file():
            raise
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "sign-in.sqlite3"
        shutil.copyfile(args.file, copy)
        scheme = "sqlcipher" if clinic.sqlite_key is not None else "sqlite"
        with Clinic.open(f"{scheme}:///{copy}", upgrade=False, state_dir=Path(tmp)) as backup:
            clinic.act_as(_sign_in(args, cfg, backup, password).principal)
    return clinic


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Every failure is one line on stderr and a non-zero exit code (2: something the user can
    act on, 1: unexpected, details in the log); never a traceback or a patient value.
    """
    if os.name == "posix":
        os.umask(0o077)  # database, backups, exports, PDFs and logs: owner-only
    args = build_parser().parse_args(argv)
    if args.self_test:
        from clinic_app.selftest import run_self_test

        return run_self_test(gui_check=_window_offscreen)
    cfg = resolve(args.db, args.user)
    if args.command is None:
        from clinic_app.app import run_gui

        return run_gui(cfg)
    try:
        return int(args.handler(args, cfg))
    except KeyboardInterrupt:
        print("\nclinic-app: interrupted; the unfinished step was not stored.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line, never a traceback
        code, line = _explain(exc, cfg)
        print(f"clinic-app: {line}", file=sys.stderr)
        return code


def _explain(exc: Exception, cfg: AppConfig) -> tuple[int, str]:
    """The exit code and one line for ``exc``, without any value the database echoed."""
    if isinstance(exc, DomainError):
        return EXIT_ERROR, str(exc)
    from sqlalchemy import exc as sa

    where = _where(cfg)
    if isinstance(exc, sa.DataError):
        return EXIT_ERROR, ("A value is longer or larger than the database allows, so nothing "
                            "was stored.")
    if isinstance(exc, sa.IntegrityError):
        return EXIT_ERROR, ("Another user or workstation stored the same record at the same "
                            "moment, so nothing was stored. Try again.")
    if isinstance(exc, sa.OperationalError) and "locked" in str(exc.orig).lower():
        from clinic_app.services.facade import busy_message

        return EXIT_ERROR, busy_message(where)  # (e.g. during a migration, not only the check)
    if isinstance(exc, sa.OperationalError) and _is_connection_error(exc):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
        return EXIT_ERROR, f"Cannot connect to the database {where}: {first}"
    if isinstance(exc, (sa.NoSuchModuleError, sa.ArgumentError, ModuleNotFoundError)):
        return EXIT_ERROR, (f"The database {where} cannot be used: its driver is not "
                            "installed or the URL is not supported.")
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if exc.filename else ""
        return EXIT_ERROR, f"Cannot use{name}: {exc.strerror or type(exc).__name__}."
    import logging

    from clinic_app.safe_log import log_path, setup_logging

    setup_logging()
    logging.getLogger("clinic_app.cli").error("A command failed", exc_info=exc)
    if isinstance(exc, sa.DBAPIError):
        return EXIT_UNEXPECTED, (f"The database {where} reported an error "
                                 f"({type(exc.orig).__name__}); nothing was changed by the "
                                 f"failed step. Details (without patient data): {log_path()}")
    return EXIT_UNEXPECTED, (f"Unexpected error ({type(exc).__name__}). Details (without "
                             f"patient data): {log_path()}")


def _is_connection_error(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return any(k in text for k in ("connection", "could not connect", "does not exist",
                                   "unable to open database", "authentication failed",
                                   "could not translate host name"))


def _cmd_db(args: argparse.Namespace, cfg: AppConfig) -> int:
    """``db upgrade``: opening the database migrates it (after a backup)."""
    from clinic_app.persistence.migrate import head_revision

    with _open(cfg) as clinic:
        m = clinic.migration
        assert m is not None
        if m.from_revision == m.to_revision:
            print(f"Database is up to date (revision {m.to_revision}).")
        else:
            print(f"Database upgraded from {m.from_revision or 'empty'} to {head_revision()}.")
            if m.backup_path:
                print(f"Backup taken first: {m.backup_path}")
    return 0


def _cmd_demo(args: argparse.Namespace, cfg: AppConfig) -> int:
    if args.patients < 1 or args.patients > 100_000:
        print("clinic-app: --patients must be between 1 and 100000", file=sys.stderr)
        return 2
    with _open(cfg) as clinic:
        n = _sign_in(args, cfg, clinic).seed_demo(patients=args.patients)
    print(f"Added {n} demo patients to {_where(cfg)}.")
    return 0


def _cmd_backup(args: argparse.Namespace, cfg: AppConfig) -> int:
    with _open(cfg) as clinic:
        result = _sign_in(args, cfg, clinic).backup(
            args.out, force=args.force, progress=_PercentLine("backup"))
    print(file=sys.stderr)
    print(f"Backup written and verified: {result.path} ({result.size_bytes:,} bytes)")
    return 0


def _cmd_report(args: argparse.Namespace, cfg: AppConfig) -> int:
    with _open(cfg) as clinic:
        _sign_in(args, cfg, clinic)
        if len(args.patients) == 1:
            outcomes = [clinic.report(args.patients[0], args.out, args.start, args.end,
                                      args.therapist, force=args.force)]
        else:
            outcomes = clinic.reports(args.patients, args.out, args.start, args.end,
                                      args.therapist, force=args.force)
    for outcome in outcomes:
        print(f"Report written: {outcome.path} ({outcome.pages} page(s))")
    return 0


def _cmd_outcomes(args: argparse.Namespace, cfg: AppConfig) -> int:
    with _open(cfg) as clinic:
        _sign_in(args, cfg, clinic)
        result = clinic.outcomes_report(args.out, args.csv, args.diagnosis, force=args.force)
    print(f"Outcomes report written: {result.pdf} ({result.pages} page(s))")
    if result.csv is not None:
        print(f"Outcome figures written: {result.csv}")
    return 0


def _cmd_handout(args: argparse.Namespace, cfg: AppConfig) -> int:
    with _open(cfg) as clinic:
        outcome = _sign_in(args, cfg, clinic).handout(args.patient, args.out, force=args.force)
    print(f"Home programme written: {outcome.path} ({outcome.pages} page(s))")
    return 0


def _cmd_discharge(args: argparse.Namespace, cfg: AppConfig) -> int:
    with _open(cfg) as clinic:
        outcome = _sign_in(args, cfg, clinic).discharge_summary(args.patient, args.out,
                                                                force=args.force)
    print(f"Discharge summary written: {outcome.path} ({outcome.pages} page(s))")
    return 0


def _cmd_export(args: argparse.Namespace, cfg: AppConfig) -> int:
    with _open(cfg) as clinic:
        _sign_in(args, cfg, clinic)
        if args.export_format == "fhir":
            summary = clinic.export_fhir(args.out, args.patient, force=args.force)
        else:
            summary = clinic.export_csv(args.out, args.patient, force=args.force,
                                        progress=_PercentLine("export", "patients"))
            print(file=sys.stderr)
    print(f"Exported {summary.patients} patient(s), {summary.sessions} session(s) and "
          f"{summary.tests} test result(s) to {summary.path}")
    return 0


def _cmd_import(args: argparse.Namespace, cfg: AppConfig) -> int:
    progress = _ImportProgressLine()
    clinic = _open(cfg)
    try:
        result = _sign_in(args, cfg, clinic).import_csv(args.file, progress)
    finally:
        if progress.shown:
            print(file=sys.stderr)  # end the progress line
        clinic.close()
    plan = result.goals + result.prescriptions + result.checklists
    print(f"Imported {result.patients} patient(s), {result.episodes} episode(s), "
          f"{result.sessions} session(s) and {result.tests} test result(s)."
          + (f" Plan of care: {result.goals} goal(s), {result.prescriptions} "
             f"prescription(s), {result.checklists} session checklist(s)." if plan else "")
          + (f" Skipped {result.skipped} row(s) already stored." if result.skipped else ""))
    return 0


def _cmd_audit(args: argparse.Namespace, cfg: AppConfig) -> int:
    """``audit verify``, through the service that checks the permission (and audits it)."""
    with _open(cfg) as clinic:
        report = _sign_in(args, cfg, clinic).verify_audit()
    if report.ok:
        print(f"Audit trail intact: {report.checked:,} events verified; "
              f"{report.rows_checked:,} records match their signatures.")
        return 0
    print(f"AUDIT TRAIL TAMPERED: {len(report.problems)} problem(s) in "
          f"{report.checked:,} events:", file=sys.stderr)
    for problem in report.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


def _cmd_move(args: argparse.Namespace, cfg: AppConfig) -> int:
    from clinic_app.persistence.move import check_table

    clinic = _open(cfg)
    try:
        result = _sign_in(args, cfg, clinic).move(args.target, _MoveProgressLine())
    finally:
        print(file=sys.stderr)
        clinic.close()
    print(check_table(result.tables))
    print(f"Moved {result.rows:,} rows from {result.source} to {result.target} in "
          f"{result.seconds:.1f} s; every table compared equal. The old database now "
          "refuses writes: point every workstation at the new one.")
    return 0


def _cmd_restore(args: argparse.Namespace, cfg: AppConfig) -> int:
    from clinic_app.services.facade import Clinic

    # No start-up checks: restoring is how a damaged database is repaired.
    with Clinic.open_for_restore(cfg.db_url, cfg.user or None) as clinic:
        safety = _sign_in_to_restore(args, cfg, clinic).restore(args.file)
    print(f"Restored {args.file}. The data it replaced is kept in {safety.path}")
    return 0


def _cmd_users(args: argparse.Namespace, cfg: AppConfig) -> int:
    """``users add``: the first administrator while no user exists, else by an administrator."""
    from clinic_app.domain.records import Role

    role = Role(ROLES[args.role])
    with _open(cfg) as clinic:
        if clinic.needs_first_admin():
            if role != Role.ADMIN:
                raise DomainError("Role: the first user must be an administrator "
                                  "(allowed: --role admin while no user exists).")
            password = _new_password(args)
            admin = clinic.create_first_admin(args.name, args.full_name, password)
            print(f"Created the administrator {admin.username}. From now on commands sign in "
                  f"with --user {admin.username}.")
            return 0
        _sign_in(args, cfg, clinic)
        password = _new_password(args)
        user = clinic.create_user(args.name, args.full_name, role, password)
    print(f"Created the {args.role} {user.username}.")
    return 0


def _new_password(args: argparse.Namespace) -> str:
    first = _read_password(args.new_password_stdin, f"Password for the new user {args.name}: ",
                           "New user's password")
    if not args.new_password_stdin:
        again = _read_password(False, "Repeat the password: ", "New user's password")
        if again != first:
            raise DomainError("Repeat password: does not match the password; nothing was "
                              "created.")
    return first


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


class _PercentLine:
    """A long job's progress on one stderr line: percent, and what is counted."""

    def __init__(self, what: str, unit: str = "") -> None:
        self.what, self.unit, self.shown = what, unit, ""

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        line = f"  {self.what}: {percent} %"
        if self.unit:
            line += f" ({done:,} of {total:,} {self.unit})"
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
    """The database URL without its password (the raw text if it does not parse)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(cfg.db_url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(cfg.db_url)


def main() -> None:
    """Entry point of the ``clinic-app`` script."""
    sys.exit(run())
