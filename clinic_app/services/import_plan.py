"""The CSV import's checks and writes, one chunk of rows at a time, in bounded memory.

:func:`clinic_app.services.interop.import_csv` runs a :class:`ImportPlan` twice over the
same files, read as a stream (``interop/csv_stream.py``):

1. *check* (a read-only snapshot, nothing written): every row is checked, linked to its
   patient, episode or session (in the files or the database), looked up by id to skip
   what is stored already, and every problem is collected. Only what later rows may link
   to is kept: patients by MRN and episodes as objects (one per patient or episode of
   care), and sessions and tests by id in :class:`RefIndex` arrays (about 28 bytes a
   row), so a file of millions of rows needs tens of MB, not GB. The plan-of-care files
   (goals, prescriptions, session checklists) come last and link through the same
   lookups (``services/plan_interop.py``).
2. *store* (one writing transaction, only when the check found no problem and something
   new): the same steps again, each chunk written through ``uow.bulk`` (``uow.plan`` for
   the plan of care) as soon as it is checked. A problem that appears only now (the
   database changed in between) still rejects everything: the transaction rolls back.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.imports import (
    EpisodeIn,
    EpisodeLink,
    ImportPhase,
    ImportProblem,
    ImportProgress,
    ImportSummary,
    PatientIn,
)
from clinic_app.domain.limits import EARLIEST_DAY, day_problem, instant_floor, instant_problem
from clinic_app.domain.validation import validate_episode
from clinic_app.interop.csv_stream import drop
from clinic_app.persistence import mapping
from clinic_app.persistence.bulk import COLUMNS
from clinic_app.persistence.plan_repo import PLAN_COLUMNS
from clinic_app.persistence.uow import UnitOfWork

if TYPE_CHECKING:
    from clinic_app.services.plan_interop import CarePlanImport

_DERIVED = frozenset({"family_key", "given_key"})  # search keys follow from the names
_EPISODE_COLUMNS = {
    "Diagnosis": "diagnosis", "Affected side": "affected_side", "Start date": "start_date",
    "Surgery date": "surgery_date", "End date": "end_date",
    "Referring doctor": "referring_doctor", "Notes": "notes",
    "Surgery type": "surgery_type", "Treating therapist": "treating_therapist",
}
_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOW = (1 << 64) - 1
_CHECKED = uuid.UUID(int=0)
"""The id a new row gets while only checking: ids are drawn when rows are stored."""


class RefIndex:
    """Record ids seen so far (canonical UUIDs, as Backstep exports them), each with its
    file row and one whole number, in sorted numpy arrays: 28 bytes an id instead of the
    ~150 a dict of UUID objects takes. Ids in any other form are the caller's to keep."""

    def __init__(self) -> None:
        self._lo = np.empty(0, np.uint64)
        self._hi = np.empty(0, np.uint64)
        self._row = np.empty(0, np.uint32)
        self._value = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self._lo)

    @staticmethod
    def key(ref: str) -> int | None:
        """The number of ``ref`` when it is a lower-case hyphenated UUID, else None."""
        if len(ref) == 36 and _CANONICAL.fullmatch(ref):
            return int(ref.replace("-", ""), 16)
        return None

    def find(self, keys: Sequence[int]) -> list[tuple[int, int] | None]:
        """``(row, value)`` of each key added earlier, or None."""
        out: list[tuple[int, int] | None] = [None] * len(keys)
        n = len(self._lo)
        if not keys or not n:
            return out
        lo = np.fromiter((k & _LOW for k in keys), np.uint64, len(keys))
        hi = np.fromiter((k >> 64 for k in keys), np.uint64, len(keys))
        pos = np.minimum(np.searchsorted(self._lo, lo), n - 1)
        same_lo = self._lo[pos] == lo
        exact = same_lo & (self._hi[pos] == hi)
        for i, p in zip(np.flatnonzero(exact).tolist(), pos[exact].tolist(), strict=True):
            out[i] = (int(self._row[p]), int(self._value[p]))
        for i in np.flatnonzero(same_lo & ~exact).tolist():  # equal low halves: walk the run
            p = int(pos[i])
            while p < n and self._lo[p] == lo[i]:
                if self._hi[p] == hi[i]:
                    out[i] = (int(self._row[p]), int(self._value[p]))
                    break
                p += 1
        return out

    def add(self, keys: Sequence[int], rows: Sequence[int], values: Sequence[int]) -> None:
        """Remember ``keys`` (not yet added) with their rows and values."""
        if not keys:
            return
        lo = np.fromiter((k & _LOW for k in keys), np.uint64, len(keys))
        hi = np.fromiter((k >> 64 for k in keys), np.uint64, len(keys))
        order = np.argsort(lo, kind="stable")
        lo = lo[order]
        at = np.searchsorted(self._lo, lo, side="right")
        self._lo = np.insert(self._lo, at, lo)
        self._hi = np.insert(self._hi, at, hi[order])
        self._row = np.insert(self._row, at, np.asarray(rows, np.uint32)[order])
        self._value = np.insert(self._value, at, np.asarray(values, np.int64)[order])


