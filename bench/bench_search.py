"""Patient search and scrolling at clinic scale: what one keystroke and one scroll cost.

Needs a synthetic clinic (bench/synthetic.py). For each kind of typed text it prints p50/p95
of what the list runs per keystroke -- the first keyset page of 200 and the count capped at
10,001 matches within its time budget, each alone and their sum, and "both": the two started
at once on two threads as the list runs them, until both answers are in -- next to the
single ORDER BY ... LIMIT statement the list ran before (on a bare DB-API
cursor). A count that ran out of its budget is done again, without one, behind the list
(the list says "at least 200 ... counting"): how often that happened and what the full
count then took are printed too. Then a
page at 10 %, 50 % and 90 % of the whole list by key (what scrolling costs there) next to
the same page by OFFSET (how the list paged before), and family-name prefixes across the
alphabet.
Targets: every keystroke and every scroll position p95 <= 50 ms at 1M patients.

    python bench/bench_search.py --db sqlite:////tmp/syn.sqlite3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _principal import bench_user  # noqa: E402 - bench/ is this script's folder
from sqlalchemy import false, select  # noqa: E402

from clinic_app.persistence.engine import READ_ONLY  # noqa: E402
from clinic_app.persistence.models import PatientRow  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.charting import ChartingService  # noqa: E402
from clinic_app.ui.patient_model import COUNT_BUDGET_S  # noqa: E402 - what the list uses

QUERIES = {
    "empty box": "",
    "first letter s": "s",
    "family prefix schm": "schm",
    "two words": "müller an",
    "one-letter words": "s a",
    "one-letter, rare": "k o",
    "given name prefix": "sofi",
    "MRN prefix": "SYN-00123",
    "birth date": "23.04.1961",
    "no match": "zzzq",
}
# Family-name prefixes from the start to the end of the alphabet (synthetic names).
ALPHABET = ("ande", "brow", "fisc", "kowa", "novak", "schm", "wójc", "yılm")
CAP = 10_001  # what the list asks for: "more than 10,000"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm: statement compiled, pages cached, as after the first keystroke
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def side_by_side(first: Callable[[], object], second: Callable[[], object],
                 pool: ThreadPoolExecutor) -> Callable[[], object]:
    """Both started at once on two threads, as the list runs its page and its count: the
    time until both answers are in is what the keystroke costs the user."""
    def run() -> object:
        a, b = pool.submit(first), pool.submit(second)
        return a.result(), b.result()

    return run


def raw(db: Database, sql: str, bound: object) -> Callable[[], object]:
    def run() -> object:
        conn = db.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(sql, bound)
            rows = cur.fetchall()
            cur.close()
            return rows
        finally:
            conn.close()

    return run


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--limit", type=int, default=200, help="page size the list fetches")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--check-in-background", action="store_true",
                        help="SQLite: open as the desktop app does, the integrity check "
                             "running (at its low priority) while the searches are timed, "
                             "instead of reading the whole file first (minutes at 1M); the "
                             "bench's own sign-in event is then not written")
    args = parser.parse_args()
    db = Database.open(args.db, check_in_background=args.check_in_background)
    svc = ChartingService(db, bench_user(db))
    n = svc.count_patients()
    runs, limit = args.runs, args.limit
    cpu0, wall0 = time.process_time(), time.perf_counter()
    pool = ThreadPoolExecutor(2)  # the list's page and count, side by side
    print(f"{db.dialect}: {n:,} patients; page size {limit}; {runs} runs each (ms); "
          f"count budget {COUNT_BUDGET_S * 1000:.0f} ms; {load()}")
    print(f"{'keystroke':20} {'page p50':>8} {'page p95':>8} {'count p50':>9} "
          f"{'count p95':>9} {'sum p95':>8} {'both p95':>8} {'1-stmt p50':>10} {'rows':>5} "
          f"{'count':>7} {'late':>5} {'full p50':>8} {'full p95':>8}")
    for label, typed in QUERIES.items():
        page_t = timed(lambda t=typed: svc.patient_list_page(t, None, limit), runs)
        answers: list[int | None] = []
        count_t = timed(lambda t=typed, out=answers: out.append(
            svc.count_patients_within(t, CAP, COUNT_BUDGET_S)), runs)
        late = sum(a is None for a in answers[1:])  # (the first was the warm-up)
        full_t = timed(lambda t=typed: svc.count_patients(t, cap=CAP), max(3, runs // 4))
        sql, bound = db.patient_list.statement(typed, limit=limit)
        raw_t = timed(raw(db, sql, bound), runs)
        rows = len(svc.patient_list_page(typed, None, limit).patients)
        counted = svc.count_patients(typed, cap=CAP)
        both = [a + b for a, b in zip(page_t, count_t, strict=True)]
        together_t = timed(side_by_side(
            lambda t=typed: svc.patient_list_page(t, None, limit),
            lambda t=typed: svc.count_patients_within(t, CAP, COUNT_BUDGET_S), pool), runs)
        shown = f">{CAP - 1:,}" if counted >= CAP else f"{counted:,}"
        print(f"{label:20} {statistics.median(page_t):8.2f} {pct(page_t, .95):8.2f} "
              f"{statistics.median(count_t):9.2f} {pct(count_t, .95):9.2f} "
              f"{pct(both, .95):8.2f} {pct(together_t, .95):8.2f} {statistics.median(raw_t):10.2f} "
              f"{rows:5} {shown:>7} {late:>2}/{runs:<2} {statistics.median(full_t):8.2f} "
              f"{pct(full_t, .95):8.2f}")
    print(f"(keystrokes: {time.perf_counter() - wall0:.1f} s wall, "
          f"{time.process_time() - cpu0:.1f} s of this process's CPU; {load()})")

    print(f"\n{'scrolled to':20} {'key p50':>8} {'key p95':>8} {'OFFSET p50':>10} "
          f"{'OFFSET p95':>10}")
    c = PatientRow
    for share in (0.1, 0.5, 0.9):
        at = int(n * share)
        # Set-up, not timed: the key of the row above (a read-only snapshot: a SQLite
        # connection otherwise takes the write lock, which the integrity check holds).
        with db.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            key = conn.execute(select(c.family_key, c.given_key, c.id)
                               .where(c.entered_in_error == false())
                               .order_by(c.family_key, c.given_key, c.id)
                               .offset(at - 1).limit(1)).one()
        after = (key[0], key[1], key[2])
        key_t = timed(lambda a=after: svc.patient_list_page("", a, limit), runs)
        off_t = timed(lambda o=at: svc.search_patients("", o, limit), max(3, runs // 8))
        print(f"{share:>19.0%} {statistics.median(key_t):8.2f} {pct(key_t, .95):8.2f} "
              f"{statistics.median(off_t):10.2f} {pct(off_t, .95):10.2f}")

    print(f"\n{'family prefix':20} {'page p50':>8} {'page p95':>8} {'count p95':>9}")
    for typed in ALPHABET:
        page_t = timed(lambda t=typed: svc.patient_list_page(t, None, limit), runs)
        count_t = timed(lambda t=typed: svc.count_patients_within(t, CAP, COUNT_BUDGET_S),
                        runs)
        print(f"{typed:20} {statistics.median(page_t):8.2f} {pct(page_t, .95):8.2f} "
              f"{pct(count_t, .95):9.2f}")
    print(f"(all: {time.perf_counter() - wall0:.1f} s wall, "
          f"{time.process_time() - cpu0:.1f} s of this process's CPU; {load()})")
    if args.check_in_background:
        print(f"integrity check {'done' if db.integrity_checked else 'still running'} "
              "at the end", flush=True)
        os._exit(0)  # not waiting for the check to record the bench's sign-in
    db.close()


if __name__ == "__main__":
    main()
