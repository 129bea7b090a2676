"""Where the data lives: database URL and data folder.

Resolution order for the database: ``--db URL`` on the command line, then the
``CLINIC_APP_DB`` environment variable, then the URL saved in Settings (``settings.json``
in the data folder), then a SQLite file in the user data folder
(``CLINIC_APP_DATA_DIR`` overrides the folder, which tests and portable installs use).
"""

from __future__ import annotations

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


def data_dir() -> Path:
    """The folder holding the SQLite database, backups and logs (created on demand)."""
    override = os.environ.get(DATA_DIR_ENV)
    path = Path(override) if override else Path(user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def backup_dir() -> Path:
    """Default folder for automatic and manual backups."""
    path = data_dir() / "backups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_url() -> str:
    return f"sqlite:///{data_dir() / SQLITE_FILENAME}"


@dataclass(frozen=True)
class AppConfig:
    db_url: str
    actor: str

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


def resolve(db_arg: str | None = None, actor: str | None = None) -> AppConfig:
    """Build the configuration: ``--db``, then ``CLINIC_APP_DB``, then the database chosen in
    Settings, then the SQLite file in the data folder. The GUI and every command agree."""
    url = db_arg or os.environ.get(DB_ENV) or saved_db_url() or default_db_url()
    who = actor or os.environ.get(USER_ENV) or os.environ.get("USER") or "system"
    return AppConfig(db_url=url, actor=who)


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
