"""Synthetic clinic for benchmarks: realistic names, N patients, sessions and tests.

    python bench/synthetic.py --db sqlite:////tmp/clinic.sqlite3 --patients 100000
    python bench/synthetic.py --db postgresql+psycopg://postgres@127.0.0.1/NAME --patients 1000000

Each patient has one knee episode (with a surgery date), ``--sessions`` retro-walking
sessions and ``--tests`` test results (TUG and 3-metre backward walk, alternately), all
dated in the past. The target must be an empty database (a new SQLite file or an empty
PostgreSQL database); it is migrated first and ends as a clinic the app opens: every row
signed like any row Backstep writes (``audit verify`` passes), the integrity check passes.

Speed (a 1M-patient clinic is 22M rows): rows are generated block by block (10,000
patients with their episodes, sessions and tests; nothing else is kept) directly in the
form the database stores, from pools computed once (names and their search keys, dates
and their text forms, the few distinct speeds and values), and each row's signature is one
``%`` format of a precomputed canonical text (``rowmac.canonical_template``) and one
HMAC. The fresh load (``clinic_app/persistence/fresh_load.py``) writes the blocks on a
thread of its own while the next is generated: one transaction, secondary indexes rebuilt
at the end, ``COPY ... FREEZE`` on PostgreSQL. Each block also carries its rows of the
cohorts' weekly summary (``cohort_week``): the generator made every result and knows each
episode's dates, so the weekly values are at hand, and writing them costs far less than
reading every result back, joining, grouping and sorting at the end (``--summary-by-select``
does that instead, as a migration fills the table).
Ids are version-4 UUIDs whose first 44 bits count up (the rest random), like time-ordered
ids, so the primary keys grow by appending.
``tests/persistence/test_synthetic.py`` checks that what this writes is byte for byte what
the CSV import's writer stores for the same rows.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clinic_app.domain.cohorts import WeekBasis  # noqa: E402
from clinic_app.domain.measures import MEASURES  # noqa: E402
from clinic_app.persistence import rowmac  # noqa: E402
from clinic_app.persistence.binds import bind_processor  # noqa: E402
from clinic_app.persistence.cohort_summary import LAST_DAY, cohort_week  # noqa: E402
from clinic_app.persistence.fresh_load import SUMMARY, FreshLoad, copy_text  # noqa: E402
from clinic_app.persistence.mapping import search_key  # noqa: E402
from clinic_app.persistence.models import Base  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.demo import DOCTORS, FAMILY, FEMALE, MALE  # noqa: E402

BLOCK = 10_000  # patients per block handed to the writer
DIAGNOSES = ("acl_reconstruction", "knee_osteoarthritis", "anterior_knee_pain",
             "post_surgery_other")
OLDEST_START_DAYS = 3000  # episodes started 70 (or more) to 3,000 days ago
NEWEST_START_DAYS = 70  # so that every session and result is dated in the past
VARIANT = "89ab"
CREATOR = "synthetic"  # created_by and updated_by of every row
SURGERY_DAYS_BEFORE = 10  # each episode starts 10 days after its surgery
MEASURE_OF_TEST = ("bwt_3m", "tug")  # the k-th result of an episode: alternately

# Columns whose value differs from row to row, in the canonical (sorted) order that
# rowmac.canonical_template returns; every other column is the same in every row.
VARYING = {
    "patient": ("date_of_birth", "family_key", "family_name", "given_key", "given_name", "id",
                "mrn", "sex"),
    "episode": ("affected_side", "diagnosis", "id", "patient_id", "referring_doctor",
                "start_date", "surgery_date"),
    "walk_session": ("distance_m", "episode_id", "id", "performed_at", "speed_m_s"),
    "test_result": ("episode_id", "id", "measure_id", "performed_on", "value"),
}
SAME = {
    "patient": {"phone": "", "email": "", "notes": ""},
    "episode": {"end_date": None, "notes": ""},
    "walk_session": {"mode": "treadmill", "surface": "treadmill_belt", "duration_min": 15.0,
                     "incline_pct": 2.0, "assistance": "independent", "pain_before": 3,
                     "pain_after": 2, "rpe": 4.0, "heart_rate": 100, "adverse_events": "",
                     "subjective": "", "objective": "", "assessment": "", "plan": ""},
    "test_result": {"session_id": None, "side": None, "items": None, "notes": ""},
}


class Layout:
    """How one table's rows are written: the signature's shared start (as HMAC states) and
    template of the rest and, per database, the column order and the part of every row
    that never changes."""

    def __init__(self, table: str, dialect: str, key: bytes, now: datetime) -> None:
        self.table = table
        same: dict[str, Any] = {"created_at": now, "created_by": CREATOR,
                                "updated_at": now, "updated_by": CREATOR, "version": 1,
                                "entered_in_error": False, "error_reason": None,
                                **SAME[table]}
        template, order = rowmac.canonical_template(table, VARYING[table], same)
        assert order == VARYING[table], (table, order)
        cut = template.index("%s")
        self.mac = template[cut:]  # the part after the shared start: formatted per row
        self.inner, self.outer = rowmac.hmac_states(key, (template[:cut] % ()).encode())
        self.columns = (*VARYING[table], "row_mac")
        columns = Base.metadata.tables[table].c
        if dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            self.same = {name: _stored(columns[name].type, sqlite.dialect(), value)
                         for name, value in same.items()}
        else:
            from sqlalchemy.dialects.postgresql import psycopg

            self.same = {name: _pg_text(_stored(columns[name].type, psycopg.dialect(), value))
                         for name, value in same.items()}
        self.line = "\t".join(["%s"] * len(self.columns)) + "\n"


class SummaryLayout:
    """How the weekly cohort summary's rows are written (derived data: not signed)."""

    # Columns that are the same in every generated summary row: every episode is operated
    # and has no treating therapist or surgery type recorded, so the therapist is the
    # episode's creator, as the summary's select takes it.
    SAME: dict[str, Any] = {"operated": True, "therapist": CREATOR, "surgery_type": None}

    def __init__(self, dialect: str) -> None:
        self.table = SUMMARY
        self.columns = tuple(c.name for c in cohort_week.columns if c.name not in self.SAME)
        if dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            self.same = {name: _stored(cohort_week.c[name].type, sqlite.dialect(), value)
                         for name, value in self.SAME.items()}
        else:
            from sqlalchemy.dialects.postgresql import psycopg

            self.same = {name: _pg_text(_stored(cohort_week.c[name].type, psycopg.dialect(),
                                                value))
                         for name, value in self.SAME.items()}
        self.line = "\t".join(["%s"] * len(self.columns)) + "\n"


