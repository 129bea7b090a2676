"""FHIR R4 export: the bundle validates with fhir.resources and carries our codes.

The validator is fhir.resources 7.x's R4B models (FHIR 4.3.0) on pydantic 2: R4B changed none
of the elements of the resources exported here (Patient, Condition, EpisodeOfCare,
Procedure, Encounter, Observation) from R4 4.0.1, and is the newest release line with R4
compatible models that is maintained.
"""

from __future__ import annotations

import json
from pathlib import Path

import fhir.resources
import fhir.resources.R4B
import pydantic
import pytest
from accounts import as_user
from fhir.resources.R4B import construct_fhir_element
from fhir.resources.R4B.bundle import Bundle
from pydantic.v1 import ValidationError as PydanticValidationError  # fhir.resources 7 models

from clinic_app.domain.errors import NotFoundError, PermissionDeniedError
from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Role
from clinic_app.interop.fhir import (
    LOINC,
    LOINC_HEART_RATE,
    LOINC_PAIN_NRS,
    MEASURE_SYSTEM,
    MRN_SYSTEM,
    UCUM,
    derived_id,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.interop import export_fhir
from tests.interop.conftest import ACTOR, seed_charts


def _export(db: Database, tmp_path: Path, mrn: str | None = None) -> dict:
    out = tmp_path / "export" / "bundle.json"
    export_fhir(db, as_user(db, ACTOR), out, mrn, force=True)  # some tests export twice to compare
    return json.loads(out.read_text(encoding="utf-8"))


def _resources(doc: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == kind]


def _codes(concept: dict) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept.get("coding", [])}


def test_validator_is_r4b_on_pydantic_2() -> None:
    assert fhir.resources.R4B.__fhir_version__ == "4.3.0"
    assert int(fhir.resources.__version__.split(".")[0]) >= 7
    assert int(pydantic.VERSION.split(".")[0]) == 2


