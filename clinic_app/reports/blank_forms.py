"""Printable blank answer sheets for the questionnaires, one page per instrument.

The item wording of these instruments belongs to their authors and publishers and is not
reproduced: each sheet lists the item numbers with a short topic, the answer scale (the
scores an answer may have, as printed on the official form), the scoring and the
missing-item rule, so a patient's answers on the official form (or read out) can be noted
and typed in item by item. No patient data is printed, so nothing is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.instruments import INSTRUMENTS, ItemSpec
from clinic_app.domain.measures import MEASURES, Measure
from clinic_app.domain.scoring import (
    ITEM_MAX,
    ITEM_MIN,
    KOOS_SUBSCALES,
    item_scale,
    koos_min_answered,
)
from clinic_app.reports.fonts import register_fonts

KOOS_FORM = "koos"  # the KOOS is one form: its five subscales share a sheet
LICENCE_NOTE = (
    "The wording of the items is the authors' and is not reproduced here. Use the official "
    "form with the patient; note the score of each answer below (circle it), then type the "
    "row of scores into Backstep. Leave an unanswered item blank: it is not the same as 0."
)


def form_ids() -> list[str]:
    """The questionnaires that have a blank sheet (catalogue order; KOOS as one form)."""
    out: list[str] = []
    for m in MEASURES.values():
        if not m.is_questionnaire:
            continue
        mid = KOOS_FORM if m.id in KOOS_SUBSCALES else m.id
        if mid not in out:
            out.append(mid)
    return out


def form_title(form_id: str) -> str:
    """The heading of a sheet, e.g. "IKDC Subjective Knee Evaluation Form"."""
    if form_id == KOOS_FORM:
        return "Knee injury and Osteoarthritis Outcome Score (KOOS)"
    return MEASURES[form_id].name


def _items(m: Measure) -> tuple[ItemSpec, ...]:
    inst = INSTRUMENTS.get(m.id)
    if inst is not None:
        return inst.items
    scale = tuple(range(ITEM_MIN, ITEM_MAX + 1))
    prefix = m.short_name.removeprefix("KOOS ")
    return tuple(ItemSpec(f"{prefix} {i + 1}", scale) for i in range(m.items or 0))


def _rules(m: Measure) -> tuple[str, str]:
    inst = INSTRUMENTS.get(m.id)
    if inst is not None:
        return inst.scale_note, f"Scored with {inst.missing_rule}."
    if m.id in KOOS_SUBSCALES:
        need = koos_min_answered(m.items or 0)
        return (item_scale(m.id),
                f"Scored with at least {need} of {m.items} items answered (KOOS 2012).")
    return item_scale(m.id), f"Scored with all {m.items} items answered."


def _styles(font: str, bold: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("b", fontName=font, fontSize=9, leading=12)
    return {
        "body": base,
        "small": ParagraphStyle("s", base, fontSize=7.5, leading=9.5,
                                textColor=colors.HexColor("#5b6470")),
        "h1": ParagraphStyle("h1", base, fontName=bold, fontSize=14, leading=18,
                             spaceAfter=4),
        "h2": ParagraphStyle("h2", base, fontName=bold, fontSize=10.5, leading=14,
                             spaceBefore=6, spaceAfter=2),
        "cell": ParagraphStyle("c", base, fontSize=8.5, leading=10.5),
        "head": ParagraphStyle("h", base, fontName=bold, fontSize=8, leading=10),
    }


def _answer_cells(spec: ItemSpec, width: float, st: dict[str, ParagraphStyle]) -> Paragraph:
    values = sorted(spec.allowed)
    if len(values) > 12:  # a measurement (mm), not a choice
        return Paragraph("______________", st["cell"])
    return Paragraph("&nbsp;&nbsp;".join(f"<b>{v}</b>" for v in values), st["cell"])


def _sheet(form_id: str, st: dict[str, ParagraphStyle], width: float) -> list[object]:
    measures = ([MEASURES[k] for k in KOOS_SUBSCALES] if form_id == KOOS_FORM
                else [MEASURES[form_id]])
    out: list[object] = [
        Paragraph(escape(form_title(form_id)), st["h1"]),
        Paragraph("Patient: ______________________________ &nbsp; MRN: ______________ "
                  "&nbsp; Date: ____________", st["body"]),
        Spacer(1, 4),
        Paragraph(escape(LICENCE_NOTE), st["small"]),
    ]
    for m in measures:
        scale, missing = _rules(m)
        if len(measures) > 1:
            out.append(Paragraph(escape(m.name), st["h2"]))
        out.append(Paragraph(escape(f"Answer scale: {scale} {missing}"), st["small"]))
        rows = [[Paragraph("Item", st["head"]), Paragraph("Topic", st["head"]),
                 Paragraph("Circle the score of the answer given", st["head"])]]
        for i, spec in enumerate(_items(m), start=1):
            number, _, topic = spec.label.partition(" ")
            if m.id not in INSTRUMENTS:
                number, topic = str(i), ""
            rows.append([Paragraph(escape(number), st["cell"]),
                         Paragraph(escape(topic), st["cell"]),
                         _answer_cells(spec, width, st)])
        table = Table(rows, colWidths=[16 * mm, 62 * mm, width - 78 * mm], repeatRows=1)
        table.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9eef5")),
            ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#c9ced6")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]))
        out += [Spacer(1, 3), table]
    out += [Spacer(1, 6), Paragraph(escape(f"Source: {measures[0].source}"), st["small"]),
            Paragraph("Score: ____________ &nbsp;&nbsp; Entered by: ______________",
                      st["body"])]
    return out


def build_blank_forms(form_ids_wanted: list[str], out: Path | BinaryIO) -> int:
    """Write one blank sheet per questionnaire in ``form_ids_wanted``; returns the pages."""
    known = form_ids()
    for f in form_ids_wanted:
        if f not in known:
            raise ValidationError("Questionnaire", f"{f!r} has no blank form", ", ".join(known))
    if not form_ids_wanted:
        raise ValidationError("Questionnaire", "none chosen", "at least one of the list")
    font, bold = register_fonts()
    st = _styles(font, bold)
    margin = 18 * mm
    width = A4[0] - 2 * margin
    story: list[object] = []
    for i, f in enumerate(form_ids_wanted):
        if i:
            story.append(PageBreak())
        story += _sheet(f, st, width)
    pages: list[int] = []

    def count(canvas: object, _doc: object) -> None:
        pages.append(canvas.getPageNumber())  # type: ignore[attr-defined]

    target = str(out) if isinstance(out, Path) else out
    doc = SimpleDocTemplate(target, pagesize=A4, leftMargin=margin, rightMargin=margin,
                            topMargin=16 * mm, bottomMargin=16 * mm,
                            title="Blank questionnaire forms", creator="Backstep")
    doc.build(story, onFirstPage=count, onLaterPages=count)  # type: ignore[arg-type]
    return pages[-1]
