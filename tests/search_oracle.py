"""The patient search written the obvious way with the ORM: the oracle the production
statement (``persistence.repositories._search_statement``) is checked against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from clinic_app.persistence import mapping
from clinic_app.persistence.models import PatientRow
from clinic_app.persistence.repositories import TOP, parse_search_date


def _prefix(column: Any, key: str) -> ColumnElement[bool]:
    return and_(column >= key, column < key + TOP)


def search_filter(text: str, include_in_error: bool) -> list[ColumnElement[bool]]:
    """WHERE conditions: every word is a name or MRN prefix, or the birth date."""
    conds: list[ColumnElement[bool]] = []
    if not include_in_error:
        conds.append(PatientRow.entered_in_error.is_(False))
    for raw in text.replace(",", " ").split():
        when = parse_search_date(raw)
        if when is not None:
            conds.append(PatientRow.date_of_birth == when)
            continue
        key = mapping.search_key(raw)
        conds.append(or_(_prefix(PatientRow.family_key, key),
                         _prefix(PatientRow.given_key, key),
                         _prefix(PatientRow.mrn, raw.upper())))
    return conds
