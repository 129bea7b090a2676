"""The home-programme handout (for the patient) and the discharge summary (for the referring
doctor), drawn with reportlab from :class:`clinic_app.domain.plan_of_care.PlanDocument`.

The handout is written for a patient reading at home: large type, short sentences, no
abbreviations, the dose, how to walk backwards safely, when to stop and call, and a log to
fill in. The discharge summary is a one- or two-page clinical letter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from clinic_app.domain.plan_of_care import KMH_PER_MS, Dose, GoalView, PlanDocument
from clinic_app.domain.progress import format_date
from clinic_app.domain.records import Assistance, Surface, WalkMode
from clinic_app.reports import content as c
from clinic_app.reports.fonts import register_fonts

PAGE_W, PAGE_H = A4
MARGIN_X = 18 * mm
MARGIN_TOP = 16 * mm
MARGIN_BOTTOM = 20 * mm
FRAME_W = PAGE_W - 2 * MARGIN_X
INK = colors.HexColor("#222222")
MUTED = colors.HexColor("#5b6470")
ACCENT = colors.HexColor("#1f5fa8")
RULE = colors.HexColor("#9aa3ae")
HEAD_BG = colors.HexColor("#e9eef5")
STOP_BG = colors.HexColor("#fdecea")
HANDOUT_TITLE = "Your backward-walking programme"
DISCHARGE_TITLE = "Discharge summary"
LOG_ROWS = 12

SURFACE_WORDS = {
    Surface.FLAT: "a flat, even floor (a gym floor or a running track)",
    Surface.CARPET: "a flat carpet with no loose rugs",
    Surface.GRASS: "short, even grass",
    Surface.TREADMILL_BELT: "a treadmill, holding the handrails",
    Surface.OTHER: "the surface your therapist showed you",
}


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _canvas(footer: str, pages_out: list[int], font: str) -> type[Canvas]:
    """Page furniture once the page count is known: ``Page X of Y`` and a footer line."""

    class Numbered(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab API
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            pages_out.append(len(self._pages))
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.saveState()
                self.setFont(font, 8)
                self.setFillColor(MUTED)
                y = MARGIN_BOTTOM - 10 * mm
                self.drawString(MARGIN_X, y, footer)
                self.drawRightString(PAGE_W - MARGIN_X, y, f"Page {number} of "
                                                           f"{len(self._pages)}")
                self.restoreState()
                super().showPage()
            super().save()

    return Numbered


def _doc(out: Path | BinaryIO, title: str, author: str) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        str(out) if isinstance(out, Path) else out, pagesize=A4, leftMargin=MARGIN_X,
        rightMargin=MARGIN_X, topMargin=MARGIN_TOP, bottomMargin=MARGIN_BOTTOM, title=title,
        author=author or "Backstep", subject=title, creator="Backstep")


# --- handout ---------------------------------------------------------------------------------


def _speed_words(d: Dose) -> str:
    if d.speed_m_s is None:
        return "A steady pace you can keep up comfortably"
    kmh = d.speed_m_s * KMH_PER_MS
    if d.mode == WalkMode.TREADMILL:
        return f"Set the treadmill to {kmh:.1f} km/h"
    return f"About {kmh:.1f} km/h (a steady, comfortable pace)"


def dose_lines(doc: PlanDocument) -> list[tuple[str, str]]:
    """The prescribed dose in patient words, as (what, how much) pairs."""
    pres = doc.plan.prescription
    assert pres is not None
    d = pres.draft.dose
    lines = [
        ("How long", f"{d.duration_min:g} minutes of walking backwards"),
        ("How often", f"{pres.draft.sessions_per_week} times a week"),
        ("How fast", _speed_words(d)),
        ("Slope", "Flat ground, no slope" if d.incline_pct <= 0
         else f"A gentle slope uphill ({d.incline_pct:g} %), as shown in the clinic"),
        ("Where", SURFACE_WORDS[d.surface].capitalize()),
        ("Helper", "Have someone walk beside you every time" if d.spotter
         else "You may walk on your own; keep a wall or rail within reach"),
    ]
    if d.assistance == Assistance.HANDRAIL:
        lines.append(("Support", "Hold a handrail or the back of a sturdy chair"))
    if d.dual_task:
        lines.append(("While walking", d.dual_task))
    if pres.draft.notes:
        lines.append(("Note", pres.draft.notes))
    return lines


def safety_lines(doc: PlanDocument) -> list[str]:
    """How to walk backwards safely, in the clinic's rules turned into patient words."""
    pres = doc.plan.prescription
    assert pres is not None
    d = pres.draft.dose
    lines = [
        "Check that the path behind you is clear: no rugs, steps, toys, pets or people.",
        "Start slowly. Take small, controlled steps, landing on the ball of your foot first.",
        "Stand tall and keep your tummy muscles gently tight.",
        "Let your arms swing naturally; it helps your balance.",
        "Look back over your shoulder now and then to check your path.",
    ]
    if d.spotter:
        lines.insert(1, "Always have someone walk beside you, ready to steady you.")
    lines.append("Only make it longer, faster or uphill when your therapist tells you to.")
    return lines


