"""Reusable layout checks: is everything a user should see actually visible and readable?

``problems(window)`` walks every visible widget of ``window`` and returns one line per defect:

- a label, button, input, table, list or plot that sticks out of the window or out of a
  parent that cuts it off (unless it sits in a ``QScrollArea``'s widget: reachable by
  scrolling), or that has been squashed to nothing;
- a ``QLabel`` whose text does not fit (too narrow, or too low for its wrapped lines) and
  has no tooltip, a button whose text does not fit;
- a table column narrower than its header text, a list whose items are cut off with no
  horizontal scroll bar;
- in a ``QGraphicsView`` (pyqtgraph plots): a text item outside the part of the scene the
  view shows, outside the item that clips it (a plot's data area) or wider than the
  layout cell holding it (a plot title or legend cut at its edges).

``fits_screen(window, screen)`` says whether a top-level window fits a screen size.
``open_size(dialog, screen)`` is the size Qt gives a dialog when it opens on such a screen
(the offscreen test platform has one screen of a fixed size).

Usage in a test::

    from layout_check import problems
    assert not problems(dialog)
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QRectF, QSize
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QCalendarWidget,
    QComboBox,
    QGraphicsItem,
    QGraphicsTextItem,
    QGraphicsView,
    QGraphicsWidget,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QScrollArea,
    QScrollBar,
    QStyle,
    QTabBar,
    QTableView,
    QTextEdit,
    QWidget,
)

TOLERANCE = 1  # px: rounding in layouts and fractional fonts
TITLE_BAR = 32  # px a window manager's title bar takes above a window

# Widgets a user reads or operates; their inner parts (a spin box's line edit, a table's
# viewport, a combo box's arrow) are the compound widget's own business.
_CHECKED = (QLabel, QAbstractButton, QAbstractItemView, QGraphicsView, QLineEdit, QComboBox,
            QAbstractSpinBox, QTextEdit, QPlainTextEdit, QTabBar)
_COMPOUND = (QAbstractSpinBox, QComboBox, QLineEdit, QAbstractItemView, QTabBar, QGraphicsView,
             QTextEdit, QPlainTextEdit, QCalendarWidget, QScrollBar)


def _name(w: QWidget) -> str:
    text = ""
    if isinstance(w, (QLabel, QAbstractButton)):
        text = w.text().replace("\n", " ")
        text = f" {text[:40]!r}" if text else ""
    ident = w.objectName() or ""
    return f"{type(w).__name__}{'#' + ident if ident else ''}{text}"


def _inside(inner: QRect | QRectF, outer: QRect | QRectF, tol: float = TOLERANCE) -> bool:
    return (inner.left() >= outer.left() - tol and inner.top() >= outer.top() - tol
            and inner.right() <= outer.right() + tol and inner.bottom() <= outer.bottom() + tol)


def _is_internal(w: QWidget, window: QWidget) -> bool:
    p = w.parentWidget()
    while p is not None and p is not window:
        if isinstance(p, _COMPOUND):
            return True
        p = p.parentWidget()
    return False


def _scroll_content(w: QWidget) -> bool:
    """True if ``w`` is the widget a QScrollArea scrolls (its size is not cut by the view)."""
    viewport = w.parentWidget()
    area = viewport.parentWidget() if viewport is not None else None
    return isinstance(area, QScrollArea) and area.widget() is w


def clipping(w: QWidget, window: QWidget) -> str | None:
    """Why ``w`` is not wholly visible inside ``window`` (or ``None`` if it is)."""
    if w.width() <= 0 or w.height() <= 0:
        return "squashed to nothing"
    rect = QRect(QPoint(0, 0), w.size())
    cur = w
    while cur is not window:
        parent = cur.parentWidget()
        if parent is None:
            return None  # not inside window (a separate top-level)
        if _scroll_content(cur):
            return None  # reachable by scrolling; the scroll area itself is checked too
        rect = rect.translated(cur.pos())
        if not _inside(rect, parent.rect()):
            return (f"cut off by {_name(parent)}: at {rect.x()},{rect.y()} "
                    f"{rect.width()}x{rect.height()} in {parent.width()}x{parent.height()}")
        cur = parent
    return None


def _label_problem(label: QLabel) -> str | None:
    if not label.text() or label.pixmap() is not None and not label.pixmap().isNull():
        return None
    if label.toolTip():
        return None  # the full text is one hover away
    if label.wordWrap():
        need = label.heightForWidth(label.width())
        if need > label.height() + TOLERANCE:
            return f"wrapped text needs {need} px height, has {label.height()}"
        return None
    need = label.sizeHint().width()
    if need > label.width() + TOLERANCE:
        return f"text needs {need} px, has {label.width()}"
    return None


def _button_problem(button: QAbstractButton) -> str | None:
    if not button.text() or button.toolTip() and not button.text().strip():
        return None
    need = button.sizeHint().width()
    if button.width() + TOLERANCE < need:
        return f"text needs {need} px, has {button.width()}"
    return None


def _table_problems(table: QTableView) -> list[str]:
    header = table.horizontalHeader()
    model = table.model()
    if model is None or header.isHidden():
        return []
    margin = header.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
    out = []
    for col in range(model.columnCount()):
        if header.isSectionHidden(col):
            continue
        text = str(model.headerData(col, header.orientation()) or "")
        lines = text.splitlines() or [""]
        need = max(header.fontMetrics().horizontalAdvance(t) for t in lines) + 2 * margin
        have = header.sectionSize(col)
        if have + TOLERANCE < need:
            out.append(f"{_name(table)}: column {text!r} is {have} px, its header needs {need}")
    return out


def elided_cells(table: QTableView, column: int) -> list[str]:
    """The texts of ``column`` that do not fit its width and are shown elided ("Lind…")."""
    model = table.model()
    if model is None:
        return []
    margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table)
    have = table.columnWidth(column) - 2 * (margin + 1)
    metrics = table.fontMetrics()
    texts = (str(model.index(row, column).data() or "") for row in range(model.rowCount()))
    return [t for t in texts if metrics.horizontalAdvance(t) > have]


def _list_problems(view: QListView) -> list[str]:
    model = view.model()
    if model is None or model.rowCount() == 0:
        return []
    need = view.sizeHintForColumn(0)
    have = view.viewport().width()
    if need > have + TOLERANCE and not view.horizontalScrollBar().isVisible():
        return [f"{_name(view)}: items need {need} px, the list shows {have} and cannot scroll"]
    return []


def _clipper(item: QGraphicsItem) -> QGraphicsItem | None:
    parent = item.parentItem()
    while parent is not None:
        if parent.flags() & QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape:
            return parent
        parent = parent.parentItem()
    return None


def _graphics_problems(view: QGraphicsView) -> list[str]:
    scene = view.scene()
    if scene is None:
        return []
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    out = []
    for item in scene.items():
        if not isinstance(item, QGraphicsTextItem) or not item.isVisible():
            continue
        text = item.toPlainText().strip()
        if not text:
            continue
        # The glyphs, without the empty document margin around them.
        m = item.document().documentMargin()
        rect = item.mapRectToScene(item.boundingRect().adjusted(m, m, -m, -m))
        where = f"{_name(view)}: text {text[:40]!r}"
        if not _inside(rect, shown, 2):
            out.append(f"{where} lies outside the visible plot area")
            continue
        clipper = _clipper(item)
        if clipper is not None and not _inside(rect, clipper.sceneBoundingRect(), 1):
            out.append(f"{where} is cut at the edge of the plot")
            continue
        parent = item.parentItem()
        # A title or legend label: the text must fit the cell the layout gave its label.
        if isinstance(parent, QGraphicsWidget) and parent.layout() is None:
            cell = parent.mapRectToScene(parent.rect())  # the cell, not what it paints over
            if not _inside(rect, cell, 2):
                out.append(f"{where} ({rect.width():.0f}x{rect.height():.0f} px) overflows "
                           f"its {cell.width():.0f}x{cell.height():.0f} px cell")
    return out


def problems(window: QWidget) -> list[str]:
    """Every layout defect of the visible widgets of ``window`` (empty list: all good)."""
    out: list[str] = []
    for w in [window, *window.findChildren(QWidget)]:
        if not w.isVisible() or not isinstance(w, _CHECKED) or _is_internal(w, window):
            continue
        if w is not window:
            why = clipping(w, window)
            if why is not None:
                out.append(f"{_name(w)}: {why}")
                continue
        if isinstance(w, QLabel):
            why = _label_problem(w)
            if why is not None:
                out.append(f"{_name(w)}: {why}")
        elif isinstance(w, QAbstractButton) and not isinstance(w.parentWidget(), QTabBar):
            why = _button_problem(w)
            if why is not None:
                out.append(f"{_name(w)}: {why}")
        elif isinstance(w, QTableView):
            out += _table_problems(w)
        elif isinstance(w, QListView):
            out += _list_problems(w)
        elif isinstance(w, QGraphicsView):
            out += _graphics_problems(w)
        elif isinstance(w, QTabBar):
            out += _tab_problems(w)
    return out


def _tab_problems(bar: QTabBar) -> list[str]:
    out = []
    for i in range(bar.count()):
        if not _inside(bar.tabRect(i), bar.rect()) and not bar.usesScrollButtons():
            out.append(f"{_name(bar)}: tab {bar.tabText(i)!r} is cut off")
    return out


def open_size(window: QWidget, screen: QSize) -> QSize:
    """The size Qt gives a top-level ``window`` when it first opens on a ``screen``-sized
    display: its size hint, at most 2/3 of the screen, at least its minimum size."""
    hint = window.sizeHint()
    size = QSize(min(hint.width(), screen.width() * 2 // 3),
                 min(hint.height(), screen.height() * 2 // 3))
    return size.expandedTo(window.minimumSizeHint()).expandedTo(window.minimumSize())


def fits_screen(window: QWidget, screen: QSize) -> str | None:
    """Why the top-level ``window`` (with its frame allowance) does not fit ``screen``."""
    frame = window.frameGeometry().size() - window.size()
    if frame.isNull():  # a platform without window decorations: allow for a title bar
        frame = QSize(0, TITLE_BAR)
    need = window.size() + frame
    if need.width() > screen.width() or need.height() > screen.height():
        return (f"{_name(window)} is {need.width()}x{need.height()}, "
                f"the screen {screen.width()}x{screen.height()}")
    return None

