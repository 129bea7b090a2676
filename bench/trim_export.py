"""Make a CSV export importable for ``bench_heavy.py import``, optionally smaller.

The synthetic clinic dates some tests after today (the import rightly refuses them), so
they are left out; ``--patients N`` keeps only the first N patients of the export with
their episodes, sessions and tests (for the memory-against-size comparison).

    PYTHONPATH=. python bench/trim_export.py SRC_DIR DEST_DIR [--patients N]
"""

from __future__ import annotations

import argparse
import csv
from datetime import date
from pathlib import Path

ENCODING = "utf-8-sig"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--patients", type=int, default=0, help="keep the first N (0: all)")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    today = date.today().isoformat()
    keep: set[str] | None = None
    counts: dict[str, int] = {}
    for kind in ("patients", "episodes", "sessions", "tests"):
        src = args.source / f"{kind}.csv"
        with src.open(encoding=ENCODING, newline="") as fin, \
                (args.dest / f"{kind}.csv").open("w", encoding=ENCODING, newline="") as fout:
            rows = csv.reader(fin)
            header = next(rows)
            out = csv.writer(fout)
            out.writerow(header)
            mrn = header.index("mrn")
            on = header.index("performed_on") if kind == "tests" else None
            n = 0
            for row in rows:
                if kind == "patients" and args.patients:
                    if n >= args.patients:
                        continue
                elif keep is not None and row[mrn] not in keep:
                    continue
                if on is not None and row[on] > today:
                    continue
                out.writerow(row)
                n += 1
            counts[kind] = n
        if kind == "patients" and args.patients:
            with (args.dest / "patients.csv").open(encoding=ENCODING, newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                keep = {row[mrn] for row in reader}
    print(", ".join(f"{n:,} {kind}" for kind, n in counts.items()),
          f"= {sum(counts.values()):,} rows")


if __name__ == "__main__":
    main()