def _stored(type_: Any, dialect: Any, value: Any) -> Any:
    """``value`` as the column's bind processor hands it to the driver."""
    proc = bind_processor(type_, dialect)
    return value if proc is None else proc(value)


def _pg_text(value: Any) -> Any:
    """The text PostgreSQL is given for a driver value (JSON None is JSON null)."""
    from psycopg.types.json import Json

    if isinstance(value, Json):
        return json.dumps(value.obj)
    if isinstance(value, datetime):
        return _sqlite_time(value) + "+00"
    return value


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Generator:
    """Rows of a synthetic clinic, one block of patients at a time. A block depends only on
    its number (its own random generator, ids counted from its first patient), so blocks
    can be made in any process and order."""

    def __init__(self, dialect: str, key: bytes, patients: int, sessions: int, tests: int,
                 seed: int, now: datetime | None = None, size: int = BLOCK) -> None:
        self.dialect = dialect
        self.patients = patients
        self.sessions = sessions
        self.tests = tests
        self.seed = seed
        self.size = size
        self.now = now or datetime.now(UTC).replace(microsecond=0)
        self.layouts = {t: Layout(t, dialect, key, self.now) for t in VARYING}
        self.summary_layout = SummaryLayout(dialect)
        self.weeks = self._summary_plan(tests)
        # The newest episode starts early enough for its last result to be in the past.
        self.newest = max(NEWEST_START_DAYS, 3 * sessions + 1, 7 * tests + 1)
        if self.newest >= OLDEST_START_DAYS:
            raise ValueError("too many sessions or tests per patient to date them all")
        today = self.now.date()
        # Every day a row can fall on, from the oldest surgery to today, in its text forms.
        first_day = today - timedelta(days=OLDEST_START_DAYS + 10)
        self.day = [(first_day + timedelta(days=i)).isoformat()
                    for i in range(OLDEST_START_DAYS + 11)]
        stamp = " 09:00:00.000000" + ("+00" if dialect == "postgresql" else "")
        self.at_nine = [d + stamp for d in self.day]
        self.at_nine_mac = [d + "T09:00:00.000000+00:00" for d in self.day]
        self.births = [(date(1940, 1, 1) + timedelta(days=i)).isoformat()
                       for i in range(365 * 65 + 1)]
        female = [(n, search_key(n)) for n in FEMALE]
        male = [(n, search_key(n)) for n in MALE]
        self.given = (female, male)
        self.family = [(n, search_key(n)) for n in FAMILY]
        self.doubles = [(f"{a}-{b}", search_key(f"{a}-{b}")) for a in FAMILY for b in FAMILY]
        for text in [*DOCTORS, *(t for pair in female + male + self.doubles for t in pair)]:
            # Pool text goes into COPY lines as is: it must need no escaping.
            assert copy_text(text) == text and "%" not in text, text
        # The few distinct speeds and values, as stored and as signed (repr).
        self.speeds = [[self._speed(k, (j + 0.5) / 100) for j in range(100)]
                       for k in range(sessions)]
        self.values = [[(v, repr(v)) for v in (round(12 - 0.3 * k + (j + 0.5) / 100, 1)
                                               for j in range(100))] for k in range(tests)]

    @staticmethod
    def _summary_plan(tests: int) -> list[tuple[str, str, int, int, bool]]:
        """Where an episode's results go in the weekly summary, the same for every episode
        (its k-th result is 7k days after its start, which is 10 days after its surgery):
        (measure, basis, week, k, first week of this measure and basis) in the summary's
        key order, for the results within the summary's weeks."""
        weeks: dict[tuple[str, str, int], list[int]] = {}
        for basis, anchor in ((WeekBasis.SURGERY, -SURGERY_DAYS_BEFORE),
                              (WeekBasis.EPISODE_START, 0)):
            for k in range(tests):
                measure = MEASURE_OF_TEST[k % 2]
                # The summary keeps a sided measure's results of one knee only: not modelled.
                assert not MEASURES[measure].sided, measure
                days = 7 * k - anchor
                if 0 <= days < LAST_DAY:
                    weeks.setdefault((measure, basis.value, days // 7), []).append(k)
        plan = []
        for (measure, basis, week), ks in sorted(weeks.items()):
            # One result per week: its mean is its value, exactly as the database's avg().
            assert len(ks) == 1, "two results of a measure in one week"
            first = week == min(w for m, b, w in weeks if (m, b) == (measure, basis))
            plan.append((measure, basis, week, ks[0], first))
        return plan

    @staticmethod
    def _speed(k: int, u: float) -> tuple[float, str, float, str]:
        speed = round(0.3 + 0.05 * k + u * 0.05, 2)
        distance = float(round(speed * 900))
        return speed, repr(speed), distance, repr(distance)

    def _ids(self, rng: random.Random, kind: int, first: int,
             count: int) -> tuple[list[str], list[str]]:
        """``count`` new ids numbered from ``first``: (as stored, as signed)."""
        r = rng.randbytes(9 * count).hex()
        top = kind << 44
        signed = [f"{(top | n) >> 16:08x}-{n & 0xFFFF:04x}-4{r[i:i + 3]}-"
                  f"{VARIANT[n & 3]}{r[i + 3:i + 6]}-{r[i + 6:i + 18]}"
                  for i, n in zip(range(0, 18 * count, 18), range(first, first + count),
                                  strict=True)]
        if self.dialect == "sqlite":
            return [s.replace("-", "") for s in signed], signed
        return signed, signed

    def blocks(self) -> range:
        """The numbers of the blocks of the clinic."""
        return range((self.patients + self.size - 1) // self.size)

    def block(self, number: int) -> dict[str, Any]:
        """Rows of block ``number`` (its patients and everything theirs): table -> a list
        of tuples (SQLite) or COPY text (PostgreSQL)."""
        sqlite = self.dialect == "sqlite"
        first = number * self.size
        count = min(self.size, self.patients - first)
        rng = random.Random(self.seed * 1_000_003 + number)
        rnd = rng.random
        out: dict[str, list[Any]] = {t: [] for t in VARYING}
        lp, le = self.layouts["patient"], self.layouts["episode"]
        ls, lt = self.layouts["walk_session"], self.layouts["test_result"]
        pids, pids_signed = self._ids(rng, 1, first + 1, count)
        eids, eids_signed = self._ids(rng, 2, first + 1, count)
        starts: list[int] = []
        sexes: list[str] = []
        born: list[str] = []
        diagnoses: list[str] = []
        sides: list[str] = []
        span = OLDEST_START_DAYS - self.newest + 1
        last = len(self.day) - 1
        day, births, doubles, families = self.day, self.births, self.doubles, self.family
        rows = out["patient"]
        inner, outer, mac_text, line = lp.inner, lp.outer, lp.mac, lp.line
        for j in range(count):
            female = rnd() < 0.5
            pool = self.given[0 if female else 1]
            given, given_key = pool[int(rnd() * len(pool))]
            if rnd() < 0.7:
                family, family_key = families[int(rnd() * len(families))]
            else:
                family, family_key = doubles[int(rnd() * len(doubles))]
            birth = births[int(rnd() * len(births))]
            mrn = f"SYN-{first + j:07d}"
            sex = "female" if female else "male"
            sexes.append(sex)
            born.append(birth)
            h = inner.copy()
            h.update((mac_text % (birth, family_key, family, given_key, given, pids_signed[j],
                                  mrn, sex)).encode())
            o = outer.copy()
            o.update(h.digest())
            values = (birth, family_key, family, given_key, given, pids[j], mrn, sex,
                      o.hexdigest())
            rows.append(values if sqlite else line % values)
        rows = out["episode"]
        inner, outer, mac_text, line = le.inner, le.outer, le.mac, le.line
        for j in range(count):
            start = last - self.newest - int(rnd() * span)
            starts.append(start)
            side = "left" if rnd() < 0.5 else "right"
            diagnosis = DIAGNOSES[int(rnd() * 4)]
            doctor = DOCTORS[int(rnd() * len(DOCTORS))]
            sides.append(side)
            diagnoses.append(diagnosis)
            surgery = day[start - SURGERY_DAYS_BEFORE]
            h = inner.copy()
            h.update((mac_text % (side, diagnosis, eids_signed[j], pids_signed[j], doctor,
                                  day[start], surgery)).encode())
            o = outer.copy()
            o.update(h.digest())
            values = (side, diagnosis, eids[j], pids[j], doctor, day[start], surgery,
                      o.hexdigest())
            rows.append(values if sqlite else line % values)
        per = self.sessions
        sids, sids_signed = self._ids(rng, 3, first * per + 1, count * per)
        rows = out["walk_session"]
        inner, outer, mac_text, line = ls.inner, ls.outer, ls.mac, ls.line
        at_nine, at_nine_mac, speeds = self.at_nine, self.at_nine_mac, self.speeds
        n = 0
        for j in range(count):
            eid, eid_signed, start = eids[j], eids_signed[j], starts[j]
            for k in range(per):
                speed, speed_text, distance, distance_text = speeds[k][int(rnd() * 100)]
                at = start + 3 * k
                h = inner.copy()
                h.update((mac_text % (distance_text, eid_signed, sids_signed[n],
                                      at_nine_mac[at], speed_text)).encode())
                o = outer.copy()
                o.update(h.digest())
                if sqlite:
                    rows.append((distance, eid, sids[n], at_nine[at], speed, o.hexdigest()))
                else:
                    rows.append(line % (distance_text, eid, sids[n], at_nine[at], speed_text,
                                        o.hexdigest()))
                n += 1
        per = self.tests
        tids, tids_signed = self._ids(rng, 4, first * per + 1, count * per)
        rows = out["test_result"]
        inner, outer, mac_text, line = lt.inner, lt.outer, lt.mac, lt.line
        values_of = self.values
        chosen: list[list[tuple[float, str]]] = []  # per episode, its results' values
        n = 0
        for j in range(count):
            eid, eid_signed, start = eids[j], eids_signed[j], starts[j]
            picked: list[tuple[float, str]] = []
            chosen.append(picked)
            for k in range(per):
                measure = MEASURE_OF_TEST[k % 2]
                value, value_text = values_of[k][int(rnd() * 100)]
                picked.append((value, value_text))
                on = day[start + 7 * k]
                h = inner.copy()
                h.update((mac_text % (eid_signed, tids_signed[n], measure, on,
                                      value_text)).encode())
                o = outer.copy()
                o.update(h.digest())
                if sqlite:
                    rows.append((eid, tids[n], measure, on, value, o.hexdigest()))
                else:
                    rows.append(line % (eid, tids[n], measure, on, value_text,
                                        o.hexdigest()))
                n += 1
        out[SUMMARY] = self._summary(count, eids, pids, starts, chosen, diagnoses, sides,
                                     sexes, born)
        if sqlite:
            return out
        return {t: "".join(lines) for t, lines in out.items()}

    def _summary(self, count: int, eids: list[str], pids: list[str], starts: list[int],
                 chosen: list[list[tuple[float, str]]], diagnoses: list[str],
                 sides: list[str], sexes: list[str], born: list[str]) -> list[Any]:
        """The block's weekly cohort summary rows in the summary's key order (measure,
        basis, week, value, episode): blocks' episode ids grow, so each key range of the
        summary grows by appending."""
        sqlite = self.dialect == "sqlite"
        line = self.summary_layout.line
        day = self.day
        rows: list[Any] = []
        for measure, basis, week, k, first in self.weeks:
            flag: Any = int(first) if sqlite else ("t" if first else "f")
            by_value: dict[float, list[int]] = {}
            for j in range(count):
                by_value.setdefault(chosen[j][k][0], []).append(j)
            for value in sorted(by_value):
                for j in by_value[value]:
                    v: Any = value if sqlite else chosen[j][k][1]
                    values = (measure, basis, week, v, eids[j], pids[j], flag, diagnoses[j],
                              sides[j], day[starts[j]], sexes[j], born[j])
                    rows.append(values if sqlite else line % values)
        return rows


_WORKER: Generator | None = None  # the generator a worker process inherited (fork)


def _block_in_worker(number: int) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.block(number)


def _in_order(pool: Any, numbers: range, ahead: int) -> Iterator[dict[str, Any]]:
    """The blocks made by ``pool``, in order, at most ``ahead`` of them made before they are
    written (``Pool.imap`` would let finished blocks pile up in memory)."""
    waiting: deque[Any] = deque()
    for number in numbers:
        waiting.append(pool.apply_async(_block_in_worker, (number,)))
        if len(waiting) > ahead:
            yield waiting.popleft().get()
    while waiting:
        yield waiting.popleft().get()


def generate(url: str, patients: int, sessions_per_patient: int = 10,
             tests_per_patient: int = 10, seed: int = 1, workers: int = 1,
             progress: bool = True, block_size: int = BLOCK,
             summary_rows: bool = True) -> dict[str, float]:
    """Build a synthetic clinic in the empty database ``url``; returns counts and times.

    ``workers`` > 1 makes the blocks in that many processes (the writer stays in this one).
    ``summary_rows``: the blocks carry their weekly cohort summary rows, written like the
    records; otherwise the fresh load fills the summary from the records at its end.
    """
    global _WORKER
    db = Database.open(url)  # creates and migrates; the audit key of this data folder
    try:
        key = db.audit_key
    finally:
        db.close()
    t0 = time.perf_counter()
    load = FreshLoad(url, summary=summary_rows)
    gen = Generator(load.dialect, key, patients, sessions_per_patient, tests_per_patient, seed,
                    size=block_size)
    counts = {"patients": 0, "episodes": 0, "sessions": 0, "tests": 0, "summary": 0}
    names = {"patient": "patients", "episode": "episodes", "walk_session": "sessions",
             "test_result": "tests", SUMMARY: "summary"}
    pool = None
    if workers > 1:
        _WORKER = gen
        pool = multiprocessing.get_context("fork").Pool(workers)
        made: Iterator[dict[str, Any]] = _in_order(pool, gen.blocks(), ahead=workers + 1)
    else:
        made = map(gen.block, gen.blocks())
    try:
        with load:
            for block in made:
                if not summary_rows:
                    del block[SUMMARY]
                for table, rows in block.items():
                    layout = gen.summary_layout if table == SUMMARY else gen.layouts[table]
                    load.put(table, layout.columns, rows, layout.same)
                    counts[names[table]] += len(rows) if isinstance(rows, list) \
                        else rows.count("\n")
                if progress:
                    done = sum(counts.values()) - counts["summary"]
                    spent = time.perf_counter() - t0
                    print(f"\r  {counts['patients']:,} patients, {done:,} rows "
                          f"({done / spent:,.0f} rows/s, {spent:.0f} s)", end="",
                          file=sys.stderr, flush=True)
            if progress:
                print("\n  writing the last blocks, then rebuilding the indexes ...",
                      file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    result: dict[str, float] = {**counts, **load.timings}
    result["seconds"] = time.perf_counter() - t0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=10, help="sessions per patient")
    parser.add_argument("--tests", type=int, default=10, help="test results per patient")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes making rows (default: up to 2)")
    parser.add_argument("--summary-by-select", action="store_true",
                        help="fill the cohort summary from the loaded rows at the end (as "
                             "a migration does) instead of writing the blocks' summary rows")
    parser.add_argument("--check", action="store_true",
                        help="then open it as the app does (integrity check) and time that")
    args = parser.parse_args()
    c = generate(args.db, args.patients, args.sessions, args.tests, args.seed, args.workers,
                 summary_rows=not args.summary_by_select)
    rows = c["patients"] + c["episodes"] + c["sessions"] + c["tests"]
    summary = ("its indexes built" if not args.summary_by_select
               else "filled from the records")
    print(f"inserted {int(c['patients']):,} patients, {int(c['sessions']):,} sessions, "
          f"{int(c['tests']):,} tests"
          + (f" and {int(c['summary']):,} cohort summary rows" if c["summary"] else "") +
          f" in "
          f"{c['seconds']:.1f} s ({rows / c['seconds']:,.0f} records/s): rows written by "
          f"{c['write_s']:.1f} s, indexes and constraints rebuilt in {c['rebuild_s']:.1f} s, "
          f"cohort summary {summary} in {c['summary_s']:.1f} s, commit (and PostgreSQL's "
          f"ANALYZE) {c['commit_s']:.1f} s")
    if args.check:
        t = time.perf_counter()
        Database.open(args.db).close()
        print(f"opened as the app does, integrity check included: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
