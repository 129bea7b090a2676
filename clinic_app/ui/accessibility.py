"""Application-wide keyboard and screen behaviour that every window and dialog shares.

:func:`install` puts one event filter on the application:

- **Enter on a focused push button presses it.** Qt presses a focused button on Space only
  (and on Enter only if it is a dialog's auto-default button); otherwise Enter goes to the
  dialog and presses its *default* button, which need not be the one the user sees focused.
- **No window opens larger than its screen.** At 150 % or 200 % display scaling a window
  sized for a 1280x800 desktop runs off a 1920x1080 monitor, hiding its buttons and status
  bar. Every top-level window is shrunk to the screen's available area (less the window
  frame) and moved inside it when it is shown; content that is taller then scrolls.

:func:`link_form_labels` gives every row of a form whose field is a layout (a value with its
unit, say) a label buddy, so a screen reader announces "Duration" instead of the group box.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFormLayout,
    QLabel,
    QLayout,
    QPushButton,
    QToolButton,
    QWidget,
)

# Room a window manager's title bar and borders take when the platform cannot tell us yet
# (before the first show the frame geometry equals the client geometry).
FRAME_ALLOWANCE = (16, 40)
_ENTER = {Qt.Key.Key_Return, Qt.Key.Key_Enter}


def fit_to_screen(window: QWidget) -> None:
    """Shrink ``window`` to the available area of its screen and move it fully inside."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None:
        return
    area: QRect = screen.availableGeometry()
    frame_w = window.frameGeometry().width() - window.width()
    frame_h = window.frameGeometry().height() - window.height()
    if frame_w <= 0 and frame_h <= 0:
        frame_w, frame_h = FRAME_ALLOWANCE
    max_w = max(1, area.width() - frame_w)
    max_h = max(1, area.height() - frame_h)
    if window.width() > max_w or window.height() > max_h:
        window.resize(min(window.width(), max_w), min(window.height(), max_h))
    frame = window.frameGeometry()
    x = min(max(frame.x(), area.left()), area.right() + 1 - min(frame.width(), area.width()))
    y = min(max(frame.y(), area.top()), area.bottom() + 1 - min(frame.height(), area.height()))
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)


class _AppFilter(QObject):
    """The application-wide filter described in the module docstring."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        kind = event.type()
        if kind == QEvent.Type.KeyPress and isinstance(obj, (QPushButton, QToolButton)):
            assert isinstance(event, QKeyEvent)
            return self._enter_on_button(obj, event)
        # Menus, tooltips and calendar pop-ups are other window types: Qt places those.
        if (kind == QEvent.Type.Show and isinstance(obj, QWidget) and obj.isWindow()
                and obj.windowType() in (Qt.WindowType.Window, Qt.WindowType.Dialog)):
            fit_to_screen(obj)
        return False

    @staticmethod
    def _enter_on_button(button: QAbstractButton, event: QKeyEvent) -> bool:
        if (event.key() not in _ENTER or event.isAutoRepeat() or not button.hasFocus()
                or not button.isEnabled()):
            return False
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods != Qt.KeyboardModifier.NoModifier:
            return False  # Ctrl+Enter stays the dialogs' "save from anywhere"
        button.click()  # at once, as Qt presses a default button on Enter
        return True


_installed: list[_AppFilter] = []


def install(app: QApplication | None = None) -> None:
    """Install the application-wide filter once (later calls do nothing)."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    if app is None or any(f.parent() is app for f in _installed):
        return
    flt = _AppFilter(app)
    app.installEventFilter(flt)
    _installed.append(flt)


def _first_input(layout: QLayout) -> QWidget | None:
    for i in range(layout.count()):
        item = layout.itemAt(i)
        w = item.widget()
        if w is not None and not isinstance(w, QLabel) and \
                w.focusPolicy() & Qt.FocusPolicy.TabFocus:
            return w
        inner = item.layout()
        if inner is not None:
            found = _first_input(inner)
            if found is not None:
                return found
    return None


def link_form_labels(form: QFormLayout) -> None:
    """Make each row's label the buddy of the row's first input, also where the field is a
    layout (Qt links a label only to a field that is a single widget)."""
    for row in range(form.rowCount()):
        label_item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field_item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        if label_item is None or field_item is None:
            continue
        label = label_item.widget()
        if not isinstance(label, QLabel) or not label.text():
            continue
        field = field_item.widget()
        if field is None and field_item.layout() is not None:
            field = _first_input(field_item.layout())
        if field is None:
            continue
        label.setBuddy(field)


def buddy(label: QLabel, field: QWidget) -> QLabel:
    """Link ``label`` to ``field`` (screen readers announce it; its mnemonic focuses it)."""
    label.setBuddy(field)
    return label
