"""The rehabilitation progress report PDF (reportlab platypus), for referring doctors.

Imported lazily by :func:`clinic_app.reports.build_progress_report` so that starting the
application does not load reportlab.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from clinic_app.domain.records import Sex, surgery_label
from clinic_app.reports import content as c
from clinic_app.reports.charts import progress_chart
from clinic_app.reports.fonts import register_fonts
from clinic_app.reports.readiness_section import readiness_for
from clinic_app.reports.readiness_section import section as readiness_section

if TYPE_CHECKING:
    from clinic_app.domain.charts import EpisodeChart, ReportData
    from clinic_app.domain.plan_of_care import PlanOfCare

TITLE = "Rehabilitation progress report"
CONFIDENTIAL = (
    "CONFIDENTIAL – contains personal health information. For the addressee's clinical use "
    "only; do not disclose without the patient's consent."
)
PAGE_W, PAGE_H = A4
MARGIN_X = 18 * mm
MARGIN_TOP = 16 * mm
MARGIN_BOTTOM = 21 * mm
FRAME_W = PAGE_W - 2 * MARGIN_X
FRAME_H = PAGE_H - MARGIN_TOP - MARGIN_BOTTOM
INK = colors.HexColor("#222222")
MUTED = colors.HexColor("#5b6470")
ACCENT = colors.HexColor("#1f5fa8")
RULE = colors.HexColor("#c9ced6")
HEAD_BG = colors.HexColor("#e9eef5")
ZEBRA = colors.HexColor("#f6f8fb")


class _Styles:
    def __init__(self, font: str, bold: str) -> None:
        self.font, self.bold = font, bold
        base = ParagraphStyle("base", fontName=font, fontSize=9, leading=12, textColor=INK)
        self.body = base
        self.small = ParagraphStyle("small", base, fontSize=7.5, leading=9.5, textColor=MUTED)
        self.cell = ParagraphStyle("cell", base, fontSize=8, leading=10)
        self.cell_r = ParagraphStyle("cell_r", self.cell, alignment=TA_RIGHT)
        self.head = ParagraphStyle("head", self.cell, fontName=bold, fontSize=7.5, leading=9)
        self.head_r = ParagraphStyle("head_r", self.head, alignment=TA_RIGHT)
        self.label = ParagraphStyle("label", base, fontSize=7.5, leading=9.5, textColor=MUTED)
        self.value = ParagraphStyle("value", base, fontName=bold, fontSize=9, leading=11.5)
        self.title = ParagraphStyle("title", base, fontName=bold, fontSize=16, leading=20,
                                    textColor=ACCENT, spaceBefore=4, spaceAfter=6)
        self.h2 = ParagraphStyle("h2", base, fontName=bold, fontSize=12, leading=15,
                                 textColor=ACCENT, spaceBefore=10, spaceAfter=4)
        self.h3 = ParagraphStyle("h3", base, fontName=bold, fontSize=10, leading=13,
                                 spaceBefore=8, spaceAfter=3)
        self.bullet = ParagraphStyle("bullet", base, fontSize=8.5, leading=11, leftIndent=10,
                                     bulletIndent=2, spaceAfter=1.5)
        self.clinic = ParagraphStyle("clinic", base, fontName=bold, fontSize=13, leading=16)
        self.clinic_r = ParagraphStyle("clinic_r", self.small, alignment=TA_RIGHT)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _letterhead(data: ReportData, st: _Styles) -> list[Flowable]:
    clinic = data.clinic
    lines = [f"<font name='{st.bold}' size='13'>{escape(clinic.name)}</font>"] if clinic.name \
        else []
    lines += [escape(x.strip()) for x in clinic.address.splitlines() if x.strip()]
    if clinic.phone:
        lines.append(f"Tel. {escape(clinic.phone)}")
    info = Paragraph("<br/>".join(lines), ParagraphStyle("lh", st.body, leading=12)) \
        if lines else Spacer(1, 1)
    logo: Flowable | None = None
    if clinic.logo_png:
        try:
            reader = ImageReader(io.BytesIO(clinic.logo_png))
            iw, ih = reader.getSize()
            h = 18 * mm
            w = min(45 * mm, h * iw / ih)
            logo = Image(io.BytesIO(clinic.logo_png), width=w, height=w * ih / iw)
        except Exception:  # a damaged logo must not stop a clinical report
            logo = None
    right = Paragraph(
        f"Report date: {escape(c.fmt_datetime(data.generated_at))}<br/>"
        f"Prepared by: {escape(data.therapist)}", st.clinic_r,
    )
    if logo is not None:
        row = [[logo, info, right]]
        widths = [logo.drawWidth + 5 * mm, None, 55 * mm]
    else:
        row = [[info, right]]
        widths = [None, 55 * mm]
    table = Table(row, colWidths=widths)
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("LINEBELOW", (0, 0), (-1, -1), 1.2, ACCENT), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return [table, Spacer(1, 4)]


def _patient_block(data: ReportData, st: _Styles, ref: date) -> list[Flowable]:
    p = data.patient.draft
    sex = "" if p.sex == Sex.UNKNOWN else f", {p.sex.value}"
    pairs = [
        ("Patient", f"{p.family_name}, {p.given_name}"),
        ("MRN", p.mrn),
        ("Date of birth (age)",
         f"{c.fmt_date(p.date_of_birth)} ({c.age_on(p.date_of_birth, ref)} y{sex})"),
        ("Period covered", c.period_text(data.period_start, data.period_end, _span(data))),
        ("Therapist", data.therapist),
    ]
    return [_stacked_grid(pairs, st)]


def _headlines(ep: EpisodeChart, st: _Styles, ref: date,
               bwt_fall_flag: bool = True) -> list[Flowable]:
    """The opening lines a referring doctor reads first (newest episode), in a shaded box."""
    lines = c.headlines(ep.episode.draft, c.measure_series(ep.tests, bwt_fall_flag), ref)
    style = ParagraphStyle("headline", st.body, fontSize=9.5, leading=12.5)
    rows = [[Paragraph(f"<font name='{st.bold}'>{escape(h.lead)}:</font> {escape(h.text)}",
                       style)] for h in lines]
    table = Table(rows, colWidths=[FRAME_W])
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), HEAD_BG),
        ("LINEBEFORE", (0, 0), (0, -1), 2.5, ACCENT),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("TOPPADDING", (0, 0), (-1, 0), 6), ("BOTTOMPADDING", (0, -1), (-1, -1), 6),
    ]))
    return [Spacer(1, 2), table, Spacer(1, 4)]


def _span(data: ReportData) -> tuple[date, date] | None:
    """First and last day with a session or test in the report."""
    days = [s.draft.performed_at.astimezone().date() for ep in data.episodes for s in ep.sessions]
    days += [t.draft.performed_on for ep in data.episodes for t in ep.tests]
    return (min(days), max(days)) if days else None


def _stacked_grid(pairs: list[tuple[str, str]], st: _Styles, cols: int = 3) -> Table:
    cells = [[_p(label, st.label), _p(value or c.DASH, st.value)] for label, value in pairs]
    rows: list[list[Any]] = []
    for i in range(0, len(cells), cols):
        chunk = cells[i:i + cols]
        chunk += [[Spacer(1, 1), Spacer(1, 1)]] * (cols - len(chunk))
        rows.append(chunk)
    table = Table(rows, colWidths=[FRAME_W / cols] * cols)
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    return table


def _episode_block(ep: EpisodeChart, data: ReportData, st: _Styles, ref: date,
                   trailer: list[Flowable] | None = None) -> list[Flowable]:
    """One episode's details; ``trailer`` (the signature) is kept with its last lines."""
    d = ep.episode.draft
    out: list[Flowable] = []
    heading = f"Episode of care: {d.diagnosis.label}, {d.affected_side.value} knee"
    pairs = [
        ("Diagnosis", d.diagnosis.label),
        ("Affected side", d.affected_side.value.capitalize()),
        ("Referring doctor", d.referring_doctor),
        ("Episode start", c.fmt_date(d.start_date)),
        ("Surgery date", c.weeks_post_op_text(d.surgery_date, ref)),
        *([("Surgery type", surgery_label(d.surgery_type))] if d.surgery_date else []),
        ("Treating therapist", d.treating_therapist),
        ("Episode end", c.fmt_date(d.end_date) if d.end_date else "Ongoing"),
    ]
    out += [CondPageBreak(60 * mm), _p(heading, st.h2), _stacked_grid(pairs, st)]

    series = c.measure_series(ep.tests, data.bwt_fall_flag)
    out.append(_p("Summary", st.h3))
    out.append(_p(c.summary_paragraph(series, d.surgery_date, d.affected_side), st.body))
    sentences = c.interpretations(series, d.affected_side)
    koos4 = c.koos4_sentence(series)
    if koos4 is not None:
        sentences.append(koos4)
    bullets = [Paragraph(escape(s), st.bullet, bulletText="•") for s in sentences]
    if bullets:
        out += [Spacer(1, 4), *bullets[:-1]]
    counts = _p(f"{_count(len(ep.sessions), 'retro-walking session')} and "
                f"{_count(len(ep.tests), 'test result')} in the period.", st.small)
    out.append(KeepTogether([*bullets[-1:], Spacer(1, 2), counts]))  # no orphaned line

    today = data.generated_at.astimezone().date()
    view = readiness_for(d.diagnosis, d.affected_side, d.surgery_date, ep.tests,
                         min(data.period_end or today, today), data.criteria_set)
    if view is not None:
        out.append(CondPageBreak(70 * mm))
        out += readiness_section(view, st, _table_style(), FRAME_W)

    plan = data.plans.get(ep.episode.id)
    if plan is not None:
        out += _plan_section(plan, st)

    out.append(CondPageBreak(40 * mm))
    out.append(_p("Standardized tests", st.h3))
    if series:
        out.append(_tests_table([c.result_row(s, d.affected_side) for s in series], st))
        out.append(Spacer(1, 2))
        out.append(_p("Baseline = first result in the period; change = latest − baseline. "
                      "MCID = minimal clinically important difference; 'n.a.' where none is "
                      "published or there is no follow-up yet.", st.small))
    else:
        out.append(_p("No standardized tests recorded in this period.", st.body))

    specs = c.chart_specs(series, d.affected_side)
    if specs:
        out.append(CondPageBreak(95 * mm))  # the heading goes with the first row of charts
        out.append(_p("Progress charts", st.h3))
        out.append(_charts_grid(specs, st))

    out.append(CondPageBreak(40 * mm))
    out.append(_p("Retro-walking sessions", st.h3))
    tail: list[Flowable] = []
    if ep.sessions:
        events = c.adverse_events(ep.sessions)
        if events:
            tail.append(_p("Adverse events reported", st.h3))
            tail += [Paragraph(f"<b>{escape(day)}</b>: {escape(text)}", st.bullet,
                               bulletText="•") for day, text in events]
        else:
            tail.append(Spacer(1, 2))
            tail.append(_p("No adverse events were recorded in these sessions.", st.small))
        rows = [c.session_row(s) for s in ep.sessions]
        if trailer:
            out.append(_KeepTail(lambda part: _sessions_table(part, st), rows,
                                 [*tail, *trailer]))
            return out
        out.append(_sessions_table(rows, st))
        out += tail
    else:
        out.append(_p("No retro-walking sessions recorded in this period.", st.body))
    if trailer:
        out.append(KeepTogether([out.pop(), *trailer]))
    return out


