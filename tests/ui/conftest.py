"""UI test fixtures: a main window on a real SQLite file and a recording message seam."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, wait_ops

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.ui import login, messages, ops
from clinic_app.ui.main_window import MainWindow


@pytest.fixture(autouse=True)
def fake_messages(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMessages]:
    fake = FakeMessages()
    for name in FakeMessages.NAMES:
        monkeypatch.setattr(messages, name, fake.make(name))
    yield fake
    if not fake.expect_warnings:
        assert not fake.called("warn"), f"unexpected warnings: {fake.called('warn')}"


@pytest.fixture(autouse=True)
def signed_in(monkeypatch: pytest.MonkeyPatch) -> Principal:
    """run_gui signs in through one seam; tests act as an administrator named "tester"."""
    who = Principal("tester", Role.ADMIN, "Test Admin")
    monkeypatch.setattr(login, "sign_in", lambda *_args, **_kw: who)
    return who


@pytest.fixture
def window(qtbot: QtBot, sqlite_db: Database) -> Iterator[MainWindow]:
    """The main window attached to an empty, migrated SQLite file (no demo offer)."""
    win = MainWindow(actor="tester", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(sqlite_db)
    wait_ops(qtbot)
    yield win
    wait_ops(qtbot)
    win.close()
    ops.wait_all()
