"""What another workstation stored: the notice that lets open views refresh.

A change names the record (kind and id) and the patient it belongs to, never a patient's
values, so it may travel through the database server's notification channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

# Record kinds as the audit trail names them; ``ALL`` asks every view to reload (a bulk
# import, demo data, or notices missed while the connection was down).
PATIENT = "patient"
EPISODE = "episode"
SESSION = "session"
TEST_RESULT = "test_result"
CLINIC = "clinic"
GOAL = "goal"
PRESCRIPTION = "prescription"
ALL = "all"


@dataclass(frozen=True)
class RecordChange:
    """One record created, changed or marked entered in error by another workstation."""

    kind: str
    record_id: str | None = None
    patient_id: UUID | None = None
    actor: str = ""

    def concerns_patient(self, patient_id: UUID | None) -> bool:
        """True when a view showing ``patient_id`` must refresh for this change."""
        return self.kind == ALL or (patient_id is not None and self.patient_id == patient_id)

    def concerns_record(self, record_id: UUID | str | None) -> bool:
        """True when this change is to the record ``record_id`` (or to everything)."""
        if self.kind == ALL:
            return True
        return record_id is not None and self.record_id == str(record_id)