def stop_lines(doc: PlanDocument) -> list[str]:
    limit = doc.plan.rules.pain_rise_limit
    return [
        f"Your knee pain goes up by more than {limit} points (on a 0 to 10 scale) compared "
        "with before you started, or is still worse the next morning.",
        "You feel dizzy, short of breath or unwell, or have chest pain.",
        "You trip, fall or nearly fall, or your knee gives way.",
        "Your knee becomes more swollen, hot or red.",
    ]


def build_handout(doc: PlanDocument, out: Path | BinaryIO) -> int:
    """Write the patient's home-programme handout; returns its page count (1 or 2)."""
    if doc.plan.prescription is None:
        raise ValueError("no prescription")
    font, bold = register_fonts()
    body = ParagraphStyle("hb", fontName=font, fontSize=13, leading=17.5, textColor=INK)
    h1 = ParagraphStyle("h1", body, fontName=bold, fontSize=22, leading=27, textColor=ACCENT,
                        spaceAfter=4)
    h2 = ParagraphStyle("h2", body, fontName=bold, fontSize=16, leading=20, textColor=ACCENT,
                        spaceBefore=10, spaceAfter=5)
    small = ParagraphStyle("sm", body, fontSize=10.5, leading=13.5, textColor=MUTED)
    what = ParagraphStyle("what", body, fontName=bold)
    bullet = ParagraphStyle("bl", body, leftIndent=16, bulletIndent=2, spaceAfter=3)
    p = doc.patient.draft
    clinic = doc.clinic
    story: list[Flowable] = [
        _p(HANDOUT_TITLE, h1),
        _p(f"For {p.given_name} {p.family_name} · given on "
           f"{format_date(doc.generated_at.astimezone().date())} by {doc.therapist}", small),
        Spacer(1, 6),
        _p("What to do", h2),
    ]
    rows = [[_p(a, what), _p(b, body)] for a, b in dose_lines(doc)]
    dose = Table(rows, colWidths=[40 * mm, FRAME_W - 40 * mm])
    dose.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 4), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [dose, _p("How to do it safely", h2)]
    story += [Paragraph(escape(t), bullet, bulletText="•") for t in safety_lines(doc)]
    call = f"call the clinic on {clinic.phone}" if clinic.phone else "call the clinic"
    stop = [_p("Stop and " + call + " if:", ParagraphStyle("sh", body, fontName=bold))]
    stop += [Paragraph(escape(t), bullet, bulletText="•") for t in stop_lines(doc)]
    stop.append(_p("If you fall and are hurt, or have chest pain, call the emergency number.",
                   ParagraphStyle("em", body, fontName=bold)))
    box = Table([[stop]], colWidths=[FRAME_W])
    box.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), STOP_BG),
                             ("BOX", (0, 0), (-1, -1), 1, colors.HexColor("#c0392b")),
                             ("LEFTPADDING", (0, 0), (-1, -1), 8),
                             ("TOPPADDING", (0, 0), (-1, -1), 6),
                             ("BOTTOMPADDING", (0, 0), (-1, -1), 8)]))
    story += [Spacer(1, 10), KeepTogether([box])]
    head = ["Date", "Minutes", "Pain before\n(0 to 10)", "Pain after\n(0 to 10)", "Notes"]
    cell = ParagraphStyle("lc", body, fontName=bold, fontSize=11, leading=13)
    log_rows: list[list[Any]] = [[Paragraph(escape(h).replace("\n", "<br/>"), cell)
                                  for h in head]]
    log_rows += [[""] * 5 for _ in range(LOG_ROWS)]
    log = Table(log_rows, colWidths=[30 * mm, 24 * mm, 30 * mm, 30 * mm,
                                     FRAME_W - 114 * mm],
                rowHeights=[None] + [11 * mm] * LOG_ROWS, repeatRows=1)
    log.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.7, RULE),
                             ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                             ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    intro = _p("Write down each walk. Bring this sheet to your next appointment.", body)
    story += [KeepTogether([_p("My walking log", h2), intro, Spacer(1, 5), log])]
    name = clinic.name or "your clinic"
    footer = f"{name}{' · ' + clinic.phone if clinic.phone else ''} · MRN {p.mrn}"
    pages: list[int] = []
    _doc(out, f"{HANDOUT_TITLE} – MRN {p.mrn}", clinic.name).build(
        story, canvasmaker=_canvas(footer, pages, font))
    return pages[-1]


