"""What a screen reader announces: every input of a window must have a name.

``unnamed_inputs(window)`` asks Qt's accessibility layer (the interface a screen reader
queries: ``QAccessible.queryAccessibleInterface(w).text(Name)``) for the name of every input
of ``window`` and returns one line per input that would be announced only by its kind ("edit
text", "combo box", "table"). A name comes from ``setAccessibleName``, from a ``QLabel`` whose
buddy is the input (a ``QFormLayout`` row with a single widget sets one), or from a button's
own text. A combo box announced only by its current entry ("Right" rather than "Side")
counts as unnamed: it needs a label linked to it or a name of its own.

``focus_problem(widget)`` says why a focused widget could not be seen: hidden, outside its
window, or scrolled or cut away by a parent.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QCalendarWidget,
    QComboBox,
    QLineEdit,
    QMenuBar,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QTextEdit,
    QWidget,
)

INPUTS = (QLineEdit, QComboBox, QAbstractSpinBox, QTextEdit, QPlainTextEdit, QAbstractItemView,
          QAbstractSlider, QAbstractButton)
# Parts of a compound input: a spin box's line edit, a combo box's list, a calendar's table.
_COMPOUND = (QAbstractSpinBox, QComboBox, QCalendarWidget, QAbstractItemView, QLineEdit, QTabBar,
             QMenuBar)


def accessible_name(w: QWidget) -> str:
    """The name a screen reader announces for ``w`` ("" when it has none).

    On Linux Qt names a combo box by its current entry and links its label through the
    "labelled by" relation instead (which Orca reads); that label is the name here.
    """
    iface = QAccessible.queryAccessibleInterface(w)
    if iface is None:
        return ""
    if isinstance(w, QComboBox) and not w.accessibleName():
        labels = iface.relations(QAccessible.RelationFlag.Label)
        return labels[0][0].text(QAccessible.Text.Name).strip() if labels else ""
    return iface.text(QAccessible.Text.Name).strip()


def _describe(w: QWidget) -> str:
    return f"{type(w).__name__}#{w.objectName() or '?'}"


def _is_part(w: QWidget, window: QWidget) -> bool:
    p = w.parentWidget()
    while p is not None and p is not window:
        if isinstance(p, _COMPOUND):
            return True
        p = p.parentWidget()
    return False


def unnamed_inputs(window: QWidget, visible_only: bool = False) -> list[str]:
    """Every input of ``window`` (visible ones, or all) that has no accessible name."""
    out = []
    for w in window.findChildren(QWidget):
        if not isinstance(w, INPUTS) or isinstance(w, QScrollBar) or _is_part(w, window):
            continue
        if visible_only and not w.isVisible():
            continue
        if w.window() is not window:
            continue  # a separate window (a popup): walked on its own when it opens
        if not accessible_name(w):
            out.append(_describe(w))
    return out


def focus_problem(w: QWidget) -> str | None:
    """Why the focused ``w`` cannot be seen by the person at the keyboard (``None``: seen)."""
    if not w.isVisible():
        return f"{_describe(w)} has the focus but is hidden"
    if w.width() <= 0 or w.height() <= 0:
        return f"{_describe(w)} has the focus but no size"
    rect = QRect(QPoint(0, 0), w.size())
    cur = w
    window = w.window()
    while cur is not window:
        parent = cur.parentWidget()
        assert parent is not None
        rect = rect.translated(cur.pos()).intersected(parent.rect())
        if rect.isEmpty():
            return f"{_describe(w)} has the focus but {_describe(parent)} cuts it away"
        cur = parent
    if rect.width() < min(w.width(), 8) or rect.height() < min(w.height(), 8):
        return f"{_describe(w)} has the focus but only {rect.width()}x{rect.height()} px show"
    return None
