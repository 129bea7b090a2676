"""Writer process for the kill -9 test: records sessions and acknowledges each commit.

Usage: python crash_writer.py SQLITE_PATH EPISODE_ID
Prints ``ACK <session-id>`` only after the unit of work has committed.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clinic_app.domain.records import TestResultDraft, WalkSessionDraft
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the accounts helper
from accounts import as_user  # noqa: E402


def main() -> None:
    path, episode = sys.argv[1], uuid.UUID(sys.argv[2])
    db = Database.open(f"sqlite:///{path}")
    svc = ChartingService(db, as_user(db, "crash-writer"))
    start = datetime.now(UTC) - timedelta(days=300)
    i = 0
    while True:
        when = start + timedelta(minutes=i)
        session, _ = svc.record_session(
            episode,
            WalkSessionDraft(performed_at=when, duration_min=10.0, speed_m_s=0.5,
                             pain_before=2, pain_after=2, subjective="x" * 2000),
            [TestResultDraft("tug", when.date(), 9.5 + (i % 10) / 10)],
        )
        sys.stdout.write(f"ACK {session.id}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    main()