def test_bundle_validates_as_r4_and_links_resolve(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    doc = _export(db, tmp_path)
    bundle = Bundle.parse_obj(doc)  # validates every entry's resource too
    assert bundle.type == "collection"
    kinds = {e["resource"]["resourceType"] for e in doc["entry"]}
    assert kinds == {"Patient", "Condition", "EpisodeOfCare", "Procedure", "Encounter",
                     "Observation", "Goal", "CarePlan"}  # the demo's plan of care too
    for entry in doc["entry"]:  # and each resource on its own, by its type
        construct_fhir_element(entry["resource"]["resourceType"], entry["resource"])
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    urls = [e["fullUrl"] for e in doc["entry"]]
    assert len(urls) == len(set(urls))
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "reference" in node:
                refs.add(node["reference"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert refs and refs <= set(urls)
    assert len(_resources(doc, "Patient")) == 5


@pytest.mark.parametrize("breakage", ["no-status", "unknown-element", "bad-date"])
def test_validator_rejects_a_broken_resource(
    db: Database, tmp_path: Path, breakage: str
) -> None:
    """The validation above is real: cardinality, element names and types are checked.

    (fhir.resources does not check required code bindings such as Observation.status, so
    the status values are asserted explicitly in the tests below.)
    """
    seed_charts(db)
    doc = _export(db, tmp_path, "X-100")
    Bundle.parse_obj(doc)
    obs = _resources(doc, "Observation")[0]
    if breakage == "no-status":
        del obs["status"]
    elif breakage == "unknown-element":
        obs["laterality"] = {"text": "Right"}
    else:
        obs["effectiveDateTime"] = "8 January 2025"
    with pytest.raises(PydanticValidationError):
        Bundle.parse_obj(doc)


def test_status_codes_are_from_the_r4_value_sets(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    doc = _export(db, tmp_path)
    allowed = {
        "Observation": {"registered", "preliminary", "final", "amended", "corrected",
                        "cancelled", "entered-in-error", "unknown"},
        "Encounter": {"planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                      "cancelled", "entered-in-error", "unknown"},
        "EpisodeOfCare": {"planned", "waitlist", "active", "onhold", "finished", "cancelled",
                          "entered-in-error"},
        "Procedure": {"preparation", "in-progress", "not-done", "on-hold", "stopped",
                      "completed", "entered-in-error", "unknown"},
    }
    for entry in doc["entry"]:
        res = entry["resource"]
        if res["resourceType"] in allowed:
            assert res["status"] in allowed[res["resourceType"]], res
        if res["resourceType"] == "Patient":
            assert res["gender"] in {"male", "female", "other", "unknown"}


def test_patient_codes_loinc_ucum_and_error_status(db: Database, tmp_path: Path) -> None:
    made = seed_charts(db)
    doc = _export(db, tmp_path, "x-100")
    assert {e["resource"]["resourceType"] for e in doc["entry"]} >= {"Patient", "Observation"}
    (patient,) = _resources(doc, "Patient")
    assert patient["identifier"][0]["system"] == MRN_SYSTEM
    assert patient["identifier"][0]["value"] == "X-100"
    assert patient["gender"] == "other" and patient["birthDate"] == "1980-02-29"
    assert patient["name"][0]["family"] == "Ó Súilleabháin"

    obs = {o["id"]: o for o in _resources(doc, "Observation")}
    session = obs[str(made["session"].id)]
    assert session["status"] == "final"
    comps = {c["code"]["text"]: c for c in session["component"]}
    hr = comps["Heart rate"]
    assert (LOINC, LOINC_HEART_RATE) in _codes(hr["code"])
    assert hr["valueQuantity"] == {"value": 101, "unit": "beats/minute", "system": UCUM,
                                   "code": "/min"}
    speed = comps["Backward walking speed"]["valueQuantity"]
    assert (speed["value"], speed["code"], speed["system"]) == (0.52, "m/s", UCUM)
    assert comps["Duration"]["valueQuantity"]["code"] == "min"
    assert comps["Distance"]["valueQuantity"]["code"] == "m"
    assert comps["Incline (negative = downhill)"]["valueQuantity"]["value"] == -2.5
    assert (LOINC, LOINC_PAIN_NRS) in _codes(comps["Pain before session (NPRS 0-10)"]["code"])
    assert session["encounter"]["reference"] == (
        f"urn:uuid:{derived_id('Encounter', made['session'].id)}")

    flex, koos = made["tests"]
    flex_obs = obs[str(flex.id)]
    assert (MEASURE_SYSTEM, "knee_flexion_rom") in _codes(flex_obs["code"])
    assert flex_obs["valueQuantity"]["code"] == "deg"
    assert flex_obs["bodySite"]["text"] == "Right knee"
    assert flex_obs["category"][0]["coding"][0]["code"] == "exam"
    koos_obs = obs[str(koos.id)]
    assert koos_obs["category"][0]["coding"][0]["code"] == "survey"
    assert koos_obs["valueQuantity"]["code"] == "{score}"
    assert [c.get("valueInteger") for c in koos_obs["component"]] == [2, None, 3, 1]
    assert koos_obs["component"][1]["dataAbsentReason"]["coding"][0]["code"] == "asked-unknown"

    wrong = obs[str(made["wrong_test"].id)]
    assert wrong["status"] == "entered-in-error"
    assert "typed into wrong patient" in wrong["note"][0]["text"]
    assert obs[str(made["wrong_session"].id)]["status"] == "entered-in-error"
    encounters = {e["id"]: e for e in _resources(doc, "Encounter")}
    assert encounters[derived_id("Encounter", made["wrong_session"].id)]["status"] == (
        "entered-in-error")

    (condition,) = _resources(doc, "Condition")
    assert condition["code"]["text"] == "ACL reconstruction"
    assert condition["bodySite"][0]["text"] == "Right knee"
    assert condition["recordedDate"] == "2025-01-06"
    (episode,) = _resources(doc, "EpisodeOfCare")
    assert episode["status"] == "active" and episode["period"]["start"] == "2025-01-06"
    assert episode["diagnosis"][0]["condition"]["reference"] == f"urn:uuid:{condition['id']}"
    (surgery,) = _resources(doc, "Procedure")
    assert surgery["performedDateTime"] == "2024-12-20"


def test_nprs_results_carry_loinc_in_full_export(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    doc = _export(db, tmp_path)
    nprs = [o for o in _resources(doc, "Observation")
            if (MEASURE_SYSTEM, "nprs") in _codes(o["code"])]
    assert nprs and all((LOINC, LOINC_PAIN_NRS) in _codes(o["code"]) for o in nprs)
    tug = [o for o in _resources(doc, "Observation")
           if (MEASURE_SYSTEM, "tug") in _codes(o["code"])]
    assert tug and all(not any(c["system"] == LOINC for c in o["code"]["coding"]) for o in tug)


def test_ids_are_stable_and_export_is_audited(db: Database, tmp_path: Path) -> None:
    made = seed_charts(db)
    first = _export(db, tmp_path, "X-100")
    second = _export(db, tmp_path, "X-100")
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    with db.unit_of_work(ACTOR) as uow:
        events = uow.audit.for_patient(made["patient"].id)
    exports = [e for e in events if e.action == "export"]
    assert len(exports) == 2 and "FHIR" in exports[0].detail
    assert db.verify_audit().ok


def test_unknown_mrn_and_permissions(db: Database, tmp_path: Path) -> None:
    seed_charts(db)
    out = tmp_path / "none.json"
    with pytest.raises(NotFoundError, match="NOPE-1"):
        export_fhir(db, as_user(db, ACTOR), out, "NOPE-1")
    desk = Principal("desk", Role.FRONT_DESK)
    with pytest.raises(PermissionDeniedError):
        export_fhir(db, desk, out, "X-100")
    assert not out.exists()
    assert not list(tmp_path.glob(".backstep-export-*"))
