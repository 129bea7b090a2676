"""What every view needs: the services for one database and the app-wide signals."""

from __future__ import annotations

from dataclasses import dataclass, field

from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.ui.signals import AppSignals


@dataclass
class UiContext:
    """The open database, the acting user, the charting service and the app signals."""

    db: Database
    actor: str
    signals: AppSignals = field(default_factory=AppSignals)
    charting: ChartingService = field(init=False)

    def __post_init__(self) -> None:
        self.charting = ChartingService(self.db, self.actor)
