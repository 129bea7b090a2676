"""Column values to and from DB-API values without SQLAlchemy's per-row machinery.

The two hot paths that bypass Core's statement execution (the patient list on a bare
DB-API connection and the bulk import's INSERT / COPY) convert values with each column
type's own processors for the database's dialect (public ``TypeEngine`` API), so what they
send and read is exactly what Core would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

Processor = Callable[[Any], Any] | None


def bind_processor(type_: Any, dialect: Any) -> Processor:
    """The function turning a Python value of ``type_`` into a DB-API value, or None."""
    return type_.dialect_impl(dialect).bind_processor(dialect)


def result_processor(type_: Any, dialect: Any) -> Processor:
    """The function turning a DB-API value of ``type_`` into a Python value, or None."""
    return type_.dialect_impl(dialect).result_processor(dialect, None)


def converted_rows(dialect: Any, table: Any, order: Sequence[str], keys: Sequence[str],
                   rows: Sequence[tuple[Any, ...]],
                   same: dict[str, Any]) -> list[tuple[Any, ...]]:
    """``rows`` (tuples in ``keys`` order, plus the ``same`` values in every row) as DB-API
    values in ``order``, through each column's bind processor (once for a ``same`` value)."""
    position = {key: i for i, key in enumerate(keys)}
    by_column = list(zip(*rows, strict=True))
    columns: list[Iterable[Any]] = []
    for key in order:
        proc = bind_processor(table.c[key].type, dialect)
        if key in same:
            value = same[key]
            columns.append(repeat(proc(value) if proc is not None else value, len(rows)))
        else:
            values = by_column[position[key]]
            columns.append(values if proc is None else map(proc, values))
    return list(zip(*columns, strict=True))
