"""Table model of an episode's retro-walking sessions (entries in error struck through)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from clinic_app.domain.measures import MEASURES
from clinic_app.domain.records import Side, TestResult, WalkSession
from clinic_app.domain.session_params import CHOICE_LABELS, ms_to_kmh

AnyIndex = QModelIndex | QPersistentModelIndex
SessionRole = Qt.ItemDataRole.UserRole + 1

# (header, alignment right?) - headers carry their units.
COLUMNS: tuple[tuple[str, bool], ...] = (
    ("Date", False), ("Mode", False), ("Speed\nkm/h", True), ("Speed\nm/s", True),
    ("Duration\nmin", True), ("Distance\nm", True), ("Incline\n%", True),
    ("Assistance", False), ("Pain\nbefore", True), ("Pain\nafter", True), ("RPE\nCR10", True),
    ("HR\nbpm", True), ("Tests done", False),
)
TESTS_COLUMN = len(COLUMNS) - 1
ERROR_GREY = QColor("#8a8a8a")


def _num(value: float | None, decimals: int = 3) -> str:
    """``value`` with up to ``decimals`` decimals and no trailing zeros.

    The table shows what was entered (12.5 min, 1.55 km/h), not a fixed rounding of it;
    the limit only hides the float noise of a unit conversion (1.55 km/h = 0.430555... m/s).
    """
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def tests_text(tests: Iterable[TestResult]) -> str:
    """Short list of the tests done, e.g. ``3MBWT 5.2 s, Knee flexion L 110°``."""
    parts = []
    for t in tests:
        m = MEASURES.get(t.draft.measure_id)
        if m is None:
            continue
        side = f" {Side(t.draft.side).value[0].upper()}" if t.draft.side else ""
        parts.append(f"{m.short_name}{side} {m.format_value(t.value)}")
    return ", ".join(parts)


class SessionTableModel(QAbstractTableModel):
    """Sessions of one episode, oldest first; optionally with entries marked in error."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all: list[WalkSession] = []
        self._rows: list[WalkSession] = []
        self._tests: dict[UUID, list[TestResult]] = {}
        self._show_errors = False
        self._home: frozenset[UUID] = frozenset()

    def set_home(self, session_ids: Iterable[UUID]) -> None:
        """Mark the sessions the patient reported from home (their mode reads "… (home)")."""
        home = frozenset(session_ids)
        if home != self._home:
            self._home = home
            if self._rows:
                self.dataChanged.emit(self.index(0, 1), self.index(len(self._rows) - 1, 1))

    def set_sessions(self, sessions: Iterable[WalkSession], tests: Iterable[TestResult]) -> None:
        self.beginResetModel()
        self._all = list(sessions)
        self._tests = {}
        for t in tests:
            if t.draft.session_id is not None and not t.stamp.entered_in_error:
                self._tests.setdefault(t.draft.session_id, []).append(t)
        self._rows = self._visible()
        self.endResetModel()

    def set_show_errors(self, show: bool) -> None:
        self.beginResetModel()
        self._show_errors = show
        self._rows = self._visible()
        self.endResetModel()

    def _visible(self) -> list[WalkSession]:
        return [s for s in self._all if self._show_errors or not s.stamp.entered_in_error]

    def session_at(self, row: int) -> WalkSession | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def tests_for(self, session_id: UUID) -> list[TestResult]:
        return list(self._tests.get(session_id, []))

    def row_of(self, session_id: UUID) -> int | None:
        return next((i for i, s in enumerate(self._rows) if s.id == session_id), None)

    # --- Qt model API -------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][0].replace("\n", " (") + (")" if "\n" in COLUMNS[section][0]
                                                              else "")
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        s = self._rows[index.row()]
        col = index.column()
        in_error = s.stamp.entered_in_error
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, col)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            right = COLUMNS[col][1]
            h = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
            return int(h | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and in_error:
            font = QFont()
            font.setStrikeOut(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and in_error:
            return QBrush(ERROR_GREY)
        if role == Qt.ItemDataRole.ToolTipRole:
            if in_error:
                return (f"Entered in error by {s.stamp.updated_by}: "
                        f"{s.stamp.error_reason or 'no reason given'}")
            if col == TESTS_COLUMN:
                return tests_text(self._tests.get(s.id, [])).replace(", ", "\n") or None
            if s.id in self._home and col == 1:
                return "Home session: self-reported by the patient"
            if s.draft.adverse_events:
                return f"Adverse events: {s.draft.adverse_events}"
            return None
        if role == SessionRole:
            return s
        return None

    def _display(self, s: WalkSession, col: int) -> str:
        d = s.draft
        speed = d.speed_m_s
        values = (
            d.performed_at.astimezone().strftime("%Y-%m-%d %H:%M"),  # local time
            CHOICE_LABELS["mode"].get(str(d.mode), str(d.mode))  # type: ignore[call-overload]
            + (" (home)" if s.id in self._home else ""),
            "" if speed is None else _num(ms_to_kmh(speed)),
            _num(speed),
            _num(d.duration_min),
            _num(d.distance_m),
            _num(d.incline_pct),
            CHOICE_LABELS["assistance"].get(str(d.assistance), str(d.assistance)),  # type: ignore[call-overload]
            _num(d.pain_before),
            _num(d.pain_after),
            _num(d.rpe),
            _num(d.heart_rate),
            tests_text(self._tests.get(s.id, [])),
        )
        return values[col]
