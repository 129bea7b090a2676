"""Report building blocks without a database: fonts lookup, table rows, chart selection."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from clinic_app.domain.progress import MeasureSeries, Point
from clinic_app.domain.records import Side
from clinic_app.reports import content, fonts
from clinic_app.reports.charts import date_ticks, nice_ticks


def test_fonts_dir_default_env_and_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(fonts.FONTS_ENV, raising=False)
    default = fonts.fonts_dir()
    assert (default / "DejaVuSans.ttf").is_file() and (default / "DejaVuSans-Bold.ttf").is_file()
    assert (default / "LICENSE").read_text().startswith("DejaVu Sans")
    monkeypatch.setenv(fonts.FONTS_ENV, str(tmp_path))
    assert fonts.fonts_dir() == tmp_path
    fonts.set_fonts_dir(tmp_path / "frozen")
    try:
        assert fonts.fonts_dir() == tmp_path / "frozen"
    finally:
        fonts.set_fonts_dir(None)


def test_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(fonts.FONTS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"DejaVuSans\.ttf not found in .*CLINIC_APP_FONTS"):
        fonts.register_fonts()


def test_result_row_uses_domain_mcid_and_direction() -> None:
    lefs = MeasureSeries("lefs", (Point(date(2026, 1, 5), 40.0), Point(date(2026, 2, 5), 50.0)))
    row = content.result_row(lefs)
    assert (row.baseline, row.latest, row.change) == ("40 points", "50 points", "+10 points")
    assert (row.direction, row.mcid, row.mcid_reached) == ("better", "9 points", "yes")
    small = MeasureSeries("lefs", (Point(date(2026, 1, 5), 40.0), Point(date(2026, 2, 5), 48.0)))
    assert content.result_row(small).mcid_reached == "no"
    tug = MeasureSeries("tug", (Point(date(2026, 1, 5), 12.0), Point(date(2026, 2, 5), 10.9)))
    row = content.result_row(tug)  # no knee MCID for the TUG: none is claimed
    assert (row.change, row.direction, row.mcid_reached) == ("-1.1 s", "better", "n.a.")
    flex = MeasureSeries("knee_flexion_rom", (Point(date(2026, 1, 5), 100.0),), Side.LEFT)
    single = content.result_row(flex, Side.LEFT)
    assert single.side == "Left (affected)" and single.mcid_reached == "n.a."
    assert single.latest == content.DASH and single.mcid == "none published"


def test_chart_specs_need_two_points_and_group_koos() -> None:
    d1, d2 = date(2026, 1, 5), date(2026, 2, 5)
    series = [
        MeasureSeries("bwt_3m", (Point(d1, 6.0), Point(d2, 5.0))),
        MeasureSeries("tug", (Point(d1, 12.0),)),  # one point: no chart
        MeasureSeries("knee_flexion_rom", (Point(d1, 90.0), Point(d2, 110.0)), Side.LEFT),
        MeasureSeries("knee_flexion_rom", (Point(d1, 138.0), Point(d2, 139.0)), Side.RIGHT),
        MeasureSeries("koos_pain", (Point(d1, 40.0), Point(d2, 60.0))),
        MeasureSeries("koos_qol", (Point(d1, 30.0), Point(d2, 45.0))),
    ]
    specs = content.chart_specs(series, Side.LEFT)
    assert [s.title for s in specs] == ["3MBWT", "Knee flexion", "KOOS subscales"]
    flex = specs[1]
    assert [(ln.label, ln.primary) for ln in flex.lines] == [
        ("Left (affected)", True), ("Right (reference)", False)]
    assert [ln.label for ln in specs[2].lines] == ["Pain", "QoL"]


def test_axis_ticks() -> None:
    assert nice_ticks(3.2, 8.1) == [2.0, 4.0, 6.0, 8.0, 10.0]  # covers 8.1
    assert nice_ticks(0.71, 1.06) == [0.7, 0.8, 0.9, 1.0, 1.1]
    ticks = date_ticks(date(2026, 1, 1), date(2026, 1, 31))
    assert ticks[0] == date(2026, 1, 1) and ticks[-1] == date(2026, 1, 31) and len(ticks) == 4
    assert date_ticks(date(2026, 1, 1), date(2026, 1, 1)) == [date(2026, 1, 1)]


def test_session_row_formats_si_values() -> None:
    from datetime import UTC, datetime

    from clinic_app.domain.records import Stamp, WalkSession, WalkSessionDraft

    when = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    stamp = Stamp(when, "x", when, "x", 1)
    draft = WalkSessionDraft(when, speed_m_s=0.5, duration_min=12.0, distance_m=360.0,
                             incline_pct=2.5, pain_before=4, pain_after=None, rpe=4.5)
    import uuid

    row = content.session_row(WalkSession(uuid.uuid4(), uuid.uuid4(), draft, stamp))
    assert (row.speed_kmh, row.duration_min, row.distance_m) == ("1.8", "12", "360")
    assert (row.incline_pct, row.pain, row.rpe) == ("2.5", "4 → –", "4.5")


def test_build_into_stream_without_episodes() -> None:
    from datetime import UTC, datetime

    from clinic_app.domain.records import ClinicInfo, Patient, PatientDraft, Stamp
    from clinic_app.reports import build_progress_report
    from clinic_app.services.charting import PatientChart
    from clinic_app.services.reporting import ReportData

    now = datetime(2026, 3, 5, 12, tzinfo=UTC)
    import uuid

    patient = Patient(uuid.uuid4(), PatientDraft("P-1", "Yılmaz", "Ayşe", date(1980, 1, 1)),
                      Stamp(now, "x", now, "x", 1))
    data = ReportData(ClinicInfo("Clinic"), PatientChart(patient, ()), None, None, "T", now)
    buf = io.BytesIO()
    assert build_progress_report(data, buf) == 1
    assert buf.getvalue().startswith(b"%PDF-")


def test_headline_does_not_read_an_early_lsi_as_clearance_for_sport() -> None:
    from clinic_app.domain.records import Diagnosis, EpisodeDraft

    d1, d2 = date(2026, 2, 2), date(2026, 5, 4)
    series = [MeasureSeries("quad_lsi", (Point(d1, 70.0), Point(d2, 92.0)))]
    acl = EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT, date(2026, 1, 20),
                       surgery_date=date(2026, 1, 12))
    lines = {h.lead: h.text for h in content.headlines(acl, series, d2)}
    assert lines["Criteria met"] == ("Quad LSI (return-to-sport criterion); return to sport "
                                     "not before 9 months after surgery")
    late = {h.lead: h.text for h in content.headlines(acl, series, date(2026, 10, 20))}
    assert late["Criteria met"] == "Quad LSI (return-to-sport criterion)"
