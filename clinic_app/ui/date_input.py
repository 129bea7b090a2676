"""Typed date and date-time fields used by every dialog.

``QDateEdit`` fights a person who types: an empty ("special value") field keeps its placeholder
text under the caret, sections swallow separators, and the calendar opens wherever the minimum
date happens to be. :class:`DateInput` is a plain line edit instead. It takes what people type
(ISO ``1988-03-14`` or the system locale's short format, ``14/03/1988`` / ``14.03.88``), shows
"Not set" when empty, offers a calendar popup (button, F4 or Alt+Down) that opens on a page that
makes sense for the field, and reports junk as a ``ValidationError`` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time

from PySide6.QtCore import QDate, QLocale, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QCalendarWidget, QFrame, QLineEdit, QVBoxLayout, QWidget

from clinic_app.domain.errors import ValidationError

ISO_DATE = "yyyy-MM-dd"
ISO_DATETIME = "yyyy-MM-dd HH:mm"
_SPACES = str.maketrans({"\u202f": " ", "\xa0": " "})


def today() -> date:
    return date.today()


def years_ago(years: int) -> Callable[[], date]:
    """A calendar page ``years`` before today (e.g. a typical birth year)."""
    def page() -> date:
        t = date.today()
        return t.replace(year=t.year - years, day=min(t.day, 28))

    return page


def _loose(fmt: str) -> str:
    """``fmt`` accepting one or two digits for day and month (``dd`` -> ``d``, ``MM`` -> ``M``);
    Qt's single-letter sections still take a leading zero."""
    fmt = re.sub(r"(?<!d)dd(?!d)", "d", fmt)
    return re.sub(r"(?<!M)MM(?!M)", "M", fmt)


def date_formats(locale: QLocale | None = None) -> list[str]:
    """The Qt formats a typed date is tried against: ISO first, then the locale's short format
    (with a four-digit year first, so ``14.03.1988`` works where the locale prints ``yy``)."""
    short = (locale or QLocale()).dateFormat(QLocale.FormatType.ShortFormat).translate(_SPACES)
    out = ["yyyy-M-d", "yyyyMMdd"]
    if "yyyy" not in short and "yy" in short:
        out.append(_loose(short.replace("yy", "yyyy")))
    out.append(_loose(short))
    return list(dict.fromkeys(out))


def format_hint(locale: QLocale | None = None) -> str:
    """What the user may type, e.g. ``yyyy-mm-dd or dd/mm/yyyy``."""
    short = (locale or QLocale()).dateFormat(QLocale.FormatType.ShortFormat).translate(_SPACES)
    if "yyyy" not in short:
        short = short.replace("yy", "yyyy")
    local = short.replace("M", "m")
    return "yyyy-mm-dd" if local == "yyyy-mm-dd" else f"yyyy-mm-dd or {local}"


def example(d: date, locale: QLocale | None = None) -> str:
    """``d`` written both ways the fields accept (for messages)."""
    loc = locale or QLocale()
    short = loc.dateFormat(QLocale.FormatType.ShortFormat).translate(_SPACES)
    if "yyyy" not in short:
        short = short.replace("yy", "yyyy")
    local = loc.toString(QDate(d.year, d.month, d.day), short)
    iso = d.isoformat()
    return iso if local == iso else f"{iso} or {local}"


def parse_date(
    text: str, near: date | None = None, locale: QLocale | None = None,
    latest: date | None = None,
) -> date | None:
    """The date ``text`` means, or ``None`` if it is not one.

    A two-digit year (``14.03.88``) is put in the century that brings it closest to ``near``
    (today by default) without passing ``latest``, so a birth date and a visit date typed the
    same way both come out right.
    """
    raw = text.strip().translate(_SPACES)
    if not raw:
        return None
    loc = locale or QLocale()
    ref = near or date.today()
    for fmt in date_formats(loc):
        if "yyyy" in fmt:
            q = loc.toDate(raw, fmt)
        else:  # two-digit year: read it into the century centred on ``ref``
            q = loc.toDate(raw, fmt, ref.year - 50)
            if q.isValid() and latest is not None and date(q.year(), q.month(), q.day()) > latest:
                q = loc.toDate(raw, fmt, ref.year - 150)  # the same day a century earlier
        if q.isValid():
            return date(q.year(), q.month(), q.day())
    return None


def parse_time(text: str, locale: QLocale | None = None) -> time | None:
    """A typed time of day (``14:30``, ``9:05``, or the locale's short format)."""
    raw = text.strip().translate(_SPACES)
    if not raw:
        return None
    loc = locale or QLocale()
    short = loc.timeFormat(QLocale.FormatType.ShortFormat).translate(_SPACES)
    for fmt in ("H:mm", "H.mm", "Hmm", short.replace("hh", "h").replace("HH", "H")):
        q = loc.toTime(raw, fmt)
        if not q.isValid() and "ap" in fmt.lower():
            q = loc.toTime(raw.upper(), fmt)
        if q.isValid():
            return time(q.hour(), q.minute())
    return None


