"""The audit key: kept in the OS keyring where there is one, else an owner-only file; never
silently recreated for a database with signed events; bad keys refused with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import keyring
import pytest
from accounts import as_user
from keyring.backend import KeyringBackend

from clinic_app import config
from clinic_app.cli import run
from clinic_app.domain.records import PatientDraft
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService


class MemoryKeyring(KeyringBackend):
    """A credential store in memory, standing in for the OS keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    store = MemoryKeyring()
    keyring.set_keyring(store)
    yield store  # conftest puts the "no keyring" backend back afterwards


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'clinic.sqlite3'}"


def _write_events(url: str) -> None:
    db = Database.open(url)
    try:
        ChartingService(db, as_user(db, "alice")).register_patient(
            PatientDraft("KEY-1", "Jensen", "Freya", date(1990, 1, 1)))
    finally:
        db.close()


def test_key_goes_to_the_keyring_when_there_is_one(memory_keyring: MemoryKeyring,
                                                   tmp_path: Path) -> None:
    _write_events(_sqlite(tmp_path))
    assert not config.audit_key_file().exists()
    stored = memory_keyring.entries[(config.KEYRING_SERVICE, config.keyring_entry())]
    assert len(bytes.fromhex(stored)) == 32
    db = Database.open(_sqlite(tmp_path))
    try:
        assert db.audit_key == bytes.fromhex(stored)
        assert db.verify_audit().ok
    finally:
        db.close()


def test_without_a_keyring_the_key_is_an_owner_only_file(tmp_path: Path) -> None:
    _write_events(_sqlite(tmp_path))
    path = config.audit_key_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(path.read_text())) == 32


def test_lost_key_is_not_recreated_for_a_database_with_signed_events(db: Database) -> None:
    ChartingService(db, as_user(db, "alice")).register_patient(
        PatientDraft("KEY-1", "Jensen", "Freya", date(1990, 1, 1)))
    config.audit_key_file().unlink()
    with pytest.raises(config.AuditKeyError) as refused:
        Database.open(db.url).close()
    message = str(refused.value)
    assert "holds 1 audit events" in message and "Restore the key" in message
    assert config.AUDIT_KEY_ENV in message and "audit.key" in message
    assert not config.audit_key_file().exists()  # nothing silently created


def test_lost_key_in_the_keyring_is_not_recreated(memory_keyring: MemoryKeyring,
                                                  tmp_path: Path) -> None:
    _write_events(_sqlite(tmp_path))
    memory_keyring.entries.clear()
    with pytest.raises(config.AuditKeyError, match="Restore the key"):
        Database.open(_sqlite(tmp_path)).close()
    assert not memory_keyring.entries


@pytest.mark.parametrize(("value", "complaint"), [
    ("zz", "is not hexadecimal"),
    ("", "is 0 bytes long"),
    ("ab" * 16, "is 16 bytes long"),
])
def test_bad_key_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch, value: str,
                                               complaint: str) -> None:
    monkeypatch.setenv(config.AUDIT_KEY_ENV, value)
    with pytest.raises(config.AuditKeyError, match=complaint) as refused:
        config.load_audit_key()
    assert config.AUDIT_KEY_ENV in str(refused.value) and "at least 32 bytes" in str(
        refused.value) or "hex digits" in str(refused.value)


@pytest.mark.parametrize("content", ["", "\n", "abcd", "not hex at all"])
def test_empty_or_short_key_file_is_refused(content: str) -> None:
    config.audit_key_file().write_text(content)
    with pytest.raises(config.AuditKeyError, match="audit.key"):
        config.load_audit_key()
    assert config.audit_key_file().read_text() == content  # never replaced


def test_cli_with_a_bad_key_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(config.AUDIT_KEY_ENV, "zz")
    code = run(["--db", _sqlite(tmp_path), "audit", "verify"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "CLINIC_APP_AUDIT_KEY is not hexadecimal" in err