def _plan_section(plan: PlanOfCare, st: _Styles) -> list[Flowable]:
    """Goals with their status, and the programme's safety and adherence counts."""
    from clinic_app.reports.plan_documents import goal_rows

    out: list[Flowable] = [CondPageBreak(40 * mm), _p("Plan of care", st.h3)]
    rows = goal_rows(plan.goals)
    if rows:
        head = [_p(h, st.head) for h in ("Goal", "Target", "Status", "Reason")]
        body = [[_p(x, st.cell) for x in r] for r in rows]
        table = Table([head, *body], colWidths=[FRAME_W * 0.30, FRAME_W * 0.22,
                                                 FRAME_W * 0.13, FRAME_W * 0.35], repeatRows=1)
        table.setStyle(TableStyle(_table_style()))
        out.append(table)
    else:
        out.append(_p("No goals recorded for this episode.", st.body))
    facts = [f"{_count(plan.sessions, 'clinic session')}, "
             f"{_count(plan.home_sessions, 'home session')} (self-reported)",
             f"{_count(plan.spotter_sessions, 'session')} with a spotter",
             f"{_count(plan.adverse_events, 'adverse event')}"]
    if plan.adherence is not None:
        facts.append(f"adherence: {plan.adherence.describe()}")
    if plan.prescription is not None:
        facts.append(f"current prescription: {plan.prescription.draft.dose.describe()}")
    out += [Spacer(1, 3), _p("; ".join(facts) + ".", st.small)]
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class _KeepTail(Flowable):
    """A table that never leaves fewer than ``min_rows`` of its rows to go with ``trailer``.

    Without it the signature can land on a page of its own, or under two stray table rows.
    The flowable always asks to be split; the split places as many rows as fit while keeping
    the last ``min_rows`` rows (or the whole table, if short) together with the trailer.
    """

    def __init__(self, make_table: Any, rows: list[Any], trailer: list[Flowable],
                 min_rows: int = 4) -> None:
        super().__init__()
        self._make, self._rows, self._trailer, self._min = make_table, rows, trailer, min_rows
        self._pushed = False

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        return availWidth, availHeight + 1  # never drawn whole: see split()

    def draw(self) -> None:  # pragma: no cover - always split first
        raise AssertionError("_KeepTail is always split")

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        from reportlab.platypus.doctemplate import FrameBreak

        table = self._make(self._rows)
        _, table_h = table.wrap(availWidth, availHeight)
        trailer_h = sum(f.wrap(availWidth, availHeight)[1] + f.getSpaceBefore()
                        + f.getSpaceAfter() for f in self._trailer)
        if table_h + trailer_h <= availHeight:
            return [table, *self._trailer]
        heights = table._rowHeights  # header first, then one height per row
        if heights[0] + sum(heights[-self._min:]) + trailer_h > FRAME_H:
            # A trailer this long (many adverse events) never shares a page with the last
            # rows: let both flow, keeping only the signature with the line before it.
            parts = table.split(availWidth, availHeight) or [FrameBreak(), table]
            return [*parts, *self._trailer[:-3], KeepTogether(self._trailer[-3:])]
        used, fit = heights[0], 0
        for h in heights[1:]:
            if used + h > availHeight:
                break
            used, fit = used + h, fit + 1
        keep = min(fit, len(self._rows) - self._min)
        if keep <= 0:
            frame = getattr(self, "_frame", None)  # set by the frame that is placing us
            if self._pushed or getattr(frame, "_atTop", False):
                return [table, *self._trailer]  # a fresh page cannot do better: flow on
            self._pushed = True
            return [FrameBreak(), self]
        rest = _KeepTail(self._make, self._rows[keep:], self._trailer, self._min)
        return [self._make(self._rows[:keep]), rest]


