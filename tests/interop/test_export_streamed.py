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


ODD_FLOATS = (0.1, 1e-7, 0.30000000000000004, 1 / 3, -0.0, 100.0, 2.5, 5e-324, 0.0001,
              123456.789e-12, -42.0, 100000000000000.125, 999999999999999.9, 2.0**49 + 0.5)
HUGE_FLOATS = (1e15, 1e15 + 0.5, 9999999999999998.0, 1e16, 1.5e300, 29999999999999992.0,
               float("inf"), 0.1)
ODD_TEXTS = ('"quoted", with comma', "line\r\nbreak and\rreturn\nand feed", '""',
             "-starts with minus", "@at", "\ttab first", "Ünïcödé 𝄞 ✓", " spaced ", ",")


@pytest.mark.parametrize("floats", [ODD_FLOATS, HUGE_FLOATS], ids=["floats", "huge"])
def test_cells_made_by_the_database_equal_the_writers_for_odd_values(
    db: Database, tmp_path: Path, floats: tuple[float, ...]
) -> None:
    """Quotes, commas, line breaks, formula starts, non-ASCII, NULLs and floats that print
    differently in SQL than in Python: the files are byte for byte the chart writer's
    (with floats of 1e15 and more, which PostgreSQL cannot print as Python does, the
    export formats in Python)."""
    from sqlalchemy import update

    from clinic_app.interop import csv_io
    from clinic_app.persistence.models import PatientRow, TestResultRow, WalkSessionRow
    from clinic_app.services.interop import load_charts
    from tests.interop.conftest import ACTOR, seed_charts

    seed_charts(db)
    svc = ChartingService(db, as_user(db, "t"))
    bare = svc.register_patient(PatientDraft("Z-BARE", "Nul", "Lá", date(1950, 1, 1)))
    ep = svc.open_episode(bare.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                                date(2024, 1, 1)))
    for i in range(len(floats)):
        svc.record_session(ep.id, WalkSessionDraft(
            datetime(2024, 2, 1, 9, i, tzinfo=UTC), duration_min=10))
    # Values the forms would refuse, written as SQL would: the export must print any
    # stored value as the chart writer does.
    with db.engine.begin() as conn:
        sessions = [r[0] for r in conn.execute(
            WalkSessionRow.__table__.select().with_only_columns(WalkSessionRow.id)
            .where(WalkSessionRow.episode_id == ep.id).order_by(WalkSessionRow.performed_at))]
        for i, (sid, value) in enumerate(zip(sessions, floats, strict=True)):
            conn.execute(update(WalkSessionRow).where(WalkSessionRow.id == sid).values(
                distance_m=value, speed_m_s=-value, rpe=value / 3, incline_pct=None,
                subjective=ODD_TEXTS[i % len(ODD_TEXTS)],
                objective=ODD_TEXTS[(i + 4) % len(ODD_TEXTS)]))
        tests = [r[0] for r in conn.execute(
            TestResultRow.__table__.select().with_only_columns(TestResultRow.id))]
        for tid, value in zip(tests, floats * 20, strict=False):
            conn.execute(update(TestResultRow).where(TestResultRow.id == tid).values(
                value=value, notes=ODD_TEXTS[len(repr(value)) % len(ODD_TEXTS)]))
        for n, text_ in enumerate(ODD_TEXTS):
            conn.execute(update(PatientRow).where(PatientRow.mrn == "X-100").values(
                **{("notes", "phone", "email", "error_reason")[n % 4]: text_}))
        conn.execute(update(PatientRow).where(PatientRow.mrn == "Z-BARE").values(
            phone="", email="", notes=""))
    with db.unit_of_work(ACTOR, read_only=True) as uow:
        csv_io.write_csv(load_charts(uow), tmp_path / "charts")
        # the database formats the cells, except PostgreSQL's huge floats
        assert uow.bulk.csv_cells_exact() is (db.dialect == "sqlite" or floats is ODD_FLOATS)
    export_csv(db, as_user(db, "t"), tmp_path / "cells")
    for kind in csv_io.COLUMNS:
        written = (tmp_path / "cells" / f"{kind}.csv").read_bytes()
        assert written == (tmp_path / "charts" / f"{kind}.csv").read_bytes(), kind
    every = b"".join((tmp_path / "cells" / f"{kind}.csv").read_bytes() for kind in csv_io.COLUMNS)
    assert repr(floats[1]).encode() in every
    for seen in (b'"line\r\nbreak and\rreturn\nand feed"',
                 b"'-starts", b'"""quoted"", with comma"', "𝄞".encode()):
        assert seen in every, seen


def test_postgresql_prints_floats_as_python_repr(pg_url: str) -> None:
    """The server's float text, as the export's cell expression rewrites it, is
    ``repr(value)`` for random doubles of every size below 1e15 (larger ones are
    formatted in Python)."""
    import random
    import struct

    from sqlalchemy import Float, column, create_engine, select, values

    from clinic_app.persistence.export_csv import _pg_float

    rng = random.Random(7)
    doubles = [*ODD_FLOATS, 999999999999999.9, -999999999999999.9, 2.0**53 / 10]
    while len(doubles) < 5000:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if abs(value) < 1e15:  # NaN fails this too
            doubles.append(value)
    doubles += [rng.uniform(-1e15, 1e15) for _ in range(2000)]
    doubles += [rng.uniform(-1e6, 1e6) for _ in range(2000)]
    doubles += [round(rng.uniform(0, 500), rng.randint(0, 3)) for _ in range(2000)]
    doubles += [float(rng.randint(-10**15 + 1, 10**15 - 1)) for _ in range(1000)]
    doubles += [rng.randint(1, 2**20) / 2**rng.randint(1, 60) for _ in range(1000)]
    v = column("v", Float)
    table = values(v, name="t").data([(d,) for d in doubles])
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET extra_float_digits = 1")
            got = [r[0] for r in conn.execute(select(_pg_float(table.c.v)))]
    finally:
        engine.dispose()
    wrong = [(d, g) for d, g in zip(doubles, got, strict=True) if g != repr(d)]
    assert not wrong, wrong[:10]
