"""``clinic-app --self-test``: prove an installation works, without touching real data.

Everything happens in a temporary folder (which is also the data folder while the test runs):
a fresh SQLite database is migrated, demo data is seeded, a PDF report is rendered, the
audit chain is verified, passwords are hashed with argon2, the database drivers load and,
through a callback supplied by the command line (this module must not import the UI), the
main window is created offscreen. One line per check: ``ok: ...`` or ``FAILED: ...``.
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from clinic_app import __version__
from clinic_app.config import DATA_DIR_ENV, DB_ENV

EXIT_OK = 0
EXIT_FAILED = 1
DEMO_PATIENTS = 3
PASSWORD = "self-test-" + "x" * 12
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")

Check = Callable[[], str]


def frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


@contextmanager
def _isolated_env(folder: Path) -> Iterator[None]:
    """Point the data folder at ``folder`` and hide any configured database meanwhile."""
    saved = {name: os.environ.get(name) for name in (DATA_DIR_ENV, DB_ENV)}
    os.environ[DATA_DIR_ENV] = str(folder)
    os.environ.pop(DB_ENV, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _SelfTest:
    """The checks, sharing one temporary folder and one database."""

    def __init__(self, folder: Path) -> None:
        from clinic_app.domain.permissions import Principal
        from clinic_app.persistence.uow import Database

        self.folder = folder
        self.key = secrets.token_bytes(32)
        self.db: Database | None = None
        self.principal: Principal | None = None

    def database(self) -> str:
        from clinic_app.persistence.migrate import head_revision
        from clinic_app.persistence.uow import Database

        url = f"sqlite:///{(self.folder / 'selftest.sqlite3').as_posix()}"
        self.db = Database.open(url, backup_dir=self.folder / "backups", audit_key=self.key,
                                state_dir=self.folder)
        migration = self.db.migration
        head = head_revision()
        if migration is None or migration.to_revision != head:
            raise RuntimeError(f"migration did not reach head revision {head}")
        return f"fresh SQLite database migrated to revision {head}"

    def demo(self) -> str:
        from clinic_app.services.demo import seed_demo

        assert self.db is not None
        assert self.principal is not None, "the accounts check signs in first"
        count = seed_demo(self.db, self.principal, patients=DEMO_PATIENTS)
        with self.db.unit_of_work(self.principal, read_only=True) as uow:
            stored = uow.patients.count()
        if stored != count:
            raise RuntimeError(f"seeded {count} demo patients but {stored} are stored")
        return f"{stored} demo patients seeded"

    def report(self) -> str:
        from clinic_app.reports.fonts import fonts_dir
        from clinic_app.services.reporting import generate_report

        assert self.db is not None
        out = self.folder / "report.pdf"
        assert self.principal is not None
        outcome = generate_report(self.db, self.principal, "DEMO-00001", out)
        data = out.read_bytes()
        if not data.startswith(b"%PDF"):
            raise RuntimeError(f"{out.name} does not start with %PDF")
        pages = len(_PAGE.findall(data))
        if outcome.pages < 1 or pages != outcome.pages or b"%%EOF" not in data[-1024:]:
            raise RuntimeError(f"PDF is incomplete: {pages} page object(s), "
                               f"{outcome.pages} reported")
        return f"PDF report rendered: {outcome.pages} page(s), {len(data):,} bytes, " \
               f"fonts from {fonts_dir()}"

    def audit(self) -> str:
        assert self.db is not None
        chain = self.db.verify_audit()
        if not chain.ok or chain.checked < 1:
            raise RuntimeError(f"audit chain broken ({chain.checked} events): "
                               + "; ".join(chain.problems[:3]))
        return f"audit chain intact: {chain.checked} events verified"

    def accounts(self) -> str:
        from clinic_app.services.security import authenticate, create_first_admin

        assert self.db is not None
        create_first_admin(self.db, "selftest-admin", "Self Test", PASSWORD)
        self.principal = principal = authenticate(self.db, "selftest-admin", PASSWORD)
        return f"argon2 password sign-in works ({principal.role.value})"

    def drivers(self) -> str:
        import psycopg
        from sqlalchemy import create_engine

        # Loads the dialect and the driver without connecting anywhere.
        create_engine("postgresql+psycopg://self-test@127.0.0.1/none").dispose()
        return f"PostgreSQL driver loads (psycopg {psycopg.__version__}, " \
               f"{psycopg.pq.__impl__} implementation)"

    def encryption(self) -> str:
        from clinic_app.persistence.engine import PASSPHRASE_ENV
        from clinic_app.persistence.uow import Database

        try:
            import sqlcipher3  # noqa: F401
        except ImportError:
            return "encryption at rest not available (optional sqlcipher3 not installed)"
        path = self.folder / "encrypted.sqlite3"
        saved = os.environ.get(PASSPHRASE_ENV)
        os.environ[PASSPHRASE_ENV] = secrets.token_hex(8)
        try:
            db = Database.open(f"sqlcipher:///{path.as_posix()}", audit_key=self.key,
                               state_dir=self.folder)
            db.close()
        finally:
            if saved is None:
                os.environ.pop(PASSPHRASE_ENV, None)
            else:
                os.environ[PASSPHRASE_ENV] = saved
        if path.read_bytes()[:16] == b"SQLite format 3\x00":
            raise RuntimeError("the SQLCipher database file is not encrypted")
        return "encryption at rest works (SQLCipher database migrated, file encrypted)"

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def run_self_test(gui_check: Check | None = None, out: TextIO | None = None) -> int:
    """Run every check, printing ``ok: ...`` lines; stop at the first ``FAILED: ...``.

    ``gui_check`` creates the application window offscreen and returns a short description;
    the command line passes it so that this module stays free of UI imports.
    Returns the process exit code (0 when everything passed).
    """
    out = out or sys.stdout
    started = time.perf_counter()
    kind = "frozen app" if frozen() else "from source"
    print(f"ok: Backstep {__version__} ({kind}), Python {platform.python_version()} "
          f"on {platform.system()} {platform.machine()}", file=out, flush=True)
    with tempfile.TemporaryDirectory(prefix="backstep-selftest-",
                                     ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        with _isolated_env(folder):
            test = _SelfTest(folder)
            checks: list[tuple[str, Check]] = [
                ("database", test.database), ("accounts", test.accounts),
                ("demo data", test.demo), ("PDF report", test.report),
                ("audit trail", test.audit), ("drivers", test.drivers),
                ("encryption", test.encryption),
            ]
            if gui_check is not None:
                checks.append(("window", gui_check))
            try:
                for name, check in checks:
                    t0 = time.perf_counter()
                    try:
                        message = check()
                    except BaseException as exc:  # report everything, incl. SystemExit
                        print(f"FAILED: {name}: {type(exc).__name__}: {exc}", file=out,
                              flush=True)
                        if sys.stderr is not None:  # None in a windowed Windows app
                            traceback.print_exc(file=sys.stderr)
                        return EXIT_FAILED
                    print(f"ok: {message} [{time.perf_counter() - t0:.1f}s]", file=out,
                          flush=True)
            finally:
                test.close()
    print(f"ok: self-test passed in {time.perf_counter() - started:.1f}s", file=out, flush=True)
    return EXIT_OK
