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
from typing import Any

from platformdirs import user_data_dir

from clinic_app.domain.errors import DomainError

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
AUDIT_KEY_FILE = "audit.key"
MIN_KEY_BYTES = 32
KEYRING_SERVICE = APP_NAME


class AuditKeyError(DomainError):
    """The audit key is unusable, or missing for a database that already has signed events."""


def _parse_key(text: str, where: str) -> bytes:
    """A key given as hex: refuse anything that is not at least ``MIN_KEY_BYTES`` bytes."""
    text = text.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise AuditKeyError(
            f"The audit key in {where} is not hexadecimal (allowed: {2 * MIN_KEY_BYTES} or more "
            "hex digits 0-9, a-f). Nothing was changed.") from None
    if len(key) < MIN_KEY_BYTES:
        raise AuditKeyError(
            f"The audit key in {where} is {len(key)} bytes long (allowed: at least "
            f"{MIN_KEY_BYTES} bytes = {2 * MIN_KEY_BYTES} hex digits). Nothing was changed.")
    return key


def keyring_entry() -> str:
    """The keyring user name of this data folder's audit key (service ``Backstep``)."""
    return f"audit-key {data_dir().resolve()}"


def _keyring() -> Any | None:
    """The ``keyring`` module when a real credential store backs it, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken backend means "no keyring here"
        return None
    names = {type(backend).__module__.rsplit(".", 1)[-1], type(backend).__name__}
    if isinstance(backend, fail.Keyring) or "null" in names:
        return None
    return keyring


def _from_keyring() -> bytes | None:
    kr = _keyring()
    if kr is None:
        return None
    try:
        stored = kr.get_password(KEYRING_SERVICE, keyring_entry())
    except Exception:  # noqa: BLE001 - locked or unavailable store: fall back to the file
        return None
    return None if stored is None else _parse_key(stored, "the system keyring")


def audit_key_file() -> Path:
    """Where the key is kept on a machine without a usable keyring (owner-only, 0600)."""
    return data_dir() / AUDIT_KEY_FILE


def load_audit_key() -> bytes | None:
    """The existing audit key, or None when this workstation has none yet.

    ``CLINIC_APP_AUDIT_KEY`` (hex) wins, then the ``audit.key`` file in the data folder (a
    key copied there from another workstation), then the operating system's keyring. The
    keyring is asked only when there is no file: loading its backends costs a noticeable
    part of a second at every start. A key that is not hex or shorter than 32 bytes is
    refused with :class:`AuditKeyError` (an empty file too), never replaced.
    """
    env = os.environ.get(AUDIT_KEY_ENV)
    if env is not None:
        return _parse_key(env, f"the environment variable {AUDIT_KEY_ENV}")
    path = audit_key_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return _from_keyring()
    except OSError as exc:
        raise AuditKeyError(f"The audit key file {path} cannot be read ({exc.strerror}).") \
            from None
    return _parse_key(text, f"the file {path}")


def create_audit_key() -> bytes:
    """Create and keep a new random key: in the keyring when usable, else in ``audit.key``.

    Never overwrites an existing key (the first of several racing starts wins). Callers must
    first make sure no database already holds events signed with a lost key.
    """
    import secrets

    existing = load_audit_key()
    if existing is not None:
        return existing
    new = secrets.token_hex(MIN_KEY_BYTES)
    kr = _keyring()
    if kr is not None:
        try:
            kr.set_password(KEYRING_SERVICE, keyring_entry(), new)
            if kr.get_password(KEYRING_SERVICE, keyring_entry()) == new:
                return bytes.fromhex(new)
        except Exception:  # noqa: BLE001 - a store that refuses: keep the key in the file
            pass
    import threading

    path = audit_key_file()
    tmp = path.with_name(f".audit.key.{os.getpid()}-{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(new)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # atomic and never overwrites: the first creator wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _parse_key(path.read_text(), f"the file {path}")


def audit_key() -> bytes:
    """The HMAC key that signs the audit trail, created on first use (see :func:`load_audit_key`).

    Workstations sharing one PostgreSQL database must share this key.
    """
    return load_audit_key() or create_audit_key()


def missing_key_advice() -> str:
    """How to put a lost audit key back (for the refusal to create a new one)."""
    return (f"Restore the key: set {AUDIT_KEY_ENV} to it (hex), or copy the audit.key file "
            f"from another workstation or your key backup to {audit_key_file()}, or store it "
            f"with `keyring set {KEYRING_SERVICE} \"{keyring_entry()}\"`.")


def workstation_id(key: bytes) -> str:
    """A stable id of this workstation and data folder, keyed so that it cannot be guessed."""
    import hashlib
    import hmac
    import socket

    text = f"{socket.gethostname()}\x1f{data_dir().resolve()}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]
