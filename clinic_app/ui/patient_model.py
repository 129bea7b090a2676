"""Lazily fetched patient list model: pages of 200 queried off the GUI thread.

No proxy model and no full list in memory: the database does the searching and ordering
(``patient_list_page``/``count_patients``), the model holds only the pages scrolled to so
far. Each page is fetched by key (just after the last row loaded), never by OFFSET, so a page
deep in a million patients costs what the first one does; the count of matches stops at
:data:`COUNT_CAP` ("more than 10,000") and arrives on its own, never holding up the list.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from clinic_app.domain.records import Patient, PatientPage
from clinic_app.services.charting import ChartingService
from clinic_app.ui import ops

PAGE_SIZE = 200
COUNT_CAP = 10_000
"""Matches beyond this are not counted: the list says "more than 10,000" instead."""
COUNT_BUDGET_S = 0.025
"""A keystroke's count stops after this long (the list then says "at least" what it shows
and counts again, without a limit, in the background): with the page beside it, the
keystroke stays within 50 ms even where the words are common but rarely found together."""
COLUMNS = ("Name", "MRN", "Date of birth")
PatientRole = Qt.ItemDataRole.UserRole + 1
# Plain ints and one ready-made flag value: Qt asks data() and flags() for every visible
# cell and several roles each paint, and PySide6's enum lookups and flag arithmetic in
# there cost as much as the rest of the first page's paint.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_PATIENT = int(PatientRole)
_ROLES = frozenset((_DISPLAY, _TOOLTIP, _PATIENT))
_ROW_FLAGS = (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
              | Qt.ItemFlag.ItemNeverHasChildren)

AnyIndex = QModelIndex | QPersistentModelIndex


class PatientListModel(QAbstractTableModel):
    """Patients matching the current search text, fetched page by page.

    ``loaded(total)`` is emitted whenever a page arrived; ``total`` is the number of matches,
    or ``count_cap`` + 1 when there are more than ``count_cap`` (``count_capped``; by
    default :data:`COUNT_CAP`).
    """

    loaded = Signal(int)
    first_page_settled = Signal()
    """Once per model: the first page asked for has arrived or failed, current or not (the
    window holds back the rest of its start's database work until then)."""

    def __init__(self, charting: ChartingService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._svc = charting
        self._rows: list[Patient] = []
        self._total = 0
        self._text = ""
        self._generation = 0
        self._fetching = False
        self._counted = False  # whether ``_total`` is known for the current search
        self._late = False  # the count ran out of its budget and is being done again
        self._after: tuple[str, str, UUID] | None = None  # key the next page starts after
        self._exhausted = False  # the last page has arrived
        self.page_size = PAGE_SIZE
        self.count_cap = COUNT_CAP
        self._settled = False

    # --- Qt model API -------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if role not in _ROLES:
            return None
        row = index.row()
        if not index.isValid() or row >= len(self._rows):
            return None
        p = self._rows[row]
        if role == _DISPLAY:
            column = index.column()
            if column == 0:
                return p.display_name
            return p.draft.mrn if column == 1 else p.draft.date_of_birth.isoformat()
        if role == _TOOLTIP:
            return f"{p.display_name}\nMRN {p.draft.mrn}\nBorn {p.draft.date_of_birth.isoformat()}"
        return p

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _ROW_FLAGS

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and not self._fetching and not self._exhausted

    def fetchMore(self, parent: AnyIndex) -> None:
        if self.canFetchMore(parent):
            self._fetch_page()

    # --- searching ----------------------------------------------------------------
    @property
    def search_text(self) -> str:
        return self._text

    @property
    def total(self) -> int:
        """Number of patients matching the search (0 until the count has arrived);
        ``count_cap`` + 1 stands for "more than ``count_cap``"."""
        return self._total

    @property
    def count_capped(self) -> bool:
        """Whether there are more matches than were counted (more than ``count_cap``)."""
        return self._counted and not self._exhausted and self._total > self.count_cap

    @property
    def count_pending(self) -> bool:
        """Whether the count ran out of its time budget and is still coming (the matches
        are then at least the rows loaded)."""
        return self._late and not self._counted

    @property
    def busy(self) -> bool:
        return self._fetching

    def set_search(self, text: str) -> None:
        """Start over with ``text``: empty the list, count matches and load the first page."""
        self._text = text.strip()
        self.refresh()

    def refresh(self) -> None:
        """Reload from the first page (after a save or bulk change).

        The first page and the count of matches are two queries run side by side: the page
        shows as soon as it arrives; the count reads at most ``count_cap`` + 1 matches.
        ``loaded`` is emitted once both are known.
        """
        self._generation += 1
        self._fetching = True  # before the reset: views may ask canFetchMore during it
        self.beginResetModel()
        self._rows = []
        self._total = 0
        self._counted = False
        self._late = False
        self._after = None
        self._exhausted = False
        self.endResetModel()
        gen, text, svc, limit = self._generation, self._text, self._svc, self.page_size
        ops.run_op(None, lambda: svc.patient_list_page(text, None, limit),
                   lambda page: self._first_page(gen, page), self._failed_for(gen, first=True))
        cap = self.count_cap + 1
        ops.run_op(None, lambda: svc.count_patients_within(text, cap, COUNT_BUDGET_S),
                   lambda n: self._count(gen, n), self._failed_for(gen))

    def _current(self, gen: int) -> bool:
        """A reply still wanted: same search, and the model not deleted meanwhile (a refresh
        started by another workstation's save may land as the window closes)."""
        return gen == self._generation and shiboken6.isValid(self)

    def _first_page(self, gen: int, page: PatientPage) -> None:
        if self._current(gen):
            self._append(page)
        self._settle()

    def _settle(self) -> None:
        if not self._settled and shiboken6.isValid(self):
            self._settled = True
            self.first_page_settled.emit()

    def _count(self, gen: int, total: int | None) -> None:
        if not self._current(gen) or self._counted:
            return
        if total is None:  # out of time: count again, without a budget, behind the list
            self._late = True
            text, svc, cap = self._text, self._svc, self.count_cap + 1
            ops.run_op(None, lambda: svc.count_patients(text, cap=cap),
                       lambda n: self._count(gen, n), self._failed_for(gen))
            if not self._fetching:
                self.loaded.emit(len(self._rows))
            return
        self._counted = True
        self._total = total if total > self.count_cap else max(total, len(self._rows))
        if not self._fetching:  # the first page is in: tell the view how many there are
            self.loaded.emit(self._total)

    def _fetch_page(self) -> None:
        gen, text, svc = self._generation, self._text, self._svc
        after, limit = self._after, self.page_size
        self._fetching = True
        ops.run_op(None, lambda: svc.patient_list_page(text, after, limit),
                   lambda page: self._next_page(gen, page), self._failed_for(gen))

    def _next_page(self, gen: int, page: PatientPage) -> None:
        if not self._current(gen):
            return
        self._append(page)

    def _append(self, page: PatientPage) -> None:
        rows = page.patients
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self._after = page.next_after
        self._exhausted = page.next_after is None
        if self._exhausted:  # every match is loaded: the rows are the count (no cap needed)
            self._counted, self._total = True, len(self._rows)
        # Only now: listeners of rowsInserted may call fetchMore, which must see the new rows.
        self._fetching = False
        if self._counted:
            self.loaded.emit(self._total)
        elif self._late:
            self.loaded.emit(len(self._rows))

    def _failed_for(self, gen: int, first: bool = False):  # type: ignore[no-untyped-def]
        def failed(exc: BaseException) -> bool:
            if gen == self._generation:
                self._fetching = False
            if first:
                self._settle()
            return False  # let ops show it

        return failed

    # --- lookups --------------------------------------------------------------------
    def patient_at(self, row: int) -> Patient | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, patient_id: UUID) -> int | None:
        for i, p in enumerate(self._rows):
            if p.id == patient_id:
                return i
        return None

    def update_patient(self, patient: Patient) -> bool:
        """Replace a loaded patient in place (after an edit); ``False`` if not loaded."""
        row = self.row_of(patient.id)
        if row is None:
            return False
        self._rows[row] = patient
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        return True