def _table_style(header_rows: int = 1) -> list[tuple[Any, ...]]:
    return [
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), HEAD_BG),
        ("ROWBACKGROUNDS", (0, header_rows), (-1, -1), [colors.white, ZEBRA]),
        ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.8, MUTED),
        ("LINEBELOW", (0, -1), (-1, -1), 0.6, RULE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.8),
    ]


def _tests_table(rows: list[c.ResultRow], st: _Styles) -> Table:
    head = ["Measure", "Side", "Baseline", "Latest", "Change", "MCID", "MCID reached"]
    data: list[list[Any]] = [[_p(h, st.head) for h in head]]
    date_style = ParagraphStyle("d", st.cell, fontSize=6.8, leading=8.5, textColor=MUTED)
    for r in rows:
        change = escape(r.change)
        if r.direction:
            change += f"<br/><font size='6.8' color='#5b6470'>{escape(r.direction)}</font>"
        reached = {"yes": f"<font name='{st.bold}' color='#2e8540'>yes</font>",
                   "no": "no"}.get(r.mcid_reached, "n.a.")
        measure = escape(r.measure)
        if r.reading:
            measure += f"<br/><font size='6.8' color='#5b6470'>{escape(r.reading)}</font>"
        data.append([
            Paragraph(measure, st.cell),
            _p(r.side, st.cell),
            [_p(r.baseline, st.cell), _p(r.baseline_date, date_style)],
            [_p(r.latest, st.cell), _p(r.latest_date, date_style)],
            Paragraph(change, st.cell),
            _p(r.mcid, st.cell),
            Paragraph(reached, st.cell),
        ])
    widths = [46 * mm, 19 * mm, 23 * mm, 23 * mm, 21 * mm, 22 * mm, 20 * mm]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(_table_style()))
    return table


