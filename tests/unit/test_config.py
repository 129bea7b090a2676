"""The audit key: created once, never overwritten, even when several starts race."""

from __future__ import annotations

import threading

from clinic_app import config


def test_audit_key_is_created_once_under_a_race() -> None:
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            keys.append(config.audit_key())
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert config.audit_key() == keys[0]
    assert (config.data_dir() / "audit.key").stat().st_mode & 0o777 == 0o600
