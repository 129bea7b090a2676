"""What every view needs: the services for one database and the app-wide signals."""

from __future__ import annotations

from dataclasses import dataclass, field

from clinic_app.domain.permissions import Principal
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService, as_principal
from clinic_app.ui.signals import AppSignals


@dataclass
class UiContext:
    """The open database, the signed-in user, the charting service and the app signals."""

    db: Database
    actor: str | Principal
    signals: AppSignals = field(default_factory=AppSignals)
    principal: Principal = field(init=False)
    charting: ChartingService = field(init=False)

    def __post_init__(self) -> None:
        self.principal = as_principal(self.actor)
        self.charting = ChartingService(self.db, self.principal)
