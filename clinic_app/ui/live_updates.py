"""Brings other workstations' changes onto the GUI thread as the app-wide signal."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from clinic_app.domain.changes import RecordChange
from clinic_app.services.live import LiveUpdates
from clinic_app.ui.context import UiContext

log = logging.getLogger(__name__)


class LiveUpdatesBridge(QObject):
    """Owns the :class:`LiveUpdates` watcher of one window and re-emits what it finds as
    ``records_changed`` (:mod:`clinic_app.ui.signals`) on the GUI thread."""

    # Emitted from the watcher's thread; Qt queues it to this object's (the GUI) thread.
    _arrived = Signal(object)

    def __init__(self, ctx: UiContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._arrived.connect(self._deliver)
        self._live: LiveUpdates | None = None
        try:
            self._live = LiveUpdates(ctx.db, ctx.principal, self._arrived.emit).start()
        except Exception as exc:  # noqa: BLE001 - the window works without live updates
            log.warning("Live updates unavailable (%s)", type(exc).__name__)

    @property
    def running(self) -> bool:
        return self._live is not None and self._live.running

    def _deliver(self, changes: Sequence[RecordChange]) -> None:
        self._ctx.signals.records_changed.emit(list(changes))

    def stop(self) -> None:
        """Stop watching (the window closes or signs out)."""
        if self._live is not None:
            self._live.stop()
            self._live = None
