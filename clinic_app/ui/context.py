"""What every view needs: the open clinic (the one facade to every use case) and the
app-wide signals."""

from __future__ import annotations

from dataclasses import dataclass, field

from clinic_app.domain.permissions import Principal
from clinic_app.services.charting import ChartingService
from clinic_app.services.facade import Clinic
from clinic_app.ui.signals import AppSignals


@dataclass
class UiContext:
    """The open clinic, signed in, and the app signals."""

    clinic: Clinic
    signals: AppSignals = field(default_factory=AppSignals)

    @property
    def principal(self) -> Principal:
        """Who signed in; every use case acts for them."""
        return self.clinic.principal

    @property
    def charting(self) -> ChartingService:
        return self.clinic.charting