def parse_datetime(
    text: str, near: date | None = None, locale: QLocale | None = None,
    latest: date | None = None,
) -> datetime | None:
    """A typed date and time (``2026-11-27 09:15``, ``27/11/2026 09:15``, ``27.11.26 9:15``)."""
    raw = text.strip().translate(_SPACES)
    if not raw:
        return None
    raw = re.sub(r"^(\d{4}-\d{1,2}-\d{1,2})T", r"\1 ", raw)
    # The date part may itself contain spaces (some locales): try every split point.
    for m in re.finditer(r"\s+", raw):
        d = parse_date(raw[: m.start()], near, locale, latest)
        t = parse_time(raw[m.end():], locale) if d is not None else None
        if d is not None and t is not None:
            return datetime.combine(d, t)
    return None


def _calendar_icon() -> QIcon:
    """A small drawn calendar glyph (no icon theme is guaranteed on the clinics' desktops)."""
    pix = QPixmap(16, 16)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setPen(QColor("#455a64"))
    p.setBrush(QColor("#ffffff"))
    p.drawRect(QRect(1, 2, 13, 12))
    p.fillRect(QRect(2, 3, 12, 3), QColor("#455a64"))
    for row in (8, 11):
        for col in (4, 7, 10):
            p.fillRect(QRect(col, row, 2, 2), QColor("#455a64"))
    p.end()
    return QIcon(pix)


