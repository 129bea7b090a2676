"""The shared typed date / date-time field on its own: what it accepts, how it reports junk,
and that it is usable from an empty state with the keyboard only."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from ui_helpers import system_locale

from clinic_app.domain.errors import ValidationError
from clinic_app.ui.date_input import (
    DateInput,
    DateTimeInput,
    format_hint,
    parse_date,
    parse_datetime,
    parse_time,
    years_ago,
)

GB, DE, US = QLocale("en_GB"), QLocale("de_DE"), QLocale("en_US")


@pytest.mark.parametrize(
    ("locale", "text", "expected"),
    [(GB, "1988-03-14", date(1988, 3, 14)), (GB, "1988-3-4", date(1988, 3, 4)),
     (GB, "19880314", date(1988, 3, 14)), (GB, " 14/03/1988 ", date(1988, 3, 14)),
     (GB, "4/3/1988", date(1988, 3, 4)), (DE, "14.03.1988", date(1988, 3, 14)),
     (DE, "14.3.88", date(1988, 3, 14)), (US, "3/14/1988", date(1988, 3, 14)),
     (US, "3/14/88", date(1988, 3, 14)), (DE, "1988-03-14", date(1988, 3, 14)),
     (GB, "", None), (GB, "t set9880314", None), (GB, "14.03.1988", None),
     (GB, "1988-02-30", None), (GB, "31/02/2026", None), (DE, "14/03/1988", None)],
)
def test_parse_date_iso_and_locale_short_format(
    locale: QLocale, text: str, expected: date | None
) -> None:
    assert parse_date(text, date(2026, 1, 1), locale) == expected


def test_two_digit_year_takes_the_century_nearest_the_fields_page() -> None:
    assert parse_date("01.02.30", date(2026, 1, 1), DE) == date(2030, 2, 1)  # a visit
    # A birth date: the page is 40 years back and it may not lie in the future.
    assert parse_date("01.02.30", date(1986, 1, 1), DE, latest=date(2026, 1, 1)) == date(
        1930, 2, 1)
    assert parse_date("29.02.00", date(2026, 1, 1), DE) == date(2000, 2, 29)


@pytest.mark.parametrize(
    ("locale", "text", "expected"),
    [(GB, "2026-11-27 09:15", datetime(2026, 11, 27, 9, 15)),
     (GB, "2026-11-27T09:15", datetime(2026, 11, 27, 9, 15)),
     (GB, "27/11/2026 9:15", datetime(2026, 11, 27, 9, 15)),
     (DE, "27.11.26 09:15", datetime(2026, 11, 27, 9, 15)),
     (US, "11/27/26 9:15 PM", datetime(2026, 11, 27, 21, 15)),
     (US, "11/27/2026 21:15", datetime(2026, 11, 27, 21, 15)),
     (GB, "2026-11-27", None), (GB, "2026-11-27 25:00", None), (GB, "yesterday", None)],
)
def test_parse_datetime(locale: QLocale, text: str, expected: datetime | None) -> None:
    assert parse_datetime(text, date(2026, 1, 1), locale) == expected


def test_parse_time_and_hints() -> None:
    assert parse_time("7:05", GB) == time(7, 5) and parse_time("0705", GB) == time(7, 5)
    assert parse_time("7.05", DE) == time(7, 5) and parse_time("x", GB) is None
    assert format_hint(GB) == "yyyy-mm-dd or dd/mm/yyyy"
    assert format_hint(DE) == "yyyy-mm-dd or dd.mm.yyyy"


def test_empty_field_says_not_set_and_accepts_typing(qtbot: QtBot) -> None:
    with system_locale("de_DE"):
        field = DateInput("Date of birth", "dob", page=years_ago(40), past_only=True,
                          required=True)
        qtbot.addWidget(field)
        field.show()
        assert field.text() == "" and field.placeholderText() == (
            "Not set (yyyy-mm-dd or dd.mm.yyyy)")
        assert field.accessibleName() == "Date of birth"
        assert "dd.mm.yyyy" in field.accessibleDescription()
        with pytest.raises(ValidationError, match="^Date of birth: is required"):
            field.value()
        field.setFocus()
        qtbot.keyClicks(field, "14.3.88")
        assert field.value() == date(1988, 3, 14)
        field.editingFinished.emit()  # as when the focus leaves the field
        assert field.text() == "1988-03-14"


def test_junk_is_a_validation_error_naming_the_field(qtbot: QtBot) -> None:
    with system_locale("en_GB"):
        field = DateInput("Surgery date", "surgery")
        qtbot.addWidget(field)
        qtbot.keyClicks(field, "next week")
        with pytest.raises(ValidationError) as info:
            field.value()
        assert info.value.field == "Surgery date"
        assert str(info.value).startswith("Surgery date: 'next week' is not a date")
        assert "dd/mm/yyyy" not in str(info.value)  # an example in both forms instead
        assert "/" in (info.value.allowed or "")
        field.selectAll()
        qtbot.keyClick(field, Qt.Key.Key_Delete)
        assert field.value() is None  # optional: blank is "not set"


def test_date_time_without_a_time_says_so(qtbot: QtBot) -> None:
    field = DateTimeInput("Date/time", "when", required=True)
    qtbot.addWidget(field)
    qtbot.keyClicks(field, "2026-11-27")
    with pytest.raises(ValidationError, match="^Date/time: '2026-11-27' has no time of day"):
        field.value()
    qtbot.keyClicks(field, " 14:30")
    assert field.value() == datetime(2026, 11, 27, 14, 30)


def test_value_changed_fires_while_typing(qtbot: QtBot) -> None:
    field = DateInput("Start date", "start")
    qtbot.addWidget(field)
    seen: list[object] = []
    field.value_changed.connect(lambda: seen.append(field.peek()))
    qtbot.keyClicks(field, "2026-01-05")
    assert seen[-1] == date(2026, 1, 5)


def test_f4_opens_the_calendar_on_the_page_and_escape_closes_it(qtbot: QtBot) -> None:
    field = DateInput("Date of birth", "dob", page=years_ago(40))
    qtbot.addWidget(field)
    field.show()
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_F4)
    cal = field.calendar_popup().calendar
    qtbot.waitUntil(cal.isVisible, timeout=5_000)
    assert cal.yearShown() == date.today().year - 40
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not cal.isVisible(), timeout=5_000)
    assert field.text() == ""
