"""Live updates: what other workstations store, delivered to the views that show it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clinic_app.domain.changes import RecordChange
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.persistence.changes import POLL_SECONDS, ChangeWatcher
from clinic_app.persistence.uow import Database


class LiveUpdates:
    """Watches one database for changes stored by other workstations (or other windows).

    ``deliver`` is called on a background thread with the changes found, at most every
    ``interval`` seconds; a change carries ids and kinds only, and the views read what they
    show through the usual use cases, as the signed-in user.
    """

    def __init__(self, db: Database, actor: Principal,
                 deliver: Callable[[Sequence[RecordChange]], None],
                 interval: float = POLL_SECONDS) -> None:  # fmt: skip
        self.principal = as_principal(actor)
        require(self.principal, Action.READ)
        self._watcher = ChangeWatcher(db, deliver, interval)

    def start(self) -> LiveUpdates:
        """Start watching; returns once the watcher is ready to see the next change."""
        self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop watching and close the watcher's connection."""
        self._watcher.stop()

    @property
    def running(self) -> bool:
        return self._watcher.running
