"""Mover process for the kill -9 test: moves SOURCE_URL to TARGET_URL slowly.

Usage: python move_child.py SOURCE_URL TARGET_URL
Prints ``<phase> <table> <done>`` after every small batch and sleeps a little, so the test
can kill it in the middle of any table.
"""

from __future__ import annotations

import sys
import time

from clinic_app.persistence.move import move_clinic
from clinic_app.persistence.uow import Database


def main() -> None:
    source_url, target_url = sys.argv[1], sys.argv[2]
    db = Database.open(source_url)

    def progress(phase: str, table: str, done: int, total: int) -> None:
        sys.stdout.write(f"{phase} {table} {done}\n")
        sys.stdout.flush()
        time.sleep(0.02)

    move_clinic(db, target_url, "mover", progress, batch=20)
    sys.stdout.write("DONE\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