class _IdPool:
    """``n`` new random (version 4) UUIDs handed out in ascending order.

    Rows get them in the order they are inserted, so the primary-key index of a large
    import grows at its end instead of at random places (SQLite: a third less write time
    for 1M sessions). They are as random as any other id; only their order is chosen.
    Held as 16 bytes each; past ``n`` (the files changed since they were checked) ids are
    drawn one by one.
    """

    def __init__(self, n: int) -> None:
        raw = np.frombuffer(os.urandom(16 * n), np.uint8).reshape(n, 16).copy()
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
        halves = raw.view(">u8")
        self._raw = raw[np.lexsort((halves[:, 1], halves[:, 0]))]
        self._next = 0

    def take(self) -> uuid.UUID:
        i = self._next
        if i >= len(self._raw):
            return uuid.uuid4()
        self._next = i + 1
        return uuid.UUID(bytes=self._raw[i].tobytes())


@dataclass(slots=True)
class _Ep:
    """An episode an import row can link to: from the files or already in the database."""

    id: uuid.UUID
    patient_id: uuid.UUID
    mrn: str
    start: date | None
    ok: bool = True  # False: the file's row had problems (reported already)
    index: int = -1  # place in ImportPlan.episode_list
    row: int = 0  # its row in the episodes file (0: stored in the database)
    _floor: datetime | None = None

    @property
    def floor(self) -> datetime:
        """The earliest instant a session of this episode may have (its start day)."""
        if self._floor is None:
            self._floor = instant_floor(episode_start=self.start)
        return self._floor


@dataclass(slots=True)
class _Sess:
    id: uuid.UUID
    episode_id: uuid.UUID | None
    ok: bool = True
    row: int = 0
    patient_id: uuid.UUID | None = None  # None: a stored session (ask its episode)


@dataclass(slots=True)
class _Same:
    """A session or test row recognised as stored exactly as it is (``csv_signed``): its
    values need no check, its id and links are checked like any row's."""

    file: str
    row: int
    ref: str
    link: EpisodeLink
    at: Any  # the session's instant (UTC) or the test's day
    session_ref: str = ""


def _given_id(ref: str) -> uuid.UUID | None:
    """The record id a row comes with: its ref when that is a UUID, else ``None``."""
    if len(ref) != 36:  # the form Backstep exports; anything else is a label
        return None
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _uuids(text: str) -> list[uuid.UUID]:
    """``[UUID(text)]``, or ``[]`` when ``text`` is not a UUID (it then matches nothing)."""
    try:
        return [uuid.UUID(text)]
    except ValueError:
        return []


def _id_order(row: tuple[Any, ...]) -> int:
    return int(row[0].int)


