"""The knee instruments through CSV (export, import into an empty database, compare) and
FHIR R4 (valid resources, items with their labels, Y-Balance reaches in mm); on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user
from fhir.resources.R4B.bundle import Bundle

from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Side, TestResultDraft
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.interop import ImportRejected, export_csv, export_fhir, import_csv

DAY = date(2025, 5, 6)
IKDC = (2, 3, None, 3, 2, 1, 3, 2, 3, 3, 2, 2, 3, 2, 1, 2, 1, 10)
DRAFTS = (
    TestResultDraft("ikdc", DAY, items=IKDC),
    TestResultDraft("kos_adls", DAY, items=(4, 5, 3, 4, 3, 0, 3, 3, 4, 2, 4, 3, 3, 5)),
    TestResultDraft("lysholm", DAY, items=(5, 5, 10, 20, 20, 6, 6, 4)),
    TestResultDraft("tegner", DAY, items=(9, 4)),
    TestResultDraft("acl_rsi", DAY, items=(7, 6, 8, 5, 7, 6, 8, 7, 6, 6, 6, 6)),
    TestResultDraft("global_rating", DAY, 85.0),
    TestResultDraft("hop_6m_timed", DAY, 2.40, Side.LEFT),
    TestResultDraft("hop_6m_timed", DAY, 2.16, Side.RIGHT),
    TestResultDraft("hop_single", DAY, 151.0, Side.LEFT),
    TestResultDraft("quad_strength", DAY, 180.5, Side.LEFT),
    TestResultDraft("y_balance", DAY, side=Side.LEFT, items=(600, 1000, 950, 900)),
)


def _seed(db: Database) -> None:
    svc = ChartingService(db, as_user(db, "exporter"))
    p = svc.register_patient(PatientDraft("KNEE-1", "Lindqvist", "Freya", date(1997, 8, 1)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                             date(2025, 1, 6), date(2024, 12, 20)))
    for d in DRAFTS:
        svc.record_test(ep.id, d)


def _tests(db: Database) -> list[tuple[object, ...]]:
    svc = ChartingService(db, as_user(db, "reader"))
    patient = svc.find_by_mrn("KNEE-1")
    assert patient is not None
    tests = svc.chart(patient.id).episodes[0].tests
    return sorted((t.draft.measure_id, str(t.draft.side), t.draft.items, t.value) for t in tests)


def test_csv_round_trip(db: Database, second_db: Database, tmp_path: Path) -> None:
    _seed(db)
    export_csv(db, as_user(db, "exporter"), tmp_path / "out")
    with open(tmp_path / "out" / "tests.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["measure_id"]: r for r in csv.DictReader(fh)}
    assert rows["ikdc"]["items"] == "2;3;;3;2;1;3;2;3;3;2;2;3;2;1;2;1;10"  # the blank stays
    assert rows["y_balance"]["items"] == "600;1000;950;900"
    assert float(rows["tegner"]["value"]) == 4.0 and rows["tegner"]["items"] == "9;4"
    import_csv(second_db, as_user(second_db, "importer"), tmp_path / "out")
    assert _tests(second_db) == _tests(db)
    assert len(_tests(db)) == len(DRAFTS)


def test_fhir_export_is_valid_r4_with_labelled_items(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "fhir" / "bundle.json"
    export_fhir(db, as_user(db, "exporter"), out, "KNEE-1")
    doc = json.loads(out.read_text(encoding="utf-8"))
    Bundle.parse_obj(doc)
    obs = {}
    for e in doc["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Observation":
            code = next(c["code"] for c in r["code"]["coding"] if not c["code"].isdigit())
            obs.setdefault(code, []).append(r)
    assert set(obs) == {d.measure_id for d in DRAFTS}
    (ikdc,) = obs["ikdc"]
    assert ikdc["category"][0]["coding"][0]["code"] == "survey"
    comps = ikdc["component"]
    assert comps[2]["dataAbsentReason"]["coding"][0]["code"] == "asked-unknown"  # item 3
    assert comps[9]["code"]["text"] == "IKDC item 9b daily activity"
    assert comps[17]["valueInteger"] == 10
    (yb,) = obs["y_balance"]
    assert yb["category"][0]["coding"][0]["code"] == "exam"
    assert yb["valueQuantity"]["code"] == "%" and yb["bodySite"]
    assert yb["component"][0]["valueQuantity"] == {
        "value": 600.0, "unit": "mm", "system": "http://unitsofmeasure.org", "code": "mm"}
    timed = {r["bodySite"]["text"]: r["valueQuantity"]["value"] for r in obs["hop_6m_timed"]}
    assert sorted(timed.values()) == [2.16, 2.4] and len(timed) == 2  # one per knee
    (quad,) = obs["quad_strength"]
    assert quad["valueQuantity"]["code"] == "N.m"


def test_bad_knee_rows_are_named_and_nothing_is_imported(db: Database, tmp_path: Path) -> None:
    _seed(db)
    header = ["mrn", "episode_start", "measure_id", "performed_on", "value", "side", "items"]
    start = "2025-01-06"
    ikdc_bad = "2;3;;3;2;2;3;2;3;3;2;2;3;2;1;2;1;10"  # item 6 (locking) is 0 or 1
    rows = [
        ["KNEE-1", start, "ikdc", "2025-05-07", "", "", ikdc_bad],
        ["KNEE-1", start, "lysholm", "2025-05-07", "", "", "4;5;10;20;20;6;6;4"],
        ["KNEE-1", start, "hop_6m_timed", "2025-05-07", "2.1", "", ""],  # the leg is missing
        ["KNEE-1", start, "y_balance", "2025-05-07", "", "left", "600;1000;950;4000"],
        ["KNEE-1", start, "acl_rsi", "2025-05-07", "", "", "7;6;8;5;7;6;8;7;6;6;6;6"],  # fine
    ]
    path = tmp_path / "tests.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    before = _tests(db)
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, as_user(db, "importer"), path)
    found = {p.row: (p.field, p.message) for p in caught.value.problems}
    assert sorted(found) == [2, 3, 4, 5]
    assert found[2][0] == "items" and "item 6 (6 locking (0 yes, 1 no))" in found[2][1]
    assert "allowed: 0-1" in found[2][1]
    assert found[3][0] == "items" and "allowed: 0, 3, 5" in found[3][1]
    assert found[4][0] == "side" and "left, right" in found[4][1]
    assert found[5][0] == "items" and "limb length" in found[5][1]
    assert _tests(db) == before  # all or nothing
