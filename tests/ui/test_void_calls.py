"""Regression test for the PySide6 6.12.0 / CPython 3.11 ``none_dealloc`` hazard.

(See "Known hazard" in docs/ARCHITECTURE.md.)

That release decremented ``None``'s reference count on every call of a C++ function returning
``void``; after a few thousand calls the process aborted with "Fatal Python error:
none_dealloc". Here we make 200,000 void calls plus 100 show/close cycles of a pyqtgraph
PlotWidget and check that ``None``'s reference count did not drain and the process lives.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

VOID_CALLS = 200_000
PLOT_CYCLES = 100


def test_void_calls_do_not_drain_none(qtbot: QtBot) -> None:
    import pyqtgraph as pg  # lazily, as the application does

    widget = QWidget()
    qtbot.addWidget(widget)
    obj = QObject()
    before = sys.getrefcount(None)
    for i in range(VOID_CALLS // 4):
        widget.setEnabled(i % 2 == 0)  # void
        widget.setToolTip("t")  # void
        obj.setObjectName("n")  # void
        widget.setVisible(False)  # void
    for _ in range(PLOT_CYCLES):
        plot = pg.PlotWidget()
        plot.plot([1, 2, 3], [3, 1, 2])
        plot.show()
        QApplication.processEvents()
        plot.close()
        plot.deleteLater()
    QApplication.processEvents()
    after = sys.getrefcount(None)
    # The bug lost one reference per void call (>= 200,000); normal churn is a few hundred.
    assert after >= before - 1_000, (before, after)
