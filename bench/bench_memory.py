"""Peak memory with the main window on the 100k clinic and a patient open with its plot
(issue 9 target: <= 300 MB). A fresh interpreter (bench/_gui_child.py memory) shows the main
window, opens the database, loads the first page of the list, selects the first patient,
shows the Progress tab (builds the plot) and reports ru_maxrss (peak resident set).

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python bench/bench_memory.py --db sqlite:////tmp/syn.sqlite3
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from bench_startup import run_child

TARGET_MB = 300.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        _, doc = run_child("memory", args.db, data_dir)
    ok = doc["rss_mb"] <= TARGET_MB
    print(f"peak RSS with the list loaded (first {doc['rows']} patients shown): "
          f"{doc['rss_list_mb']:.0f} MB")
    print(f"peak RSS with a patient open ({doc['sessions']} sessions, {doc['tests']} tests) and "
          f"its plot (pyqtgraph loaded: {doc['pyqtgraph_after_plot']}): {doc['rss_mb']:.0f} MB")
    print(f"target <= {TARGET_MB:.0f} MB: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
