"""What an import or export reads, reports and refuses: the rows the CSV reader builds, the
problems it finds, the phases it reports, and the summaries the use cases return.

The CSV reader (``clinic_app.interop.csv_io``) builds an :class:`ImportBatch` without the
database; the import use case (``clinic_app.services.interop``) links and stores it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from clinic_app.domain.errors import DomainError
from clinic_app.domain.plan_of_care import GoalDraft, PrescriptionDraft, SafetyDraft
from clinic_app.domain.records import (
    EpisodeDraft,
    PatientDraft,
    TestResultDraft,
    WalkSessionDraft,
)

PLAN_KINDS = ("goals", "prescriptions", "session_safety")
"""The plan-of-care files of a CSV export, beside the four chart files."""

# --- results and errors ---------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    path: Path
    patients: int
    episodes: int
    sessions: int
    tests: int


@dataclass(frozen=True)
class ImportSummary:
    """How many records an import stored, and how many it skipped as already stored."""

    patients: int = 0
    episodes: int = 0
    sessions: int = 0
    tests: int = 0
    skipped_patients: int = 0
    skipped_episodes: int = 0
    skipped_sessions: int = 0
    skipped_tests: int = 0
    goals: int = 0
    prescriptions: int = 0
    checklists: int = 0  # session safety rows (checklist, home session, dose override)
    skipped_plan: int = 0  # plan-of-care rows already stored

    @property
    def total(self) -> int:
        """Records stored."""
        return (self.patients + self.episodes + self.sessions + self.tests + self.goals
                + self.prescriptions + self.checklists)

    @property
    def skipped(self) -> int:
        """Rows skipped because a record with their id and content is already stored."""
        return (self.skipped_patients + self.skipped_episodes + self.skipped_sessions
                + self.skipped_tests + self.skipped_plan)


class ImportProblem(NamedTuple):
    """One thing wrong with an import file.

    ``row`` is the spreadsheet row (the header is row 1, the first record row 2; a quoted
    value spanning lines still counts as one row); ``row`` 0 means the file as a whole.
    ``field`` is the CSV column name; ``message`` says what is wrong and what is allowed.
    """

    file: str
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} row {self.row}" if self.row else self.file
        return f"{where}, column {self.field}: {self.message}"


class ImportRejected(DomainError):
    """The import was refused and nothing was stored; ``problems`` lists every problem."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.row, p.field))
        rows = {(p.file, p.row) for p in self.problems}
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"Nothing was imported: {len(self.problems)} problem(s) in {len(rows)} row(s). "
            f"Correct them and import the file again.\n{lines}"
        )


# --- parsed input (built by clinic_app.interop.csv_io) ------------------------------


@dataclass
class PatientIn:
    """A patient row; ``draft`` is None when the row had problems (reported already).

    ``ref`` is the file's patient_id (blank when the file has none)."""

    file: str
    row: int
    mrn: str
    draft: PatientDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None
    ref: str = ""


@dataclass
class EpisodeIn:
    """An episode row, linked to its patient by MRN; ``ref`` is the file's episode_id."""

    file: str
    row: int
    ref: str
    mrn: str
    draft: EpisodeDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class EpisodeLink:
    """How a session or test row names its episode: ``episode_ref``, else MRN + start date."""

    episode_ref: str = ""
    mrn: str = ""
    episode_start: date | None = None


@dataclass
class SessionIn:
    file: str
    row: int
    ref: str
    link: EpisodeLink
    draft: WalkSessionDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class TestIn:
    """A test row; ``value`` is the validated, scored value to store."""

    __test__ = False  # not a pytest test class

    file: str
    row: int
    link: EpisodeLink
    session_ref: str
    draft: TestResultDraft | None
    value: float | None
    entered_in_error: bool = False
    error_reason: str | None = None
    ref: str = ""  # the file's test_id


@dataclass
class GoalIn:
    """A goals.csv row, linked to its episode; ``draft`` None when it had problems."""

    file: str
    row: int
    ref: str
    link: EpisodeLink
    draft: GoalDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class PrescriptionIn:
    """A prescriptions.csv row, linked to its episode."""

    file: str
    row: int
    ref: str
    link: EpisodeLink
    draft: PrescriptionDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class SafetyIn:
    """A session_safety.csv row (checklist, home session, dose override) of a session."""

    file: str
    row: int
    ref: str
    session_ref: str
    draft: SafetyDraft | None
    entered_in_error: bool = False
    error_reason: str | None = None


@dataclass
class ImportBatch:
    """Everything read from the import file(s), plus the problems found while reading."""

    patients: list[PatientIn] = field(default_factory=list)
    episodes: list[EpisodeIn] = field(default_factory=list)
    sessions: list[SessionIn] = field(default_factory=list)
    tests: list[TestIn] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    source: str = ""
    goals: list[GoalIn] = field(default_factory=list)
    prescriptions: list[PrescriptionIn] = field(default_factory=list)
    safety: list[SafetyIn] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return (len(self.patients) + len(self.episodes) + len(self.sessions) + len(self.tests)
                + len(self.goals) + len(self.prescriptions) + len(self.safety))


class ImportPhase(StrEnum):
    """The steps of an import, in the order ``progress`` reports them."""

    CHECKING = "checking"
    """Reading the file(s) and checking every row, its links, duplicates and the ids
    already stored, chunk by chunk; ``done``/``total`` are bytes read."""
    LINKING = "linking"
    """Links and duplicates checked (they are, with each chunk of rows while checking):
    reported once the files are read; ``done``/``total`` are rows."""
    STORING = "storing"
    """Every check passed; the files are read again and their new rows written;
    ``done``/``total`` are rows written of those to write."""

    @property
    def label(self) -> str:
        """What a progress display calls this step."""
        return _PHASE_LABELS[self]


_PHASE_LABELS = {ImportPhase.CHECKING: "Checking rows", ImportPhase.LINKING: "Checking links",
                 ImportPhase.STORING: "Storing rows"}


ImportProgress = Callable[[ImportPhase, int, int], None]
"""``progress(phase, done, total)``: called when a phase starts (``done`` 0), regularly
while it runs and when it ends (``done == total``); see :class:`ImportPhase` for the units.
Runs in the importing thread: a GUI must hand it to its own thread."""

ReadProgress = Callable[[int, int], None]
"""``progress(done, total)`` of a reader, in bytes of the file(s) read."""


_TURN_EVERY = 0.04  # seconds a long job runs before it lets another thread in
_last_turn = [0.0]


def give_way() -> None:
    """Sleep a millisecond when a long job (an import) has run 40 ms since it last did.

    Other threads, a window's among them, get the interpreter when the job asks for it at
    a switch or gives it up. The job gives it up at every file read and every SQLite row
    it fetches, and takes it back at once, before a waiting thread has woken; each such
    turn also cancels the waiting thread's request to switch, so it could wait a fifth of
    a second. A real sleep lets the waiting thread in.
    """
    now = time.perf_counter()
    if now - _last_turn[0] >= _TURN_EVERY:
        time.sleep(0.001)
        _last_turn[0] = time.perf_counter()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic objects are made.

    Its collections scan every live object and cost a large import about a third of its
    time while freeing nothing; reference counting still frees memory as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
