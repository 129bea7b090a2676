"""The outcomes report's figures as one CSV table, without identifiers.

One row per diagnosis and measure (``measure`` empty on the diagnosis's own row), so the
file opens in a spreadsheet and answers "what share reached the MCID" directly.
"""

from __future__ import annotations

import csv
from pathlib import Path

from clinic_app.domain.cohorts import OutcomesData

COLUMNS = ("diagnosis", "measure", "episodes", "median_sessions_per_episode", "sessions",
           "sessions_with_adverse_event", "adverse_event_rate", "rts_episodes",
           "median_weeks_to_rts", "mcid", "reached_mcid", "share_reached_mcid",
           "median_change")


def _num(v: float | None) -> str:
    return "" if v is None else repr(round(v, 6))


def outcome_rows(data: OutcomesData) -> list[dict[str, str]]:
    """The CSV rows as dictionaries keyed by :data:`COLUMNS`."""
    rows: list[dict[str, str]] = []
    for d in data.rows:
        rows.append({
            "diagnosis": d.diagnosis, "measure": "", "episodes": str(d.episodes),
            "median_sessions_per_episode": _num(d.median_sessions), "sessions": str(d.sessions),
            "sessions_with_adverse_event": str(d.sessions_with_adverse_event),
            "adverse_event_rate": _num(d.adverse_event_rate),
            "rts_episodes": str(d.rts_episodes), "median_weeks_to_rts": _num(d.median_weeks_to_rts),
            "mcid": "", "reached_mcid": "", "share_reached_mcid": "", "median_change": "",
        })
        for m in d.measures:
            rows.append({
                "diagnosis": d.diagnosis, "measure": m.measure_id, "episodes": str(m.episodes),
                "median_sessions_per_episode": "", "sessions": "",
                "sessions_with_adverse_event": "", "adverse_event_rate": "",
                "rts_episodes": "", "median_weeks_to_rts": "", "mcid": _num(m.mcid),
                "reached_mcid": str(m.reached_mcid), "share_reached_mcid": _num(m.share_reached),
                "median_change": _num(m.median_change),
            })
    return rows


def write_outcomes_csv(data: OutcomesData, out: Path) -> int:
    """Write the figures to ``out`` (UTF-8, comma separated); returns the data rows."""
    rows = outcome_rows(data)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return len(rows)
