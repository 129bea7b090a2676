"""Writer process for the restore tests: registers patients in a loop, acknowledging each.

Usage: python restore_writer.py DATABASE_URL MRN_PREFIX
Prints ``ACK <mrn>`` only after register_patient has returned (its transaction committed),
``ERR <exception class>`` for an attempt that failed (not acknowledged, so nothing is owed).
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the accounts helper
from accounts import as_user  # noqa: E402

from clinic_app.domain.records import PatientDraft
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService


def main() -> None:
    url, prefix = sys.argv[1], sys.argv[2]
    db = Database.open(url)  # named "Backstep restore-writer@host" via CLINIC_APP_USER
    svc = ChartingService(db, as_user(db, "restore-writer"))
    i = 0
    while True:
        mrn = f"{prefix}-{i:06d}"
        i += 1
        try:
            svc.register_patient(PatientDraft(mrn, "Writer", "Wendy", date(1980, 1, 1)))
        except Exception as exc:  # noqa: BLE001 - an unacknowledged write is allowed to fail
            sys.stdout.write(f"ERR {type(exc).__name__}\n")
            sys.stdout.flush()
            time.sleep(0.01)
        else:
            sys.stdout.write(f"ACK {mrn}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
