"""Keyboard-fast item entry for questionnaires and multi-part tests, and both legs at once for
limb pairs, used by the session editor.

Each item field accepts only the answers its instrument allows (e.g. Lysholm limp 0, 3 or
5); typing an answer that cannot grow into another allowed one moves on to the next item,
so a form is entered as one row of digits. An unanswered item shows a dash on a hatched
amber background, never a blank that could be read as zero.
"""

from __future__ import annotations

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from clinic_app.domain.instruments import INSTRUMENTS, ItemSpec, pair_lsi
from clinic_app.domain.measures import MEASURES, Measure
from clinic_app.domain.records import Side, TestResultDraft
from clinic_app.domain.scoring import ITEM_MAX, ITEM_MIN

MISSING_STYLE = ("QLineEdit[missing=\"true\"] { background: #fff4d6; "
                 "border: 1px dashed #b07d00; }")
SHORT_LABELS = {"y_balance": ("Ant", "PM", "PL", "Limb")}


class AnswerValidator(QValidator):
    """Accepts the allowed answers of one item and the prefixes of them."""

    def __init__(self, allowed: tuple[int, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.texts = {str(a) for a in allowed}
        self.big = max(allowed) > 100  # a range in mm: every prefix of a number is fine

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if text == "":
            return QValidator.State.Intermediate, text, pos
        if not text.isdigit():
            return QValidator.State.Invalid, text, pos
        if text in self.texts:
            return QValidator.State.Acceptable, text, pos
        if any(t.startswith(text) for t in self.texts):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos


def item_specs(m: Measure) -> tuple[ItemSpec, ...]:
    """The items of ``m``: its instrument's, or KOOS/LEFS items scored 0-4."""
    inst = INSTRUMENTS.get(m.id)
    if inst is not None:
        return inst.items
    return tuple(ItemSpec(str(i + 1), tuple(range(ITEM_MIN, ITEM_MAX + 1)))
                 for i in range(m.items or 0))


def item_number(m: Measure, index: int) -> str:
    """The short label over an item field: "9a" for IKDC item 9a, "Ant" for a Y-Balance reach."""
    if m.id in SHORT_LABELS:
        return SHORT_LABELS[m.id][index]
    spec = item_specs(m)[index]
    return spec.label.split(" ", 1)[0] if m.id in INSTRUMENTS else str(index + 1)


def configure(m: Measure, edits: list[QLineEdit], numbers: list[QLabel]) -> None:
    """Set up the item fields for ``m``: allowed answers, width, labels, tooltips."""
    specs = item_specs(m)
    for i, (edit, num) in enumerate(zip(edits, numbers, strict=True)):
        if i >= len(specs):
            continue
        spec = specs[i]
        edit.setValidator(AnswerValidator(spec.allowed, edit))
        digits = len(str(spec.maximum))
        edit.setMaxLength(digits)
        edit.setFixedWidth(30 if digits == 1 else 38 if digits == 2 else 54)
        unit = f" {m.item_unit}" if m.item_unit else ""
        edit.setToolTip(f"{m.short_name} {spec.label}: {spec.describe()}{unit}, "
                        "blank if unanswered")
        edit.setAccessibleName(f"{m.short_name} item {spec.label}")
        edit.setPlaceholderText("–")
        num.setText(item_number(m, i))


def should_advance(m: Measure, index: int, text: str) -> bool:
    """True when ``text`` is a complete answer no further digit could extend."""
    specs = item_specs(m)
    if not text or index >= len(specs):
        return False
    allowed = {str(a) for a in specs[index].allowed}
    if specs[index].maximum > 100:  # millimetres: the user tabs on
        return False
    return text in allowed and not any(a != text and a.startswith(text) for a in allowed)


def mark_missing(edits: list[QLineEdit], count: int) -> None:
    """Highlight unanswered items once any item of the form has been answered."""
    started = any(e.text() for e in edits[:count])
    for e in edits[:count]:
        missing = started and not e.text()
        if e.property("missing") != missing:
            e.setProperty("missing", missing)
            e.style().unpolish(e)
            e.style().polish(e)


def visit_lsi(affected: Side, rows: list[tuple[TestResultDraft, float]]) -> dict[int, float]:
    """Limb symmetry of the limb pairs in one visit's test rows, keyed by the row index of
    the involved leg; only measures with exactly one result per leg count, and only when the
    episode names the affected knee."""
    if affected not in (Side.LEFT, Side.RIGHT):
        return {}
    by_measure: dict[str, dict[Side, list[tuple[int, float]]]] = {}
    for index, (draft, value) in enumerate(rows):
        m = MEASURES.get(draft.measure_id)
        if m is None or not m.paired or m.items is not None or draft.side is None:
            continue
        legs = by_measure.setdefault(m.id, {})
        legs.setdefault(Side(draft.side), []).append((index, value))
    other = Side.RIGHT if affected == Side.LEFT else Side.LEFT
    found: dict[int, float] = {}
    for mid, legs in by_measure.items():
        involved, uninvolved = legs.get(affected, []), legs.get(other, [])
        if len(involved) != 1 or len(uninvolved) != 1:
            continue  # repeated trials of one leg: which pair is meant is not known
        (row, inv), (_, uninv) = involved[0], uninvolved[0]
        if inv > 0 and uninv > 0:
            found[row] = pair_lsi(mid, inv, uninv)
    return found


def pair_text(m: Measure, side: Side, value: float | None, other: float | None) -> str:
    """The live symmetry line for a limb pair typed on both legs, e.g. "LSI 90.0 %"."""
    if value is None or other is None or value <= 0 or other <= 0:
        return ""
    try:
        lsi = pair_lsi(m.id, value, other)
    except ValueError:
        return ""
    how = "uninvolved / involved" if m.id == "hop_6m_timed" else "involved / uninvolved"
    return f"LSI {lsi:.1f} % if {side.value} is the involved leg ({how})"