SESSION_HEAD = (
    ("Date", 22), ("Mode", 21), ("Speed\n(km/h)", 15), ("Duration\n(min)", 16),
    ("Distance\n(m)", 16), ("Incline\n(%)", 14), ("Assistance", 22),
    ("Pain NPRS\nbefore → after", 26), ("RPE\n(CR10)", 12),
)


def _sessions_table(rows: list[c.SessionRow], st: _Styles) -> Table:
    right = {2, 3, 4, 5, 8}
    head = [Paragraph(escape(h).replace("\n", "<br/>"), st.head_r if i in right else st.head)
            for i, (h, _) in enumerate(SESSION_HEAD)]
    body = [[r.date, r.mode, r.speed_kmh, r.duration_min, r.distance_m, r.incline_pct,
             r.assistance, r.pain, r.rpe] for r in rows]
    scale = FRAME_W / (sum(w for _, w in SESSION_HEAD) * mm)
    widths = [w * mm * scale for _, w in SESSION_HEAD]
    table = Table([head, *body], colWidths=widths, repeatRows=1)
    style = _table_style() + [
        ("FONT", (0, 1), (-1, -1), st.font, 8),
        ("ALIGN", (2, 1), (5, -1), "RIGHT"),
        ("ALIGN", (8, 1), (8, -1), "RIGHT"),
        ("ALIGN", (7, 1), (7, -1), "CENTER"),
    ]
    head[7] = Paragraph(head[7].text, ParagraphStyle("head_c", st.head, alignment=TA_CENTER))
    table.setStyle(TableStyle(style))
    return table


