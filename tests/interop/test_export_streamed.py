"""The CSV export is written page by page from one snapshot, with progress from the start."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    WalkSessionDraft,
)
from clinic_app.persistence import bulk
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.interop import export_csv


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_in_pages_writes_every_patient_once_with_progress(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "CHART_PAGE", 2)
    svc = ChartingService(db, as_user(db, "t"))
    for i in range(5):
        p = svc.register_patient(PatientDraft(f"P-{i}", "Ødegård", "Åse", date(1960, 1, 1 + i)))
        ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                                 date(2024, 1, 1)))
        svc.record_session(ep.id, WalkSessionDraft(
            datetime(2024, 2, 1 + i, 9, tzinfo=UTC), duration_min=10, distance_m=300 + i))
    seen: list[tuple[int, int]] = []
    summary = export_csv(db, as_user(db, "t"), tmp_path / "out",
                         progress=lambda done, total: seen.append((done, total)))
    assert (summary.patients, summary.episodes, summary.sessions) == (5, 5, 5)
    assert seen[0] == (0, 5) and seen[-1] == (5, 5) and len(seen) == 1 + 3  # 3 pages
    patients = _rows(tmp_path / "out" / "patients.csv")
    assert sorted(r["mrn"] for r in patients) == [f"P-{i}" for i in range(5)]
    sessions = _rows(tmp_path / "out" / "sessions.csv")
    assert sorted(float(r["distance_m"]) for r in sessions) == [300, 301, 302, 303, 304]
    with db.unit_of_work("t", read_only=True) as uow:
        exported = [e for e in uow.audit.latest(20) if e.action == "export"]
    assert len([e for e in exported if e.entity == "patient"]) == 5
    assert db.verify_audit().problems == []


def test_rows_export_writes_exactly_what_the_charts_export_wrote(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export reads plain rows, not charts: the files are byte for byte those written
    from whole charts (awkward text, formulas, in-error records, items, sides, units), in
    the same order, whatever the page size."""
    from clinic_app.interop import csv_io
    from clinic_app.services.interop import load_charts
    from tests.interop.conftest import ACTOR, seed_charts

    seed_charts(db)
    with db.unit_of_work(ACTOR, read_only=True) as uow:
        csv_io.write_csv(load_charts(uow), tmp_path / "charts")
    monkeypatch.setattr(bulk, "CHART_PAGE", 3)  # patients spread over several pages
    summary = export_csv(db, as_user(db, "t"), tmp_path / "rows")
    assert summary.patients > 3 and summary.tests > 0 and summary.sessions > 0
    for kind in csv_io.COLUMNS:
        written = (tmp_path / "rows" / f"{kind}.csv").read_bytes()
        assert written == (tmp_path / "charts" / f"{kind}.csv").read_bytes(), kind
    tests = _rows(tmp_path / "rows" / "tests.csv")
    assert any(r["items"] for r in tests) and any(r["unit"] for r in tests)
    assert any(r["entered_in_error"] == "true" for r in tests + _rows(
        tmp_path / "rows" / "sessions.csv"))
    assert any(r["notes"].startswith("'=") for r in _rows(tmp_path / "rows" / "patients.csv"))
    # one patient by MRN: the same rows as in the whole export
    mrn = _rows(tmp_path / "rows" / "patients.csv")[0]["mrn"]
    export_csv(db, as_user(db, "t"), tmp_path / "one", mrn=mrn)
    assert [r["mrn"] for r in _rows(tmp_path / "one" / "sessions.csv")] == [
        r["mrn"] for r in _rows(tmp_path / "rows" / "sessions.csv") if r["mrn"] == mrn]
