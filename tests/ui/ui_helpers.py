"""Helpers shared by the UI tests (imported by conftest and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtWidgets import QDialog, QWidget
from pytestqt.qtbot import QtBot

from clinic_app.ui import ops


class FakeMessages:
    """Replaces :mod:`clinic_app.ui.messages`; records calls and answers from ``answers``.

    ``answers[name]`` is a list consumed in order (or a callable). A ``warn`` that a test did
    not expect (``expect_warnings``) fails the test at teardown, so an error swallowed into a
    message box cannot make a test pass.
    """

    NAMES = ("ask", "inform", "warn", "ask_discard", "ask_reason", "ask_password",
             "resolve_conflict",
             "choose_image")  # fmt: skip

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answers: dict[str, list[Any] | Callable[..., Any]] = {}
        self.expect_warnings = False

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]

    def make(self, name: str) -> Callable[..., Any]:
        def fake(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args + tuple(kwargs.values())))
            answer = self.answers.get(name)
            if callable(answer):
                return answer(*args, **kwargs)
            if answer:
                return answer.pop(0)
            if name in ("ask", "ask_discard"):
                raise AssertionError(f"unexpected question {name}{args[1:]}")
            return None

        return fake


def wait_ops(qtbot: QtBot, timeout: int = 15_000) -> None:
    """Wait until every background database operation has been delivered."""
    qtbot.waitUntil(lambda: ops.pending_count() == 0, timeout=timeout)



def dialog(window: QWidget, qtbot: QtBot, name: str) -> QDialog:
    """The visible dialog called ``name`` (waits for it to open)."""
    found: list[QDialog] = []

    def visible() -> bool:
        found[:] = [d for d in window.findChildren(QDialog, name) if d.isVisible()]
        return bool(found)

    qtbot.waitUntil(visible, timeout=10_000)
    return found[0]


def closed(qtbot: QtBot, dlg: QDialog) -> None:
    """Wait for ``dlg`` to close and for its database work to be delivered."""
    qtbot.waitUntil(lambda: not shiboken6.isValid(dlg) or not dlg.isVisible(), timeout=10_000)
    wait_ops(qtbot)


def typed(qtbot: QtBot, parent: QWidget, name: str, text: str) -> None:
    """Focus the child ``name``, select its text and type ``text`` like a user."""
    edit = parent.findChild(QWidget, name)
    assert edit is not None, name
    edit.setFocus()
    edit.selectAll()  # type: ignore[attr-defined]
    qtbot.keyClicks(edit, text)
