"""The "Progress" tab: hosts the progress plot from ``clinic_app.ui.progress_plot``.

The plot widget (objectName ``progressPlot``) is built by another module and imported
lazily, the first time the tab is shown, so pyqtgraph is never imported at start-up.
Expected interface of ``progress_plot.ProgressPlot``::

    ProgressPlot(parent: QWidget | None = None)
    .set_chart(chart: PatientChart, episode_id: UUID | None) -> None

If the module is missing (or fails to import) the tab shows an explanatory label instead.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from clinic_app.services.charting import PatientChart

log = logging.getLogger(__name__)
EMPTY_TEXT = "Select a patient with recorded sessions or tests to see progress"
UNAVAILABLE_TEXT = "Progress charts are not available in this installation."


class ProgressTab(QWidget):
    """Shows the plot for the selected patient/episode, or a label saying why there is none."""

    exported = Signal(object)  # Path of a plot saved as PNG (the record view audits it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("progressTab")
        self._stack = QStackedWidget(self)
        self.message = QLabel(EMPTY_TEXT, objectName="progressMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #666; font-size: 11pt;")
        self._stack.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        self.plot: QWidget | None = None
        self._plot_failed = False
        self._chart: PatientChart | None = None
        self._episode_id: UUID | None = None
        self.bwt_fall_flag = True  # the clinic's 3MBWT choice, set by the record view
        self.overlay_source: Callable[[UUID, str], object] | None = None
        self._goals: tuple[UUID | None, list[Any]] = (None, [])  # episode id, GoalDrafts

    def set_goals(self, episode_id: UUID, goals: list[Any]) -> None:
        """The measured goals of ``episode_id`` (plan of care), drawn on their plots."""
        self._goals = (episode_id, list(goals))
        if self.plot is not None and self.isVisible():
            self.plot.set_goals(episode_id, goals)  # type: ignore[attr-defined]

    def set_bwt_fall_flag(self, flag: bool) -> None:
        """Apply the clinic's 3MBWT population choice (Settings › Clinical)."""
        self.bwt_fall_flag = flag
        if self.isVisible():
            self._update()

    def set_overlay_source(self, source: Callable[[UUID, str], object] | None) -> None:
        """Where the plot's expected-recovery overlay comes from (None: not offered)."""
        self.overlay_source = source
        if self.plot is not None:
            self.plot.set_overlay_source(source)  # type: ignore[attr-defined]

    def set_chart(self, chart: PatientChart | None, episode_id: UUID | None) -> None:
        """Remember what to show; draws now if the tab is visible, else when it is shown."""
        self._chart, self._episode_id = chart, episode_id
        if self.isVisible():
            self._update()

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        super().showEvent(event)
        self._update()

    def _has_tests(self) -> bool:
        chart = self._chart
        if chart is None:
            return False
        # Sessions alone are worth plotting too (speed, pain, duration, distance).
        return any(not r.stamp.entered_in_error for ep in chart.episodes
                   for r in (*ep.tests, *ep.sessions))

    def _ensure_plot(self) -> QWidget | None:
        if self.plot is None and not self._plot_failed:
            try:
                module = importlib.import_module("clinic_app.ui.progress_plot")
                self.plot = module.ProgressPlot(self)
            except Exception:  # missing module or broken plotting stack: explain, don't crash
                log.warning("Progress plot unavailable", exc_info=True)
                self._plot_failed = True
                return None
            self.plot.setObjectName("progressPlot")
            self.plot.exported.connect(self.exported)  # type: ignore[attr-defined]
            self.plot.set_overlay_source(self.overlay_source)  # type: ignore[attr-defined]
            self._stack.addWidget(self.plot)
        return self.plot

    def _update(self) -> None:
        if self._chart is None or not self._has_tests():
            self.message.setText(EMPTY_TEXT)
            self._stack.setCurrentWidget(self.message)
            return
        plot = self._ensure_plot()
        if plot is None:
            self.message.setText(UNAVAILABLE_TEXT)
            self._stack.setCurrentWidget(self.message)
            return
        plot.set_bwt_fall_flag(self.bwt_fall_flag)  # type: ignore[attr-defined]
        plot.set_chart(self._chart, self._episode_id)  # type: ignore[attr-defined]
        if self._goals[0] is not None:
            plot.set_goals(*self._goals)  # type: ignore[attr-defined]
        self._stack.setCurrentWidget(plot)
