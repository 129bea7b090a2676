"""The return-to-sport readiness section of the progress report (ACL episodes): the same
criteria, values, thresholds, statuses and dates as the screen's Return-to-sport tab, the
verdict and the rehabilitation phase."""

from __future__ import annotations

from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from clinic_app.domain.progress import format_date
from clinic_app.domain.readiness import (
    EpisodeReadiness,
    Status,
    Verdict,
    episode_readiness,
    is_acl_episode,
    next_phase_text,
    phase_line,
)
from clinic_app.domain.records import Side, TestResult

STATUS_WORD = {Status.PASS: "pass", Status.NOT_YET: "not yet",
               Status.NOT_MEASURED: "not measured", Status.REVIEW: "review"}
STATUS_COLOUR = {Status.PASS: "#2e8540", Status.NOT_YET: "#b71c1c",
                 Status.NOT_MEASURED: "#5b6470", Status.REVIEW: "#8a6d00"}
VERDICT_COLOUR = {Verdict.READY: "#2e8540", Verdict.NOT_YET: "#b71c1c",
                  Verdict.INCOMPLETE: "#8a6d00"}


def readiness_for(diagnosis: str, affected: str, surgery: date | None,
                  tests: tuple[TestResult, ...], as_of: date,
                  criteria_set: str) -> EpisodeReadiness | None:
    """The readiness shown for an episode, or ``None`` when it is not an ACL episode."""
    if not is_acl_episode(diagnosis):
        return None
    return episode_readiness(tests, affected=Side(affected), surgery_date=surgery,
                             as_of=as_of, criteria_set=criteria_set)


def section(view: EpisodeReadiness, styles: Any, table_style: list[tuple[Any, ...]],
            width: float) -> list[Flowable]:
    """Flowables: heading, verdict, criteria table, phase and source."""
    st = styles
    r = view.readiness
    verdict = ParagraphStyle("verdict", st.body, fontName=st.bold, fontSize=10, leading=13,
                             textColor=colors.HexColor(VERDICT_COLOUR[r.verdict]))
    head = ["Criterion", "Latest", "Threshold", "Status", "Measured", "Detail"]
    rows: list[list[Any]] = [[Paragraph(h, st.head) for h in head]]
    for res in r.results:
        colour = STATUS_COLOUR[res.status]
        rows.append([
            Paragraph(escape(res.criterion.label), st.cell),
            Paragraph(escape(res.value_text), st.cell),
            Paragraph(escape(res.threshold_text), st.cell),
            Paragraph(f"<font name='{st.bold}' color='{colour}'>"
                      f"{STATUS_WORD[res.status]}</font>", st.cell),
            Paragraph(format_date(res.measured_on) if res.measured_on else "—", st.cell),
            Paragraph(escape(res.detail), st.cell),
        ])
    widths = [36 * mm, 17 * mm, 36 * mm, 18 * mm, 23 * mm]
    widths.append(width - sum(widths))
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(table_style))
    out: list[Flowable] = [
        Paragraph("Return-to-sport readiness", st.h3),
        Paragraph(escape(f"Criteria set: {r.criteria_set.name}. As of {format_date(r.as_of)}."),
                  st.body),
        Spacer(1, 2),
        Paragraph(escape(r.verdict_text), verdict),
        Spacer(1, 3),
        table,
    ]
    tail: list[Flowable] = [Spacer(1, 4)]
    if view.phase is not None:
        tail.append(Paragraph(escape("Rehabilitation phase: " + phase_line(view.phase)),
                              ParagraphStyle("ph", st.body, fontName=st.bold)))
        crit = view.phase.by_criteria
        tail.append(Paragraph(escape(f"{crit.label}: {crit.goals}"), st.body))
        needs = next_phase_text(view.phase)
        if needs:
            tail.append(Paragraph(escape(needs), st.body))
    else:
        tail.append(Paragraph("Rehabilitation phase: no surgery date on this episode.", st.body))
    tail += [Paragraph(escape(line), st.body) for line in view.pairs]
    tail.append(Spacer(1, 2))
    tail.append(Paragraph(escape(f"Source: {r.criteria_set.source} Each criterion is decided "
                                 "on the exact value, printed with the decimals that show "
                                 "why. Decision support only; the treating clinician "
                                 "decides."), st.small))
    return [KeepTogether(out[:5]), table, KeepTogether(tail)]
