"""What every view needs: the services for one database and the app-wide signals."""

from __future__ import annotations

from dataclasses import dataclass, field

from clinic_app.domain.permissions import Principal, as_principal
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.ui.signals import AppSignals


@dataclass
class UiContext:
    """The open database, the signed-in user, the charting service and the app signals."""

    db: Database
    principal: Principal  # from the sign-in service; every use case acts for it
    signals: AppSignals = field(default_factory=AppSignals)
    charting: ChartingService = field(init=False)

    def __post_init__(self) -> None:
        self.principal = as_principal(self.principal)
        self.charting = ChartingService(self.db, self.principal)
