"""The outcomes report PDF and CSV from given figures: every figure printed as stated, no
identifier, long content flowing onto further pages, and the page rendered by pdftoppm."""

from __future__ import annotations

import csv
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from clinic_app.domain.cohorts import DiagnosisOutcome, MeasureOutcome, OutcomesData
from clinic_app.interop.outcomes_csv import COLUMNS, write_outcomes_csv
from clinic_app.reports.outcomes_report import build_outcomes_report


def _data(rows: int = 2) -> OutcomesData:
    acl = DiagnosisOutcome(
        "acl_reconstruction", 12, 23.5, 290, 7,
        (MeasureOutcome("koos_pain", 11, 8.0, 9, 21.25),
         MeasureOutcome("nprs", 12, 2.0, 8, -3.5)),
        rts_episodes=3, median_weeks_to_rts=41.3)
    oa = DiagnosisOutcome("knee_osteoarthritis", 9, 10.0, 95, 0, ())
    return OutcomesData("Physio Nord", "Kim Therapist", date(2026, 3, 1), None,
                        (acl, oa)[:rows])


def _text(pdf: Path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(pdf).pages)


def test_figures_as_stated(tmp_path: Path) -> None:
    pdf = tmp_path / "o.pdf"
    assert build_outcomes_report(_data(), pdf) == 1
    text = _text(pdf)
    assert "Outcomes report — Physio Nord" in text
    assert "2.4 % (7 of 290)" in text
    assert "41.3 weeks (3 episode(s) met them)" in text
    assert "81.8 % (9 of 11)" in text and "+21.25 points" in text
    assert "66.7 % (8 of 12)" in text and "-3.5" in text
    assert "not applicable (ACL reconstruction only)" in text
    assert "No measure with an MCID was recorded twice" in text


def test_many_diagnoses_flow_onto_pages(tmp_path: Path) -> None:
    base = _data(1).rows[0]
    many = OutcomesData("", "Kim", date(2026, 3, 1), None, tuple(base for _ in range(8)))
    pdf = tmp_path / "many.pdf"
    pages = build_outcomes_report(many, pdf)
    assert pages == len(PdfReader(pdf).pages) >= 2
    assert _text(pdf).count("Sessions per episode (median)") == 8


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_renders(tmp_path: Path) -> None:
    pdf = tmp_path / "o.pdf"
    build_outcomes_report(_data(), pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 5_000


def test_csv_same_figures(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    assert write_outcomes_csv(_data(), out) == 4
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert tuple(rows[0]) == COLUMNS
    acl, pain, nprs, oa = rows
    assert (acl["episodes"], acl["sessions"], acl["sessions_with_adverse_event"]) == (
        "12", "290", "7")
    assert float(acl["adverse_event_rate"]) == pytest.approx(7 / 290, abs=1e-6)
    assert float(acl["median_weeks_to_rts"]) == 41.3
    assert (pain["measure"], pain["reached_mcid"], pain["median_change"]) == (
        "koos_pain", "9", "21.25")
    assert float(pain["share_reached_mcid"]) == pytest.approx(9 / 11, abs=1e-6)
    assert nprs["median_change"] == "-3.5" and oa["adverse_event_rate"] == "0.0"