class _CalendarPopup(QFrame):
    """The calendar under a field; picking a day (click or Enter) fills the field."""

    picked = Signal(QDate)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.calendar = QCalendarWidget(objectName="datePopupCalendar")
        self.calendar.setGridVisible(True)
        self.calendar.setVerticalHeaderFormat(
            QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(self.calendar)
        self.calendar.activated.connect(self._pick)
        self.calendar.clicked.connect(self._pick)

    def _pick(self, q: QDate) -> None:
        self.picked.emit(q)
        self.close()


UNREADABLE_STYLE = "QLineEdit { border: 1px solid #c62828; background: #fdecea; }"


class DateInput(QLineEdit):
    """A date typed as ISO or in the locale's short format; blank means "not set".

    ``label`` is the field's name in messages and for screen readers; ``page`` gives the date
    the calendar opens on while the field is empty (today unless said otherwise) and the
    century a two-digit year falls into; ``past_only`` keeps a two-digit year out of the
    future (birth dates); ``required`` makes a blank field an error.
    """

    value_changed = Signal()  # the date the text stands for changed (or became unreadable)
    KIND = "date"

    def __init__(
        self, label: str, object_name: str, *, page: Callable[[], date] = today,
        past_only: bool = False, required: bool = False, parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.label = label
        self.required = required
        self._page = page
        self._past_only = past_only
        self._last: object = None
        self._popup: _CalendarPopup | None = None
        self.unreadable = False  # left with text that is not a date (marked red)
        self.setAccessibleName(label)
        self.calendar_action = QAction(_calendar_icon(), f"Choose {label.lower()} on a calendar",
                                       self)
        self.calendar_action.triggered.connect(self.show_calendar)
        self.addAction(self.calendar_action, QLineEdit.ActionPosition.TrailingPosition)
        self.textChanged.connect(self._text_changed)
        self.editingFinished.connect(self._normalise)
        self.refresh_hint()

    # --- what the user sees -----------------------------------------------------------
    def hint(self) -> str:
        return format_hint()

    def refresh_hint(self) -> None:
        """Placeholder, tooltip and width for the current locale."""
        hint = self.hint()
        self.setPlaceholderText(f"Not set ({hint})")
        tip = f"{self.label}: type {hint}; F4 or Alt+Down opens a calendar"
        self.setToolTip(tip)
        self.setAccessibleDescription(tip)
        fm = self.fontMetrics()
        self.setMinimumWidth(fm.horizontalAdvance(self.placeholderText()) + 48)

    def _format(self, value: object) -> str:
        assert isinstance(value, date)
        return value.isoformat()

    def _latest(self) -> date | None:
        return date.today() if self._past_only else None

    def _parse(self, text: str) -> object:
        return parse_date(text, self._page(), latest=self._latest())

    def _normalise(self) -> None:
        """After typing, show what was understood, unambiguously (``14.03.88`` -> 1988-03-14).

        Text that is not a date is marked at once, not only at Save: left as typed it would
        look accepted (``14/03/1981`` where the system writes dates month first).
        """
        value = self._parse(self.text())
        if value is not None:
            shown = self._format(value)
            if shown != self.text():
                self.setText(shown)
        elif not self.is_blank():
            self.setToolTip(f"{self.label}: {self.text().strip()!r} is not a {self.KIND}; "
                            f"type {self.hint()}")
            if not self.unreadable:
                self.unreadable = True
                self.setProperty("invalid", True)
                self.setStyleSheet(UNREADABLE_STYLE)
                self.value_changed.emit()

    def _text_changed(self, text: str) -> None:
        value = self._parse(text) if text.strip() else None
        bad = bool(text.strip()) and value is None
        if self.unreadable and not bad:
            self.unreadable = False
            self.setProperty("invalid", False)
            self.setStyleSheet("")
            self.refresh_hint()
        key = ("bad", text) if bad else value
        if key != self._last:
            self._last = key
            self.value_changed.emit()

    # --- values ----------------------------------------------------------------------
    def allowed(self) -> str:
        """The accepted forms, as a ``ValidationError.allowed`` text."""
        return f"a date such as {example(self._page())}"

    def peek(self) -> object:
        """The value typed, or ``None`` while blank or unreadable (never raises)."""
        return self._parse(self.text())

    def is_blank(self) -> bool:
        return not self.text().strip()

    def value(self) -> date | None:
        """The typed date; ``None`` if blank and optional; ValidationError naming the field
        if blank and required or not a date."""
        text = self.text().strip()
        if not text:
            if self.required:
                raise ValidationError(self.label, "is required", self.allowed())
            return None
        value = self._parse(text)
        if value is None:
            raise ValidationError(self.label, f"{text!r} is not a {self.KIND}", self.allowed())
        assert isinstance(value, date)
        return value

    def set_value(self, value: date | None) -> None:
        """Show ``value`` (``None``: empty, "Not set")."""
        self.setText("" if value is None else self._format(value))

    # --- calendar ---------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        alt_down = (event.key() == Qt.Key.Key_Down
                    and event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if event.key() == Qt.Key.Key_F4 or alt_down:
            self.show_calendar()
            return
        super().keyPressEvent(event)

    def calendar_popup(self) -> _CalendarPopup:
        """The popup (created on first use)."""
        if self._popup is None:
            self._popup = _CalendarPopup(self)
            self._popup.setObjectName(f"{self.objectName()}Calendar")
            self._popup.picked.connect(self._picked)
        return self._popup

    def show_calendar(self) -> None:
        """Open the calendar on the typed date, or on the field's usual page when empty."""
        if not self.isEnabled() or self.isReadOnly():
            return
        popup = self.calendar_popup()
        current = self.peek()
        day = current.date() if isinstance(current, datetime) else current
        if not isinstance(day, date):
            day = self._page()
        if self._past_only:  # a birth date: nothing after today can be picked
            popup.calendar.setMaximumDate(QDate.currentDate())
        q = QDate(day.year, day.month, day.day)
        popup.calendar.setSelectedDate(q)
        popup.calendar.setCurrentPage(day.year, day.month)
        popup.calendar.setAccessibleName(f"Calendar for {self.label.lower()}")
        popup.adjustSize()
        below = self.mapToGlobal(QPoint(0, self.height()))
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None and below.y() + popup.height() > screen.bottom():
            below = self.mapToGlobal(QPoint(0, -popup.height()))  # no room below: open above
        popup.move(below)
        popup.show()
        popup.calendar.setFocus()

    def _picked(self, q: QDate) -> None:
        self.set_value(date(q.year(), q.month(), q.day()))
        self.setFocus()


class DateTimeInput(DateInput):
    """A date and time of day (``2026-11-27 09:15`` or the locale's short date and time)."""

    KIND = "date and time"

    def hint(self) -> str:
        return f"{format_hint()}, then hh:mm"

    def allowed(self) -> str:
        now = datetime.now().replace(second=0, microsecond=0)
        loc = QLocale()
        short = loc.dateFormat(QLocale.FormatType.ShortFormat).translate(_SPACES)
        if "yyyy" not in short:
            short = short.replace("yy", "yyyy")
        local = loc.toString(QDate(now.year, now.month, now.day), short)
        iso = now.strftime("%Y-%m-%d %H:%M")
        hm = now.strftime("%H:%M")
        return f"a date and time such as {iso}" + ("" if local == iso[:10] else
                                                   f" or {local} {hm}")

    def _format(self, value: object) -> str:
        assert isinstance(value, datetime)
        return value.strftime("%Y-%m-%d %H:%M")

    def _parse(self, text: str) -> object:
        return parse_datetime(text, self._page(), latest=self._latest())

    def value(self) -> datetime | None:  # type: ignore[override]
        """The typed local date and time (naive); errors as :meth:`DateInput.value`."""
        text = self.text().strip()
        if text and self._parse(text) is None and parse_date(text, self._page()) is not None:
            raise ValidationError(self.label, f"{text!r} has no time of day", self.allowed())
        return super().value()  # type: ignore[return-value]

    def set_value(self, value: datetime | None) -> None:  # type: ignore[override]
        self.setText("" if value is None else self._format(value))

    def _picked(self, q: QDate) -> None:
        current = self.peek()
        at = current.time() if isinstance(current, datetime) else (
            datetime.now().time().replace(second=0, microsecond=0))
        self.set_value(datetime.combine(date(q.year(), q.month(), q.day()), at))
        self.setFocus()
        # Put the caret on the time so the next keys adjust it.
        self.setSelection(11, 5)