# --- discharge summary -----------------------------------------------------------------------


def goal_rows(goals: tuple[GoalView, ...]) -> list[tuple[str, str, str, str]]:
    """(goal, target, status, why) per goal."""
    from clinic_app.domain.measures import get_measure

    rows = []
    for v in goals:
        g = v.goal.draft
        if g.measure_id is not None and g.target_value is not None and g.target_date:
            m = get_measure(g.measure_id)
            label = m.name + (f" – {g.text}" if g.text else "")
            target = f"{m.format_value(g.target_value)} by {format_date(g.target_date)}"
        else:
            label, target = g.text, "functional goal"
        rows.append((label, target, v.assessment.status.label, v.assessment.reason))
    return rows


def build_discharge(doc: PlanDocument, out: Path | BinaryIO) -> int:
    """Write the discharge summary for the referring doctor; returns its page count."""
    font, bold = register_fonts()
    body = ParagraphStyle("db", fontName=font, fontSize=9.5, leading=12.5, textColor=INK)
    cell = ParagraphStyle("dc", body, fontSize=8.5, leading=10.5)
    head = ParagraphStyle("dh", cell, fontName=bold)
    h1 = ParagraphStyle("d1", body, fontName=bold, fontSize=17, leading=21, textColor=ACCENT,
                        spaceAfter=4)
    h2 = ParagraphStyle("d2", body, fontName=bold, fontSize=12, leading=15, textColor=ACCENT,
                        spaceBefore=10, spaceAfter=4)
    small = ParagraphStyle("ds", body, fontSize=8, leading=10, textColor=MUTED)
    p, ep, plan = doc.patient.draft, doc.chart.episode.draft, doc.plan
    clinic = doc.clinic
    story: list[Flowable] = []
    if clinic.name:
        story.append(_p(clinic.name, ParagraphStyle("cn", body, fontName=bold, fontSize=12)))
    story += [_p(DISCHARGE_TITLE, h1)]
    facts = [
        ("Patient", f"{p.family_name}, {p.given_name} · born {format_date(p.date_of_birth)} · "
                    f"MRN {p.mrn}"),
        ("Referred by", ep.referring_doctor or c.DASH),
        ("Diagnosis", f"{ep.diagnosis.label}, {ep.affected_side.value} knee"
                      + (f", surgery {format_date(ep.surgery_date)}" if ep.surgery_date
                         else "")
                      + (f" ({ep.surgery_type.label})" if ep.surgery_date and ep.surgery_type
                         else "")),
        ("Episode", f"{format_date(ep.start_date)} to "
                    f"{format_date(ep.end_date) if ep.end_date else 'open'}"),
        ("Prepared by", f"{doc.therapist}, {c.fmt_datetime(doc.generated_at)}"),
    ]
    ft = Table([[_p(a, head), _p(b, body)] for a, b in facts],
               colWidths=[30 * mm, FRAME_W - 30 * mm])
    ft.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0),
                            ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(ft)

    def table(header: list[str], rows: list[list[str]], widths: list[float]) -> Table:
        data = [[_p(h, head) for h in header]] + [[_p(x, cell) for x in r] for r in rows]
        t = Table(data, colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    story.append(_p("Goals", h2))
    goals = goal_rows(plan.goals)
    if goals:
        met = sum(1 for g in plan.goals if g.assessment.status.value == "met")
        story.append(_p(f"{met} of {len(goals)} goal(s) met.", body))
        story.append(table(["Goal", "Target", "Status", "Reason"], [list(r) for r in goals],
                           [52 * mm, 36 * mm, 24 * mm, FRAME_W - 112 * mm]))
    else:
        story.append(_p("No goals were recorded for this episode.", body))

    story.append(_p("Outcome measures: first and last result", h2))
    series = [s for s in c.measure_series(doc.chart.tests)]
    if series:
        rows = []
        for s in series:
            r = c.result_row(s, ep.affected_side)
            rows.append([r.measure + (f" ({r.side})" if r.side else ""),
                         f"{r.baseline} ({r.baseline_date})", f"{r.latest} ({r.latest_date})",
                         r.change, r.mcid, r.mcid_reached])
        story.append(table(["Measure", "First", "Last", "Change", "MCID", "MCID reached"],
                           rows, [44 * mm, 30 * mm, 30 * mm, 24 * mm, 26 * mm,
                                  FRAME_W - 154 * mm]))
    else:
        story.append(_p("No standardized tests were recorded.", body))

    story.append(_p("Retro-walking programme", h2))
    adh = plan.adherence.describe() if plan.adherence else "no programme was prescribed"
    lines = [
        ("Sessions attended", f"{plan.sessions} in the clinic, {plan.home_sessions} reported "
                              "from home"),
        ("Adherence", adh),
        ("Sessions with a spotter", str(plan.spotter_sessions)),
        ("Adverse events", str(plan.adverse_events)),
    ]
    if plan.prescription is not None:
        lines.append(("Final prescription", plan.prescription.draft.dose.describe()
                      + f", {plan.prescription.draft.sessions_per_week} × per week"))
    at = Table([[_p(a, head), _p(b, body)] for a, b in lines],
               colWidths=[44 * mm, FRAME_W - 44 * mm])
    at.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0),
                            ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(at)
    events = c.adverse_events(doc.chart.sessions)
    if events:
        story.append(_p("Adverse events recorded", ParagraphStyle("ae", head, spaceBefore=6)))
        story += [Paragraph(escape(f"{d}: {t}"), body, bulletText="•") for d, t in events]
    sign = Table([[_p("Therapist", small), _p("Signature", small), _p("Date", small)],
                  [_p(doc.therapist, head), _p("_" * 36, body), _p("_" * 16, body)]],
                 colWidths=[FRAME_W * 0.36, FRAME_W * 0.42, FRAME_W * 0.22])
    sign.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("TOPPADDING", (0, 1), (-1, 1), 14)]))
    story += [Spacer(1, 14), KeepTogether([sign])]
    footer = (f"{p.family_name}, {p.given_name} · MRN {p.mrn} · {DISCHARGE_TITLE} · "
              "CONFIDENTIAL – personal health information")
    pages: list[int] = []
    _doc(out, f"{DISCHARGE_TITLE} – MRN {p.mrn}", clinic.name).build(
        story, canvasmaker=_canvas(footer, pages, font))
    return pages[-1]