def _charts_grid(specs: list[c.ChartSpec], st: _Styles) -> Table:
    gap = 6 * mm
    w = (FRAME_W - gap) / 2
    h = 62 * mm
    # Charts with several lines (the KOOS subscales) take the full width: five lines and
    # their legend are unreadable in half a page.
    wide = [s for s in specs if len(s.lines) > 2]
    small = [progress_chart(s, w, h, st.font, st.bold) for s in specs if s not in wide]
    rows: list[list[Any]] = [small[i:i + 2] + [""] * (2 - len(small[i:i + 2]))
                             for i in range(0, len(small), 2)]
    spans = []
    for s in wide:
        spans.append(("SPAN", (0, len(rows)), (1, len(rows))))
        rows.append([progress_chart(s, FRAME_W, h * 1.15, st.font, st.bold), ""])
    table = Table(rows, colWidths=[w + gap / 2, w + gap / 2])
    table.setStyle(TableStyle([
        ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), *spans,
    ]))
    return table


def _signature(data: ReportData, st: _Styles) -> list[Flowable]:
    """The signature lines; the caller keeps them with the content before them."""
    line = "_" * 38
    rows = [
        [_p("Therapist", st.label), _p("Signature", st.label), _p("Date", st.label)],
        [_p(data.therapist, st.value), _p(line, st.body), _p("_" * 18, st.body)],
    ]
    table = Table(rows, colWidths=[FRAME_W * 0.36, FRAME_W * 0.42, FRAME_W * 0.22])
    table.setStyle(TableStyle([
        ("LEFTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("TOPPADDING", (0, 1), (-1, 1), 14),
    ]))
    return [Spacer(1, 12), table]


def _canvas_class(data: ReportData, st: _Styles, pages_out: list[int]) -> type[Canvas]:
    """A canvas that defers page furniture until the page count is known ("Page X of Y")."""
    p = data.patient.draft
    running = f"{p.family_name}, {p.given_name} · MRN {p.mrn} · {TITLE}"
    generated = f"Generated {c.fmt_datetime(data.generated_at)} by Backstep"
    if data.report_id:
        generated += f" · report ID {data.report_id}"

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab API
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            pages_out.append(total)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._furniture(number, total)
                super().showPage()
            super().save()

        def _furniture(self, number: int, total: int) -> None:
            self.saveState()
            y = MARGIN_BOTTOM - 8 * mm
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(MARGIN_X, y + 9, PAGE_W - MARGIN_X, y + 9)
            self.setFillColor(MUTED)
            self.setFont(st.bold, 7)
            self.drawString(MARGIN_X, y, CONFIDENTIAL[:CONFIDENTIAL.index("–") + 1])
            w = self.stringWidth(CONFIDENTIAL[:CONFIDENTIAL.index("–") + 1] + " ", st.bold, 7)
            self.setFont(st.font, 7)
            self.drawString(MARGIN_X + w, y, CONFIDENTIAL[CONFIDENTIAL.index("–") + 2:])
            self.drawString(MARGIN_X, y - 9, generated)
            self.setFont(st.bold, 8)
            self.setFillColor(INK)
            self.drawRightString(PAGE_W - MARGIN_X, y - 9, f"Page {number} of {total}")
            if number > 1:
                self.setFont(st.font, 7.5)
                self.setFillColor(MUTED)
                top = PAGE_H - MARGIN_TOP + 5 * mm
                self.drawString(MARGIN_X, top, running)
                self.line(MARGIN_X, top - 3, PAGE_W - MARGIN_X, top - 3)
            self.restoreState()

    return NumberedCanvas


def build(data: ReportData, out: Path | BinaryIO) -> int:
    """Write the report PDF to ``out``; returns the number of pages."""
    font, bold = register_fonts()
    st = _Styles(font, bold)
    today = data.generated_at.astimezone().date()
    span = _span(data)
    # "weeks post-op" refers to the end of the period (or the last record), not the print date
    ref = min(data.period_end or (span[1] if span else today), today)
    p = data.patient.draft
    story: list[Flowable] = []
    story += _letterhead(data, st)
    story.append(_p(TITLE, st.title))
    story += _patient_block(data, st, data.generated_at.astimezone().date())
    signature = _signature(data, st)
    if not data.episodes:
        story.append(KeepTogether([_p("No episode of care with records in this period.",
                                      st.body), *signature]))
    else:
        story += _headlines(data.episodes[0], st, ref, data.bwt_fall_flag)
    for i, ep in enumerate(data.episodes):
        last = i == len(data.episodes) - 1
        story += _episode_block(ep, data, st, ref, signature if last else None)

    target = str(out) if isinstance(out, Path) else out
    doc = SimpleDocTemplate(
        target, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM, title=f"{TITLE} – MRN {p.mrn}",
        author=data.clinic.name or "Backstep", subject=TITLE, creator="Backstep",
    )
    pages: list[int] = []
    doc.build(story, canvasmaker=_canvas_class(data, st, pages))
    return pages[-1]
