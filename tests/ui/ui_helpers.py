"""Helpers shared by the UI tests (imported by conftest and the test modules)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import shiboken6
from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import QApplication, QComboBox, QDialog, QWidget
from pytestqt.qtbot import QtBot

from clinic_app.ui import login, ops

# The app's own sign-in, kept before the ``signed_in`` fixture replaces it in every test.
REAL_SIGN_IN = login.sign_in
REAL_CONTINUE_SIGN_IN = login.continue_sign_in


def use_real_sign_in(monkeypatch: Any) -> None:
    """Undo the ``signed_in`` fixture: the app's own sign-in and first-run dialogs."""
    monkeypatch.setattr(login, "sign_in", REAL_SIGN_IN)
    monkeypatch.setattr(login, "continue_sign_in", REAL_CONTINUE_SIGN_IN)


class FakeMessages:
    """Replaces :mod:`clinic_app.ui.messages`; records calls and answers from ``answers``.

    ``answers[name]`` is a list consumed in order (or a callable). A ``warn`` that a test did
    not expect (``expect_warnings``) fails the test at teardown, so an error swallowed into a
    message box cannot make a test pass.
    """

    NAMES = ("ask", "inform", "warn", "ask_discard", "ask_reason", "ask_password",
             "resolve_conflict",
             "choose_image")

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


# --- typing like a person -------------------------------------------------------------
def active_dialog(window: QWidget, qtbot: QtBot, name: str) -> QDialog:
    """The dialog ``name`` once it is open, active and holds the keyboard focus, so that keys
    go where a person's would."""
    dlg = dialog(window, qtbot, name)
    dlg.activateWindow()

    def ready() -> bool:
        focus = QApplication.focusWidget()
        return dlg.isActiveWindow() and focus is not None and dlg.isAncestorOf(focus)

    qtbot.waitUntil(ready, timeout=10_000)
    return dlg


def focus_on(qtbot: QtBot, parent: QWidget, name: str) -> QWidget:
    """Put the keyboard focus on the child ``name`` (as a click into it would) and return it."""
    w = parent.findChild(QWidget, name)
    assert w is not None, name
    w.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(w.hasFocus, timeout=5_000)
    return w


def key_type(qtbot: QtBot, parent: QWidget, name: str, text: str) -> QWidget:
    """Click into ``name``, select what is there with Ctrl+A and type ``text`` over it."""
    w = focus_on(qtbot, parent, name)
    qtbot.keyClick(w, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    if text:
        qtbot.keyClicks(w, text)
    else:
        qtbot.keyClick(w, Qt.Key.Key_Delete)
    return w


def type_here(qtbot: QtBot, text: str) -> QWidget:
    """Type ``text`` into whatever has the keyboard focus now (e.g. after Tab)."""
    w = QApplication.focusWidget()
    assert w is not None, "nothing has the keyboard focus"
    qtbot.keyClicks(w, text)
    return w


def tab(qtbot: QtBot, times: int = 1) -> QWidget:
    """Press Tab ``times`` in the focused widget; return the widget focused afterwards."""
    for _ in range(times):
        w = QApplication.focusWidget()
        assert w is not None, "nothing has the keyboard focus"
        qtbot.keyClick(w, Qt.Key.Key_Tab)
    w = QApplication.focusWidget()
    assert w is not None
    return w


def tab_order(qtbot: QtBot, first: QWidget, stop: QWidget, limit: int = 80) -> list[str]:
    """objectNames met pressing Tab from ``first`` until ``stop`` has the focus."""
    first.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(first.hasFocus, timeout=5_000)
    names = [first.objectName()]
    for _ in range(limit):
        w = tab(qtbot)
        names.append(w.objectName())
        if w is stop:
            return names
    raise AssertionError(f"Tab never reached {stop.objectName()}: {names}")


def choose(qtbot: QtBot, parent: QWidget, name: str, text: str) -> QComboBox:
    """Pick an entry of the combo box ``name`` by typing the start of its text (and Down)."""
    combo = focus_on(qtbot, parent, name)
    assert isinstance(combo, QComboBox), name
    # Space would open the list, so type the first word and step down with the arrow key.
    qtbot.keyClicks(combo, text.split(" ")[0])
    for _ in range(combo.count()):
        if combo.currentText().lower().startswith(text.lower()):
            break
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText().lower().startswith(text.lower()), (text, combo.currentText())
    return combo


def save_with_ctrl_enter(qtbot: QtBot) -> None:
    """Ctrl+Enter in the focused field: the dialogs' save shortcut, from any field."""
    w = QApplication.focusWidget()
    assert w is not None
    qtbot.keyClick(w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def press_enter(qtbot: QtBot) -> None:
    """Enter in the focused field (saves through the dialog's default button)."""
    w = QApplication.focusWidget()
    assert w is not None
    qtbot.keyClick(w, Qt.Key.Key_Return)


@contextmanager
def system_locale(name: str) -> Iterator[QLocale]:
    """Run with the application's default locale set to ``name`` (e.g. ``de_DE``)."""
    before = QLocale()
    QLocale.setDefault(QLocale(name))
    try:
        yield QLocale()
    finally:
        QLocale.setDefault(before)
