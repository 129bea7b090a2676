"""Where the data lives: database URL and data folder.

Resolution order for the database: ``--db URL`` on the command line, then the
``CLINIC_APP_DB`` environment variable, then the URL saved in Settings (``settings.json``
in the data folder), then a SQLite file in the user data folder
(``CLINIC_APP_DATA_DIR`` overrides the folder, which tests and portable installs use).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir

APP_NAME = "Backstep"
DB_ENV = "CLINIC_APP_DB"
DATA_DIR_ENV = "CLINIC_APP_DATA_DIR"
USER_ENV = "CLINIC_APP_USER"
SQLITE_FILENAME = "backstep.sqlite3"


def make_private(path: Path) -> None:
    """Owner-only access to patient data on POSIX: 0700 for a folder, 0600 for a file.

    The command line and the app also start with umask 0o077; this covers files written by a
    use case called from elsewhere (scripts, tests) and folders that existed before.
    """
    if os.name != "posix":
        return
    # Not ours to change (e.g. a folder owned by someone else): nothing more to do.
    with contextlib.suppress(OSError):
        path.chmod(0o700 if path.is_dir() else 0o600)


def _private_dir(path: Path) -> Path:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        make_private(path)
    return path


def data_dir() -> Path:
    """The folder holding the SQLite database, backups and logs (created on demand, 0700)."""
    override = os.environ.get(DATA_DIR_ENV)
    path = Path(override) if override else Path(user_data_dir(APP_NAME, appauthor=False))
    return _private_dir(path)


def backup_dir() -> Path:
    """Default folder for automatic and manual backups (0700)."""
    return _private_dir(data_dir() / "backups")


def default_db_url() -> str:
    return f"sqlite:///{data_dir() / SQLITE_FILENAME}"


@dataclass(frozen=True)
class AppConfig:
    db_url: str
    # The Backstep user named with --user or CLINIC_APP_USER ("" if none): who signs in at
    # the command line, pre-filled in the sign-in window. It is never trusted without the
    # password.
    user: str = ""

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


SETTINGS_FILE = "settings.json"


def settings_path() -> Path:
    """This workstation's settings (database choice, auto-lock), kept in the data folder."""
    return data_dir() / SETTINGS_FILE


def load_settings() -> dict[str, object]:
    """The saved settings, or ``{}`` when missing or unreadable (a broken file is logged)."""
    path = settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        logging.getLogger(__name__).warning("Ignoring unreadable settings file %s", path,
                                            exc_info=True)
        return {}
    return data if isinstance(data, dict) else {}


def saved_db_url() -> str | None:
    """The database chosen in Settings, if any."""
    url = load_settings().get("db_url")
    return url if isinstance(url, str) and url else None


def resolve(db_arg: str | None = None, user: str | None = None) -> AppConfig:
    """Build the configuration: ``--db``, then ``CLINIC_APP_DB``, then the database chosen in
    Settings, then the SQLite file in the data folder. The GUI and every command agree.

    The user name comes from ``--user`` or ``CLINIC_APP_USER`` only: never from the
    operating-system account, which says nothing about a Backstep role."""
    url = db_arg or os.environ.get(DB_ENV) or saved_db_url() or default_db_url()
    return AppConfig(db_url=url, user=(user or os.environ.get(USER_ENV) or "").strip())


AUDIT_KEY_ENV = "CLINIC_APP_AUDIT_KEY"


def audit_key() -> bytes:
    """The HMAC key that signs the audit trail, kept outside the database.

    ``CLINIC_APP_AUDIT_KEY`` (hex) wins; otherwise ``audit.key`` in the data folder, created
    with 32 random bytes on first use. Workstations sharing one PostgreSQL database must
    share this key (copy the file or set the variable).
    """
    env = os.environ.get(AUDIT_KEY_ENV)
    if env:
        return bytes.fromhex(env)
    path = data_dir() / "audit.key"
    if not path.exists():
        import secrets
        import threading

        tmp = path.with_name(f".audit.key.{os.getpid()}-{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic and never overwrites: the first creator wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return bytes.fromhex(path.read_text().strip())