class _Rows:
    """New rows of one kind and chunk as tuples in the order of ``bulk.COLUMNS[kind]``
    (``plan_repo.PLAN_COLUMNS[kind]`` for the plan of care)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.keys = COLUMNS[kind] if kind in COLUMNS else PLAN_COLUMNS[kind]
        self.rows: list[tuple[Any, ...]] = []
        self.skipped = 0  # rows already stored with the same content

    def add(self, id_: uuid.UUID, entered_in_error: bool, reason: str | None,
            *values: Any) -> None:
        self.rows.append((id_, entered_in_error, reason if entered_in_error else None,
                          *values))


_KINDS = ("patient", "episode", "session", "test")
_PLAN = ("goal", "prescription", "safety")  # goals, prescriptions, session checklists
_SLOT = {**{kind: i for i, kind in enumerate(_KINDS)}, **dict.fromkeys(_PLAN, len(_KINDS))}
"""Where a stored row is counted in ``ImportPlan.touched`` (the plan of care together)."""
_POLL_ROWS = 250  # rows formed between two looks at whether the database has answered


class ImportPlan:
    """Checks chunks of rows in file order against each other and the database; stores
    each chunk when ``store`` (see the module's docstring)."""

    def __init__(self, uow: UnitOfWork, problems: list[ImportProblem], *, store: bool,
                 new_ids: dict[str, int] | None = None, total: int = 0,
                 progress: ImportProgress | None = None, write_batch: int = 10_000) -> None:
        self.bulk = uow.bulk
        self.plan_repo = uow.plan
        self.problems = problems
        self.store = store
        self.progress = progress
        self.total, self.stored = total, 0
        self.write_batch = write_batch
        self.today = date.today()
        self.stamps = self.bulk.stamps() if store else {}
        counts = new_ids or {}
        self.ids = {k: _IdPool(counts.get(k, 0) if store else 0) for k in ("session", "test")}
        self.new_ids: dict[str, int] = defaultdict(int)  # rows that will need a new id
        self.new: dict[str, int] = dict.fromkeys((*_KINDS, *_PLAN), 0)
        self.skipped: dict[str, int] = dict.fromkeys((*_KINDS, *_PLAN), 0)
        self.rows = 0
        # patients: MRN -> (id, date of birth or None when the file's row had problems)
        self.by_mrn: dict[str, tuple[uuid.UUID, date | None]] = {}
        self.mrn_rows: dict[str, int] = {}  # MRN -> its first row in the patients file
        self.patient_refs = RefIndex()
        self.patient_labels: dict[str, int] = {}
        # episodes, from the files and the database, by ref and by (MRN, start date)
        self.episode_list: list[_Ep] = []
        self.episodes_by_ref: dict[str, _Ep] = {}
        self._by_key: dict[tuple[str, date], list[_Ep]] | None = None  # see episodes_by_key
        self.loaded_patients: set[uuid.UUID] = set()  # their stored episodes are known
        # sessions and tests of the files, by ref: RefIndex, or a dict for label refs
        self.session_refs = RefIndex()
        self.session_labels: dict[str, _Sess] = {}
        self.test_refs = RefIndex()
        self.test_labels: dict[str, int] = {}
        # patient id -> [patient, episodes, sessions, tests, plan records] stored (for the
        # audit events)
        self.touched: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        self.care: CarePlanImport | None = None  # the plan-of-care files' rows, once read

    def bad(self, file: str, row: int, column: str, message: str) -> None:
        self.problems.append(ImportProblem(file, row, column, message))

    def add(self, kind: str, rows: list[Any]) -> None:
        """Check (and when storing, store) one chunk of rows of ``kind`` (a file kind)."""
        self.rows += len(rows)
        if kind == "patients":
            self._patients(rows)
        elif kind == "episodes":
            self._episodes(rows)
        elif kind == "sessions":
            self._sessions(rows)
        elif kind == "tests":
            self._tests(rows)
        else:  # goals, prescriptions, session_safety: after the rows they link to
            if self.care is None:
                from clinic_app.services.plan_interop import CarePlanImport

                self.care = CarePlanImport(self)
            self.care.add(kind, rows)

    def release(self) -> None:
        """Drop the lookups a slice at a time (``csv_stream.drop``), letting other threads
        run in between: freeing a whole clinic's patients and episodes in one call holds the
        interpreter, and so a window waiting for it, for a fifth of a second."""
        self.session_refs = RefIndex()
        self.test_refs = RefIndex()
        self.care = None
        for lookup in (self.by_mrn, self.mrn_rows, self.episodes_by_ref, self.patient_labels,
                       self.session_labels, self.test_labels, self._by_key or {},
                       self.episode_list):
            drop(lookup)
        self._by_key = None

    def summary(self) -> ImportSummary:
        new, skipped = self.new, self.skipped
        return ImportSummary(new["patient"], new["episode"], new["session"], new["test"],
                             skipped["patient"], skipped["episode"], skipped["session"],
                             skipped["test"], goals=new["goal"],
                             prescriptions=new["prescription"], checklists=new["safety"],
                             skipped_plan=sum(skipped[k] for k in _PLAN))

    def audit_details(self, batch: int = 10_000,
                      ) -> Iterator[list[tuple[uuid.UUID, dict[str, int]]]]:
        """Per patient touched, what was stored (for the patients' audit events), in the
        order of the ids' text, ``batch`` patients at a time: a whole clinic's events at
        once took a hundred MB."""
        names = ("patient", "episode(s)", "session(s)", "test(s)", "plan record(s)")
        order = sorted(self.touched, key=str)
        for start in range(0, len(order), batch):
            yield [(pid, dict(zip(names, self.touched[pid], strict=True)))
                   for pid in order[start:start + batch]]

    # patients ---------------------------------------------------------------------------
    def _patients(self, rows: list[PatientIn]) -> None:
        taken = self.bulk.patient_ids([r.mrn for r in rows if r.mrn])
        keys = [RefIndex.key(r.ref) if r.ref else None for r in rows]
        earlier = self.patient_refs.find([k for k in keys if k is not None])
        seen = iter(earlier)
        first_ref: dict[str, int] = {}  # this chunk's refs
        new_keys: list[int] = []
        new_rows: list[int] = []
        t = _Rows("patient")
        given_ids: dict[uuid.UUID, tuple[str, int]] = {}
        for r, key in zip(rows, keys, strict=True):
            before = next(seen) if key is not None else None
            if r.mrn in self.mrn_rows:
                self.bad(r.file, r.row, "mrn", f"MRN {r.mrn} appears twice in the file "
                         f"(also row {self.mrn_rows[r.mrn]})")
                continue
            if r.mrn:
                self.mrn_rows[r.mrn] = r.row
            if r.ref:
                first = (before[0] if before else first_ref.get(r.ref)) if key is not None \
                    else self.patient_labels.get(r.ref)
                if first is not None:
                    self.bad(r.file, r.row, "patient_id", f"patient_id {r.ref} appears twice "
                             f"in the file (also row {first})")
                    continue
                if key is None:
                    self.patient_labels[r.ref] = r.row
                else:
                    first_ref[r.ref] = r.row
                    new_keys.append(key)
                    new_rows.append(r.row)
            given = _given_id(r.ref)
            owner = taken.get(r.mrn)
            if owner is not None and owner != given:
                self.bad(r.file, r.row, "mrn",
                         f"MRN {r.mrn} is already used by a patient in the database "
                         "(allowed: an MRN not yet in the database, or that patient's "
                         "patient_id)")
                continue
            pid = given or uuid.uuid4()
            if r.mrn:
                self.by_mrn[r.mrn] = (pid, r.draft.date_of_birth if r.draft else None)
            if r.draft is None:
                continue
            d = r.draft
            t.add(pid, r.entered_in_error, r.error_reason,
                  d.mrn, d.family_name, d.given_name, mapping.search_key(d.family_name),
                  mapping.search_key(d.given_name), d.date_of_birth, str(d.sex), d.phone,
                  d.email, d.notes)
            if given is not None:
                given_ids[given] = (r.file, r.row)
        self.patient_refs.add(new_keys, new_rows, [0] * len(new_keys))
        self._settle(t, given_ids, "patient_id", "patient", lambda row: row[0])

    def _known_patients(self, mrns: Iterable[str]) -> None:
        """Add database patients for the MRNs not defined by the file."""
        wanted = sorted({m for m in mrns if m and m not in self.by_mrn})
        for mrn, pid, dob in self.bulk.patients(wanted):
            self.by_mrn[mrn] = (pid, dob)

    # episodes ---------------------------------------------------------------------------
    def _remember(self, ep: _Ep) -> _Ep:
        ep.index = len(self.episode_list)
        self.episode_list.append(ep)
        return ep

    def _episodes(self, rows: list[EpisodeIn]) -> None:
        self._known_patients(r.mrn for r in rows)
        t = _Rows("episode")
        given_ids: dict[uuid.UUID, tuple[str, int]] = {}
        for r in rows:
            twin = self.episodes_by_ref.get(r.ref) if r.ref else None
            if twin is not None:  # only the files' episodes are known while they are read
                self.bad(r.file, r.row, "episode_id",
                         f"episode_id {r.ref} appears twice (also row {twin.row})")
                continue
            patient = self.by_mrn.get(r.mrn)
            if patient is None:
                if r.mrn:
                    self.bad(r.file, r.row, "mrn", f"no patient with MRN {r.mrn} in the file "
                             "or the database (allowed: a registered MRN)")
                continue
            pid, dob = patient
            given = _given_id(r.ref)
            eid = given or uuid.uuid4()
            ok = r.draft is not None and dob is not None
            if ok:
                assert r.draft is not None and dob is not None
                try:
                    validate_episode(r.draft, dob)
                except ValidationError as exc:
                    self.bad(r.file, r.row, _EPISODE_COLUMNS.get(exc.field, exc.field), str(exc))
                    ok = False
            ep = self._remember(_Ep(eid, pid, r.mrn, r.draft.start_date if r.draft else None,
                                    ok, row=r.row))
            if r.ref:
                self.episodes_by_ref[r.ref] = ep
            if ep.start is not None and self._by_key is not None:
                self._by_key[(r.mrn, ep.start)].append(ep)
            if not ok:
                continue
            assert r.draft is not None
            d = r.draft
            t.add(eid, r.entered_in_error, r.error_reason,
                  pid, str(d.diagnosis), str(d.affected_side), d.start_date, d.surgery_date,
                  d.end_date, d.referring_doctor, d.notes,
                  str(d.surgery_type) if d.surgery_type else None,
                  # An imported history names who treated then, perhaps someone without an
                  # account here: kept as written; empty means the importing user.
                  d.treating_therapist or self.bulk.actor)
            if given is not None:
                given_ids[given] = (r.file, r.row)
        self._settle(t, given_ids, "episode_id", "episode", lambda row: row[3])

    @property
    def episodes_by_key(self) -> dict[tuple[str, date], list[_Ep]]:
        """Episodes by (MRN, start date): the files' (with a start date), then the stored
        ones of the patients rows link to that way. Built when first needed: an export
        links by episode id only, and a million-row import need not hold this map."""
        if self._by_key is None:
            self._by_key = defaultdict(list)
            for ep in self.episode_list:
                if ep.row and ep.start is not None:
                    self._by_key[(ep.mrn, ep.start)].append(ep)
        return self._by_key

    def _known_episodes(self, links: Iterable[EpisodeLink]) -> None:
        """Add database episodes named by id, or by MRN + start date, to the lookups."""
        links = list(links)
        ids: set[uuid.UUID] = set()
        for link in links:
            if link.episode_ref and link.episode_ref not in self.episodes_by_ref:
                ids.update(_uuids(link.episode_ref))
        for eid, pid, mrn, start in self.bulk.episodes(sorted(ids, key=str)):
            self.episodes_by_ref[str(eid)] = self._remember(_Ep(eid, pid, mrn, start))
        by_key = [link for link in links if not link.episode_ref]
        if not by_key:
            return
        self._known_patients(link.mrn for link in by_key)
        pids = {self.by_mrn[link.mrn][0] for link in by_key if link.mrn in self.by_mrn}
        pids -= self.loaded_patients
        self.loaded_patients |= pids
        for eid, pid, mrn, start in self.bulk.valid_episodes_of(sorted(pids, key=str)):
            known = self.episodes_by_key[(mrn, start)]
            if all(ep.id != eid for ep in known):  # an episode of the files is stored already
                known.append(self._remember(_Ep(eid, pid, mrn, start)))

    def _episode_for(self, file: str, row: int, link: EpisodeLink) -> _Ep | None:
        """The episode a row links to, or None (a problem is reported unless already known)."""
        if link.episode_ref:
            ep = self.episodes_by_ref.get(link.episode_ref)
            if ep is None:
                self.bad(file, row, "episode_id", f"no episode {link.episode_ref} in the file "
                         "or the database (allowed: an episode_id from episodes.csv or the "
                         "database, or leave blank and give mrn + episode_start)")
                return None
            if link.mrn and ep.mrn != link.mrn:
                self.bad(file, row, "mrn", f"MRN {link.mrn} does not match episode "
                         f"{link.episode_ref}, which belongs to MRN {ep.mrn}")
                return None
            return ep
        if not link.mrn or link.episode_start is None:
            return None  # missing values were reported while reading
        if link.mrn not in self.by_mrn:
            self.bad(file, row, "mrn", f"no patient with MRN {link.mrn} in the file or the "
                     "database (allowed: a registered MRN)")
            return None
        candidates = self.episodes_by_key.get((link.mrn, link.episode_start), [])
        if not candidates:
            self.bad(file, row, "episode_start",
                     f"patient {link.mrn} has no episode of care starting "
                     f"{link.episode_start.isoformat()} (allowed: the start date of one of "
                     "the patient's episodes)")
            return None
        if len(candidates) > 1:
            self.bad(file, row, "episode_start",
                     f"patient {link.mrn} has {len(candidates)} episodes starting "
                     f"{link.episode_start.isoformat()}; give episode_id to choose one")
            return None
        return candidates[0]

    # sessions ---------------------------------------------------------------------------
    def _recognised(self, kind: str, chunk: Any) -> list[Any]:
        """The rows of a raw chunk (``csv_stream.RawChunk``): a :class:`_Same` for each row
        stored as it is, the others converted the careful way (their problems reported
        now, before any link of the chunk is checked, as for a converted chunk)."""
        from clinic_app.interop.csv_signed import NULL, SESSION_NAMES, TEST_NAMES

        ids = chunk.ids
        canonical = [i for i, ref in enumerate(ids) if _CANONICAL.fullmatch(ref)]
        pending = self.bulk.stored_signatures_soon(kind, [ids[i] for i in canonical],
                                                   in_snapshot=not self.store)
        forms: dict[int, Any] = {}
        form = chunk.form
        if pending.running():  # the database answers meanwhile: form rows until it has
            for n, i in enumerate(canonical):
                forms[i] = form(i)
                if not n % _POLL_ROWS and not pending.running():
                    break
        stored = pending.result()
        for i in canonical:  # only the rows stored by that id can be the same
            if ids[i] in stored:
                if i not in forms:
                    forms[i] = form(i)
            elif i in forms:
                del forms[i]
        at = [i for i, f in forms.items() if f is not None]
        same = self.bulk.same_as_stored(
            kind, SESSION_NAMES if kind == "session" else TEST_NAMES,
            [forms[i][6] for i in at], stored) if at else []
        out: list[Any] = [None] * len(chunk)
        links: dict[tuple[str, str, str], EpisodeLink] = {}  # shared, as the reader does
        file = chunk.file
        for i, hit in zip(at, same, strict=True):
            if not hit:
                continue
            number, ref, episode_ref, mrn, start, when, texts = forms[i]
            link = links.get((episode_ref, mrn, start))
            if link is None:
                link = links[(episode_ref, mrn, start)] = EpisodeLink(
                    episode_ref, mrn, date.fromisoformat(start) if start else None)
            session_ref = texts[2] if kind == "test" and texts[2] != NULL else ""
            out[i] = _Same(file, number, ref, link, when, session_ref)
        drop(forms)
        for i, row in enumerate(out):
            if row is None:
                out[i] = chunk.parsed(i)
        chunk.free()
        return out

    def _sessions(self, rows: Any) -> None:
        if not isinstance(rows, list):
            rows = self._recognised("session", rows)
        self._known_episodes(r.link for r in rows)
        keys = [RefIndex.key(r.ref) if r.ref else None for r in rows]
        seen = iter(self.session_refs.find([k for k in keys if k is not None]))
        first_ref: dict[str, int] = {}
        new_keys: list[int] = []
        new_rows: list[int] = []
        new_values: list[int] = []
        t = _Rows("session")
        append = t.rows.append  # what _Rows.add does, without a call a row
        given_ids: dict[uuid.UUID, tuple[str, int]] = {}
        episode_for = self._episode_for
        resolved: dict[int, _Ep] = {}  # rows share link objects: resolve each once
        take = self.ids["session"].take if self.store else None
        # The values in the order of the table's keys (mapping.SESSION_FIELDS), by construction.
        session_values = attrgetter(*mapping.SESSION_FIELDS)
        for r, key in zip(rows, keys, strict=True):
            before = next(seen) if key is not None else None
            if r.__class__ is _Same:  # stored as it is: its id and episode still checked
                first = before[0] if before else first_ref.get(r.ref)
                if first is not None:
                    self.bad(r.file, r.row, "session_id",
                             f"session_id {r.ref} appears twice (also row {first})")
                    continue
                ep = resolved.get(id(r.link))
                if ep is None:
                    ep = episode_for(r.file, r.row, r.link)
                    if ep is not None:
                        resolved[id(r.link)] = ep
                ok = ep is not None and ep.ok
                if ok and r.at < ep.floor:  # type: ignore[union-attr]
                    self._before_episode(r.file, r.row, r.at, ep)  # type: ignore[arg-type]
                    ok = False
                first_ref[r.ref] = r.row
                new_keys.append(key)  # type: ignore[arg-type]
                new_rows.append(r.row)
                new_values.append(((ep.index + 1) if ep else 0) * 2 + ok)
                t.skipped += ok
                continue
            given = None
            if r.ref:
                if key is not None:
                    first = before[0] if before else first_ref.get(r.ref)
                else:
                    label = self.session_labels.get(r.ref)
                    first = label.row if label else None
                if first is not None:
                    self.bad(r.file, r.row, "session_id",
                             f"session_id {r.ref} appears twice (also row {first})")
                    continue
                given = _given_id(r.ref)
            ep = resolved.get(id(r.link))
            if ep is None:
                ep = episode_for(r.file, r.row, r.link)
                if ep is not None:
                    resolved[id(r.link)] = ep
            if given is not None:
                sid = given
            else:
                self.new_ids["session"] += 1
                sid = take() if take is not None else _CHECKED
            d = r.draft
            ok = ep is not None and ep.ok and d is not None
            if ok and d.performed_at < ep.floor:  # type: ignore[union-attr]
                self._before_episode(r.file, r.row, d.performed_at, ep)  # type: ignore[arg-type]
                ok = False
            if r.ref:
                if key is not None:
                    first_ref[r.ref] = r.row
                    new_keys.append(key)
                    new_rows.append(r.row)
                    new_values.append(((ep.index + 1) if ep else 0) * 2 + ok)
                else:
                    self.session_labels[r.ref] = _Sess(sid, ep.id if ep else None, ok, r.row,
                                                       ep.patient_id if ep else None)
            if not ok:
                continue
            assert ep is not None and d is not None
            flagged = r.entered_in_error
            append((sid, flagged, r.error_reason if flagged else None,
                    ep.id, d.performed_at, str(d.mode), str(d.surface), str(d.assistance),
                    *session_values(d)))
            if given is not None:
                given_ids[given] = (r.file, r.row)
        self.session_refs.add(new_keys, new_rows, new_values)
        self._settle(t, given_ids, "session_id", "session", self._patient_of_episode(resolved))

    def _before_episode(self, file: str, row: int, when: datetime, ep: _Ep) -> None:
        """Report a session dated before its episode started (the domain words it)."""
        problem = instant_problem("Date/time", when, episode_start=ep.start)
        if problem is not None:
            self.bad(file, row, "performed_at", str(problem))

    @staticmethod
    def _patient_of_episode(eps: dict[int, _Ep]) -> Any:
        patient_of = {ep.id: ep.patient_id for ep in eps.values()}
        return lambda row: patient_of[row[3]]

    # tests ------------------------------------------------------------------------------
    def _tests(self, rows: Any) -> None:
        if not isinstance(rows, list):
            rows = self._recognised("test", rows)
        self._known_episodes(r.link for r in rows)
        sessions = self._sessions_named({r.session_ref for r in rows if r.session_ref})
        keys = [RefIndex.key(r.ref) if r.ref else None for r in rows]
        seen = iter(self.test_refs.find([k for k in keys if k is not None]))
        first_ref: dict[str, int] = {}
        new_keys: list[int] = []
        new_rows: list[int] = []
        take = self.ids["test"].take if self.store else None
        t = _Rows("test")
        given_ids: dict[uuid.UUID, tuple[str, int]] = {}
        patient_of: dict[uuid.UUID, uuid.UUID] = {}
        for r, key in zip(rows, keys, strict=True):
            before = next(seen) if key is not None else None
            if r.__class__ is _Same:
                self._same_test(r, key, before,  # type: ignore[arg-type]
                                first_ref, new_keys, new_rows, sessions, t)
                continue
            if r.ref:
                first = (before[0] if before else first_ref.get(r.ref)) if key is not None \
                    else self.test_labels.get(r.ref)
                if first is not None:
                    self.bad(r.file, r.row, "test_id",
                             f"test_id {r.ref} appears twice (also row {first})")
                    continue
                if key is None:
                    self.test_labels[r.ref] = r.row
                else:
                    first_ref[r.ref] = r.row
                    new_keys.append(key)
                    new_rows.append(r.row)
            given = _given_id(r.ref)
            ep = self._episode_for(r.file, r.row, r.link)
            ok = ep is not None and ep.ok and r.draft is not None and r.value is not None
            if ok and ep is not None and r.draft is not None:
                problem = day_problem("Performed on", r.draft.performed_on,
                                      episode_start=ep.start, today=self.today)
                if problem is not None:
                    self.bad(r.file, r.row, "performed_on", str(problem))
                    ok = False
            session_id = None
            if r.session_ref:
                linked, session_id = self._test_session(r.file, r.row, r.session_ref, ep,
                                                        sessions)
                ok = ok and linked
            if given is None:
                self.new_ids["test"] += 1
            if not ok:
                continue
            assert ep is not None and r.draft is not None and r.value is not None
            d = r.draft
            tid = given if given is not None else (take() if take is not None else _CHECKED)
            t.add(tid, r.entered_in_error, r.error_reason,
                  ep.id, session_id, d.measure_id, d.performed_on,
                  str(d.side) if d.side else None, r.value,
                  list(d.items) if d.items is not None else None, d.notes)
            patient_of[ep.id] = ep.patient_id
            if given is not None:
                given_ids[given] = (r.file, r.row)
        self.test_refs.add(new_keys, new_rows, [0] * len(new_keys))
        self._settle(t, given_ids, "test_id", "test", lambda row: patient_of[row[3]])

    def _same_test(self, r: _Same, key: int, before: tuple[int, int] | None,
                   first_ref: dict[str, int], new_keys: list[int], new_rows: list[int],
                   sessions: dict[str, _Sess], t: _Rows) -> None:
        """A test row stored as it is: its id, episode, day and session checked as in
        :meth:`_tests`, then counted as skipped."""
        first = before[0] if before else first_ref.get(r.ref)
        if first is not None:
            self.bad(r.file, r.row, "test_id", f"test_id {r.ref} appears twice (also row {first})")
            return
        first_ref[r.ref] = r.row
        new_keys.append(key)
        new_rows.append(r.row)
        ep = self._episode_for(r.file, r.row, r.link)
        if ep is None or not ep.ok:
            return
        day: date = r.at
        if day < EARLIEST_DAY or (ep.start is not None and day < ep.start):
            problem = day_problem("Performed on", day, episode_start=ep.start, today=self.today)
            if problem is not None:
                self.bad(r.file, r.row, "performed_on", str(problem))
                return
        if r.session_ref and not self._test_session(r.file, r.row, r.session_ref, ep,
                                                     sessions)[0]:
            return
        t.skipped += 1

    def _test_session(self, file: str, row: int, ref: str, ep: _Ep | None,
                      sessions: dict[str, _Sess]) -> tuple[bool, uuid.UUID | None]:
        """(whether it links, the session's id) for the session a test row names, reporting
        a session that is neither in the files nor stored, or of another episode."""
        sess = sessions.get(ref)
        if sess is None:
            self.bad(file, row, "session_id", f"no session {ref} in the file or the database "
                     "(allowed: a session_id from sessions.csv or the database, or blank)")
            return False, None
        if not sess.ok:
            return False, None
        if ep is not None and sess.episode_id != ep.id:
            self.bad(file, row, "session_id", f"session {ref} belongs to another episode of "
                     "care (allowed: a session of the same episode)")
            return False, None
        return True, sess.id

    def _sessions_named(self, refs: set[str]) -> dict[str, _Sess]:
        """The sessions these refs name: of the files, else stored in the database."""
        found: dict[str, _Sess] = {}
        canonical = [(ref, RefIndex.key(ref)) for ref in refs]
        keyed = [(ref, key) for ref, key in canonical if key is not None]
        hits = self.session_refs.find([key for _, key in keyed])
        for (ref, _), hit in zip(keyed, hits, strict=True):
            if hit is not None:
                index, ok = divmod(hit[1], 2)
                ep = self.episode_list[index - 1] if index else None
                found[ref] = _Sess(uuid.UUID(ref), ep.id if ep else None, bool(ok),
                                   patient_id=ep.patient_id if ep else None)
        for ref in refs:
            label = self.session_labels.get(ref)
            if label is not None and ref not in found:
                found[ref] = label
        ids: set[uuid.UUID] = set()
        for ref in refs - found.keys():
            ids.update(_uuids(ref))
        for sid, eid in self.bulk.session_episodes(sorted(ids, key=str)).items():
            found[str(sid)] = _Sess(sid, eid)
        return found

    # ids already stored, then the write -------------------------------------------------
    def _settle(self, t: _Rows, given: dict[uuid.UUID, tuple[str, int]], column: str,
                what: str, patient_of: Any) -> None:
        """Skip rows already stored as they are, report those stored with other content,
        count the rest and, when storing, write them.

        Only rows that came with their id can be stored already. The comparison is of the
        very values that would be inserted (stamps aside), read back by id in chunks.
        """
        chart = t.kind in COLUMNS
        read = self.bulk.stored if chart else self.plan_repo.stored_rows
        stored = read(t.kind, list(given)) if given else {}
        if stored:
            keep: list[tuple[Any, ...]] = []
            for row in t.rows:
                old = stored.get(row[0])
                if old is None:
                    keep.append(row)
                    continue
                if row[1:] == old:  # the common case, compared in one step
                    t.skipped += 1
                    continue
                differ = [k for k, a, b in zip(t.keys[1:], row[1:], old, strict=True)
                          if k not in _DERIVED and a != b]
                if not differ:
                    t.skipped += 1
                    continue
                file, number = given[row[0]]
                self.bad(file, number, column,
                         f"{column} {row[0]} is already stored with other values "
                         f"({', '.join(differ)} differ): a conflict (allowed: the stored "
                         f"{what} unchanged, or a new {column})")
            drop(stored)  # rows read back and rows skipped: freed in slices (see drop)
            drop(t.rows)
            t.rows = keep
        self.new[t.kind] += len(t.rows)
        self.skipped[t.kind] += t.skipped
        if not self.store or self.problems:
            drop(t.rows)
            return
        if given:  # ids from the file are random: insert in index order
            t.rows.sort(key=_id_order)
        slot = _SLOT[t.kind]
        touched = self.touched
        for row in t.rows:
            touched[patient_of(row)][slot] += 1
        insert = self.bulk.insert if chart else self.plan_repo.insert_rows
        for i in range(0, len(t.rows), self.write_batch):
            chunk = t.rows[i:i + self.write_batch]
            insert(t.kind, chunk, self.stamps)
            self.stored += len(chunk)
            del chunk  # the rows themselves go with t.rows, in slices
            if self.progress is not None:
                self.progress(ImportPhase.STORING, min(self.stored, self.total),
                              max(self.total, self.stored))
        drop(t.rows)
