"""The clinic's outcomes report: per diagnosis, how episodes ended up. No patient data.

Every figure comes from :class:`~clinic_app.domain.cohorts.OutcomesData` (aggregated by the
database); nothing on the page names, dates or otherwise identifies a patient.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from clinic_app.domain.cohorts import DiagnosisOutcome, OutcomesData
from clinic_app.domain.measures import get_measure
from clinic_app.domain.records import DIAGNOSIS_LABELS, Diagnosis
from clinic_app.reports.fonts import register_fonts

METHOD_NOTE = (
    "Episodes and results marked entered in error are left out. Change = last minus first "
    "result of the measure in the episode (episodes with at least two results). MCID reached: "
    "the improvement (in the measure's better direction) is at least the measure's MCID. "
    "Medians interpolate linearly between the two middle values. Sessions per episode count "
    "every episode of the diagnosis, those without sessions as 0. Adverse-event rate: "
    "sessions with an adverse event recorded, of all sessions. Weeks to return to sport: "
    "from surgery to the first day the clinic's criteria set was met in full."
)


def diagnosis_label(diagnosis: str) -> str:
    """The diagnosis as the record shows it."""
    try:
        return DIAGNOSIS_LABELS[Diagnosis(diagnosis)]
    except ValueError:
        return diagnosis


def pct(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with the counts it comes from."""
    return f"{100.0 * part / whole:.1f} % ({part} of {whole})" if whole else "—"


def _summary(row: DiagnosisOutcome) -> list[list[str]]:
    sessions = "—" if row.median_sessions is None else f"{row.median_sessions:g}"
    if row.median_weeks_to_rts is not None:
        rts = f"{row.median_weeks_to_rts:.1f} weeks ({row.rts_episodes} episode(s) met them)"
    elif row.diagnosis == Diagnosis.ACL_RECONSTRUCTION.value:
        rts = "no episode has met them yet"
    else:
        rts = "not applicable (ACL reconstruction only)"
    return [
        ["Episodes", str(row.episodes)],
        ["Sessions per episode (median)", sessions],
        ["Adverse-event rate", pct(row.sessions_with_adverse_event, row.sessions)],
        ["Weeks to return-to-sport criteria (median)", rts],
    ]


def _measures(row: DiagnosisOutcome) -> list[list[str]]:
    out = [["Measure", "Episodes", "MCID", "Reached MCID", "Median change"]]
    for m in row.measures:
        meas = get_measure(m.measure_id)
        mcid = "—" if m.mcid is None else meas.format_value(m.mcid)
        out.append([meas.short_name, str(m.episodes), mcid, pct(m.reached_mcid, m.episodes),
                    meas.format_value(m.median_change, signed=True,
                                      decimals=meas.decimals + 1)])
    return out


def build_outcomes_report(data: OutcomesData, out: Path | BinaryIO) -> int:
    """Write the outcomes report PDF for ``data`` to ``out``; returns the number of pages."""
    font, bold = register_fonts()
    base = ParagraphStyle("b", fontName=font, fontSize=9.5, leading=12.5)
    small = ParagraphStyle("s", parent=base, fontSize=8, leading=10.5, textColor=colors.grey)
    h1 = ParagraphStyle("h1", parent=base, fontName=bold, fontSize=16, leading=20)
    h2 = ParagraphStyle("h2", parent=base, fontName=bold, fontSize=12, leading=16,
                        spaceBefore=8, spaceAfter=4)
    margin = 18 * mm
    width = A4[0] - 2 * margin
    scope = diagnosis_label(data.diagnosis) if data.diagnosis else "all diagnoses"
    story: list[object] = [
        Paragraph(escape(f"Outcomes report — {data.clinic_name or 'clinic'}"), h1),
        Paragraph(escape(f"{scope}; generated {data.generated_on.isoformat()} by "
                         f"{data.generated_by}. Aggregate figures only: no patient is "
                         "identified."), base),
        Spacer(1, 4 * mm),
    ]
    grid = TableStyle([
        ("FONT", (0, 0), (-1, -1), font, 9), ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ])
    head = TableStyle([("FONT", (0, 0), (-1, 0), bold, 9),
                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4"))])
    if not data.rows:
        story.append(Paragraph("No episodes to report.", base))
    for row in data.rows:
        block: list[object] = [Paragraph(escape(diagnosis_label(row.diagnosis)), h2)]
        t = Table(_summary(row), colWidths=[width * 0.45, width * 0.55])
        t.setStyle(grid)
        block.append(t)
        if row.measures:
            block.append(Spacer(1, 2 * mm))
            mt = Table(_measures(row), colWidths=[width * f for f in
                                                  (0.28, 0.12, 0.14, 0.24, 0.22)],
                       repeatRows=1)
            mt.setStyle(grid)
            mt.setStyle(head)
            block.append(mt)
        else:
            block.append(Paragraph("No measure with an MCID was recorded twice in an episode.",
                                   small))
        story.append(KeepTogether(block))
    story += [Spacer(1, 5 * mm), Paragraph(escape(METHOD_NOTE), small)]
    pages: list[int] = []

    def count(canvas: object, _doc: object) -> None:
        pages.append(canvas.getPageNumber())  # type: ignore[attr-defined]

    target = str(out) if isinstance(out, Path) else out
    doc = SimpleDocTemplate(target, pagesize=A4, leftMargin=margin, rightMargin=margin,
                            topMargin=16 * mm, bottomMargin=16 * mm,
                            title="Outcomes report", creator="Backstep")
    doc.build(story, onFirstPage=count, onLaterPages=count)  # type: ignore[arg-type]
    return pages[-1]
