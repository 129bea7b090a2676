"""Lazily fetched patient list model: pages of 200 queried off the GUI thread.

No proxy model and no full list in memory: the database does the searching and ordering
(``search_patients``/``count_patients``), the model holds only the pages scrolled to so far,
so it stays responsive with 100,000 patients.
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

from clinic_app.domain.records import Patient
from clinic_app.services.charting import ChartingService
from clinic_app.ui import ops

PAGE_SIZE = 200
COLUMNS = ("Name", "MRN", "Date of birth")
PatientRole = Qt.ItemDataRole.UserRole + 1

AnyIndex = QModelIndex | QPersistentModelIndex


class PatientListModel(QAbstractTableModel):
    """Patients matching the current search text, fetched page by page.

    ``loaded(total)`` is emitted whenever a page arrived; ``total`` is the number of matches.
    """

    loaded = Signal(int)

    def __init__(self, charting: ChartingService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._svc = charting
        self._rows: list[Patient] = []
        self._total = 0
        self._text = ""
        self._generation = 0
        self._fetching = False
        self._counted = False  # whether ``_total`` is known for the current search
        self.page_size = PAGE_SIZE

    # --- Qt model API -------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        p = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (p.display_name, p.draft.mrn, p.draft.date_of_birth.isoformat())[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{p.display_name}\nMRN {p.draft.mrn}\nBorn {p.draft.date_of_birth.isoformat()}"
        if role == PatientRole:
            return p
        return None

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
        f = Qt.ItemFlag
        return f.ItemIsEnabled | f.ItemIsSelectable | f.ItemNeverHasChildren

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and not self._fetching and len(self._rows) < self._total

    def fetchMore(self, parent: AnyIndex) -> None:
        if self.canFetchMore(parent):
            self._fetch_page()

    # --- searching ----------------------------------------------------------------
    @property
    def search_text(self) -> str:
        return self._text

    @property
    def total(self) -> int:
        """Number of patients matching the search (0 until the count has arrived)."""
        return self._total

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
        shows as soon as it arrives (counting 100,000 patients takes longer than reading 200
        of them); ``loaded`` is emitted once both are known.
        """
        self._generation += 1
        self._fetching = True  # before the reset: views may ask canFetchMore during it
        self.beginResetModel()
        self._rows = []
        self._total = 0
        self._counted = False
        self.endResetModel()
        gen, text, svc, limit = self._generation, self._text, self._svc, self.page_size
        ops.run_op(None, lambda: svc.search_patients(text, 0, limit),
                   lambda rows: self._first_page(gen, rows), self._failed_for(gen))
        ops.run_op(None, lambda: svc.count_patients(text), lambda n: self._count(gen, n),
                   self._failed_for(gen))

    def _current(self, gen: int) -> bool:
        """A reply still wanted: same search, and the model not deleted meanwhile (a refresh
        started by another workstation's save may land as the window closes)."""
        return gen == self._generation and shiboken6.isValid(self)

    def _first_page(self, gen: int, rows: list[Patient]) -> None:
        if not self._current(gen):
            return
        if len(rows) < self.page_size:  # the whole result: no count needed to page on
            self._counted, self._total = True, len(rows)
        self._append(rows)

    def _count(self, gen: int, total: int) -> None:
        if not self._current(gen) or self._counted:
            return
        self._counted = True
        self._total = max(total, len(self._rows))
        if not self._fetching:  # the first page is in: tell the view how many there are
            self.loaded.emit(self._total)

    def _fetch_page(self) -> None:
        gen, text, svc = self._generation, self._text, self._svc
        offset, limit = len(self._rows), self.page_size
        self._fetching = True
        ops.run_op(None, lambda: svc.search_patients(text, offset, limit),
                   lambda rows: self._next_page(gen, rows), self._failed_for(gen))  # fmt: skip

    def _next_page(self, gen: int, rows: list[Patient]) -> None:
        if not self._current(gen):
            return
        if not rows:  # fewer matches than counted (deleted meanwhile): stop fetching
            self._total = len(self._rows)
        self._append(rows)

    def _append(self, rows: list[Patient]) -> None:
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        # Only now: listeners of rowsInserted may call fetchMore, which must see the new rows.
        self._fetching = False
        if self._counted:
            self.loaded.emit(self._total)

    def _failed_for(self, gen: int):  # type: ignore[no-untyped-def]
        def failed(exc: BaseException) -> bool:
            if gen == self._generation:
                self._fetching = False
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
