"""Importer process for the lock-out tests: imports FOLDER into URL and pauses mid-store.

Usage: python import_child.py URL FOLDER
Prints ``STORING`` once the import has written its first rows (its transaction holds the
write lock from then on), waits for a line on stdin, finishes and prints ``DONE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accounts import as_user  # noqa: E402

from clinic_app.domain.imports import ImportPhase  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.interop import import_csv  # noqa: E402


def main() -> None:
    url, folder = sys.argv[1], Path(sys.argv[2])
    db = Database.open(url)
    paused: list[bool] = []

    def progress(phase: ImportPhase, done: int, _total: int) -> None:
        if phase is ImportPhase.STORING and done > 0 and not paused:
            paused.append(True)
            sys.stdout.write("STORING\n")
            sys.stdout.flush()
            sys.stdin.readline()

    try:
        import_csv(db, as_user(db, "importer"), folder, progress)
    finally:
        db.close()
    sys.stdout.write("DONE\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
