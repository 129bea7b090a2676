"""Export to an HL7 FHIR R4 (4.0.1) ``Bundle`` of type ``collection``, as JSON.

Resources written, per patient:

* ``Patient`` - MRN as identifier (system ``urn:backstep:mrn``, type v2-0203 ``MR``), name,
  birth date, gender (our sexes map 1:1 onto AdministrativeGender), phone/e-mail;
  ``active`` is false for a patient marked entered in error.
* per episode of care: ``EpisodeOfCare`` (status active/finished/entered-in-error, period,
  referral as a display-only reference, diagnosis -> the Condition), ``Condition`` (code =
  our diagnosis in the local system ``urn:backstep:diagnosis`` with its label as text,
  bodySite knee with laterality as text, ``recordedDate`` = episode start) and, when a
  surgery date is recorded, a ``Procedure`` (status completed, performed on that date, the
  surgery type as code in ``urn:backstep:surgery-type`` with its words as text); the treating
  therapist is the ``careManager``, a logical reference by user name (``urn:backstep:user``).
* per retro-walking session: an ``Encounter`` (ambulatory, period) and an ``Observation``
  (category ``activity``) whose components carry speed (m/s), duration (min), distance (m),
  incline (%), pain before/after (NPRS, LOINC 72514-3), RPE (Borg CR10), heart rate
  (LOINC 8867-4, /min), mode, surface, assistance and adverse events; SOAP notes as notes.
* per test result: an ``Observation`` (category ``exam``, or ``survey`` for questionnaires)
  coded with the measure id in ``urn:backstep:measure`` and its LOINC code where the
  catalogue has one, value as UCUM quantity, bodySite for per-side measures, questionnaire
  item answers as components, linked to the session's Encounter when done in a session.

The plan of care of an episode (goals, the prescription, session checklists) follows its
episode: ``clinic_app.interop.fhir_plan`` says how it maps and why.

Records entered in error are exported with status ``entered-in-error`` (Condition:
verificationStatus) and their reason as a note, never dropped.

Codes used only where certain: LOINC 72514-3 (pain severity 0-10 numeric rating) and
8867-4 (heart rate); SNOMED CT 72696002 |Knee region structure| as body site; HL7
code systems for categories and statuses. No SNOMED CT code is given for the diagnoses;
their text and local code say what they are.

Ids: each resource's id is the UUID of the record it comes from; resources derived from the
same record (the Condition and Procedure of an episode, the Encounter of a session) use
``uuid5`` of that UUID, so every ``fullUrl`` (``urn:uuid:<id>``) is unique and stable
across exports. References inside the bundle use those ``urn:uuid`` URLs.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from clinic_app.domain.charts import PatientChart
from clinic_app.domain.instruments import INSTRUMENTS
from clinic_app.domain.measures import MEASURES, Measure
from clinic_app.domain.records import (
    Diagnosis,
    Episode,
    Patient,
    Side,
    TestResult,
    WalkSession,
)
from clinic_app.domain.session_params import CHOICE_LABELS

FHIR_VERSION = "4.0.1"
MRN_SYSTEM = "urn:backstep:mrn"
MEASURE_SYSTEM = "urn:backstep:measure"
DIAGNOSIS_SYSTEM = "urn:backstep:diagnosis"
SESSION_SYSTEM = "urn:backstep:session"
ITEM_SYSTEM = "urn:backstep:item"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

LOINC_PAIN_NRS = "72514-3"
LOINC_HEART_RATE = "8867-4"
SNOMED_KNEE = "72696002"

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:backstep:fhir")
SURGICAL = (Diagnosis.ACL_RECONSTRUCTION, Diagnosis.POST_SURGERY_OTHER)
SIDE_TEXT = {Side.LEFT: "Left knee", Side.RIGHT: "Right knee", Side.BILATERAL: "Both knees"}


def derived_id(resource_type: str, record_id: uuid.UUID) -> str:
    """Stable id of a resource derived from a record that already gives its id to another."""
    return str(uuid.uuid5(NAMESPACE, f"{resource_type}/{record_id}"))


def _ref(resource_id: object) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _concept(system: str, code: str, text: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, str] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], "text": text}


def _knee(side: Side) -> dict[str, Any]:
    """bodySite: SNOMED CT knee region; R4 has no laterality element, so it is in the text."""
    return {"coding": [{"system": SNOMED, "code": SNOMED_KNEE,
                        "display": "Knee region structure"}], "text": SIDE_TEXT[side]}


def _quantity(value: float, unit: str, ucum: str) -> dict[str, Any]:
    return {"value": value, "unit": unit or ucum, "system": UCUM, "code": ucum}


def _error_note(stamp_reason: str | None) -> list[dict[str, str]]:
    return [{"text": f"Entered in error: {stamp_reason or 'no reason recorded'}"}]


def _status(in_error: bool, normal: str) -> str:
    return "entered-in-error" if in_error else normal


# --- resources ---------------------------------------------------------------------------


def patient_resource(p: Patient) -> dict[str, Any]:
    d = p.draft
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(p.id),
        "identifier": [{
            "use": "usual",
            "type": _concept(IDENTIFIER_TYPE, "MR", "MRN", "Medical record number"),
            "system": MRN_SYSTEM,
            "value": d.mrn,
        }],
        "active": not p.stamp.entered_in_error,
        "name": [{"use": "official", "family": d.family_name, "given": [d.given_name],
                  "text": f"{d.given_name} {d.family_name}"}],
        "gender": d.sex.value,  # female/male/other/unknown = AdministrativeGender codes
        "birthDate": d.date_of_birth.isoformat(),
    }
    telecom = [{"system": s, "value": v} for s, v in (("phone", d.phone), ("email", d.email))
               if v]
    if telecom:
        res["telecom"] = telecom
    return res


def condition_resource(ep: Episode) -> dict[str, Any]:
    d = ep.draft
    in_error = ep.stamp.entered_in_error
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": derived_id("Condition", ep.id),
        "verificationStatus": _concept(
            CONDITION_VERIFICATION, _status(in_error, "confirmed"),
            "Entered in error" if in_error else "Confirmed"),
        "category": [_concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter diagnosis")],
        "code": _concept(DIAGNOSIS_SYSTEM, d.diagnosis.value, d.diagnosis.label,
                         d.diagnosis.label),
        "bodySite": [_knee(d.affected_side)],
        "subject": _ref(ep.patient_id),
        "recordedDate": d.start_date.isoformat(),
    }
    # con-5: no clinicalStatus on an entered-in-error Condition. An ended episode does not
    # tell whether the condition resolved, so clinicalStatus is only stated while it is open.
    if not in_error and d.end_date is None:
        res["clinicalStatus"] = _concept(CONDITION_CLINICAL, "active", "Active")
    notes = _error_note(ep.stamp.error_reason) if in_error else []
    if d.notes:
        notes.append({"text": d.notes})
    if notes:
        res["note"] = notes
    return res


def episode_resource(ep: Episode, today: date) -> dict[str, Any]:
    d = ep.draft
    finished = d.end_date is not None and d.end_date <= today
    res: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": str(ep.id),
        "status": _status(ep.stamp.entered_in_error, "finished" if finished else "active"),
        "type": [{"text": "Knee rehabilitation (retro-walking programme)"}],
        "diagnosis": [{"condition": _ref(derived_id("Condition", ep.id)), "rank": 1}],
        "patient": _ref(ep.patient_id),
        "period": {"start": d.start_date.isoformat()},
    }
    if d.end_date is not None:
        res["period"]["end"] = d.end_date.isoformat()
    if d.referring_doctor:
        res["referralRequest"] = [{"display": f"Referred by {d.referring_doctor}"}]
    if d.treating_therapist:
        # No Practitioner resources are exported: a logical reference by user name.
        res["careManager"] = {"identifier": {"system": "urn:backstep:user",
                                             "value": d.treating_therapist},
                              "display": d.treating_therapist}
    return res


def surgery_resource(ep: Episode) -> dict[str, Any] | None:
    d = ep.draft
    if d.surgery_date is None:
        return None
    what = d.diagnosis.label if d.diagnosis in SURGICAL else "Knee surgery"
    code: dict[str, Any] = {"text": what}
    if d.surgery_type is not None:  # the operation recorded, in the local code system
        code = {"coding": [{"system": "urn:backstep:surgery-type",
                            "code": d.surgery_type.value, "display": d.surgery_type.label}],
                "text": d.surgery_type.label}
    res: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": derived_id("Procedure", ep.id),
        "status": _status(ep.stamp.entered_in_error, "completed"),
        "code": code,
        "subject": _ref(ep.patient_id),
        "performedDateTime": d.surgery_date.isoformat(),
        "bodySite": [_knee(d.affected_side)],
    }
    if ep.stamp.entered_in_error:
        res["note"] = _error_note(ep.stamp.error_reason)
    return res


def encounter_resource(s: WalkSession, patient_id: uuid.UUID) -> dict[str, Any]:
    d = s.draft
    period = {"start": _instant(d.performed_at)}
    if d.duration_min:
        period["end"] = _instant(d.performed_at + timedelta(minutes=d.duration_min))
    return {
        "resourceType": "Encounter",
        "id": derived_id("Encounter", s.id),
        "status": _status(s.stamp.entered_in_error, "finished"),
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": "Retro-walking (backward walking) session"}],
        "subject": _ref(patient_id),
        "episodeOfCare": [_ref(s.episode_id)],
        "period": period,
    }


# (draft attribute, local code, text, display unit, UCUM code, LOINC code or None)
_SESSION_QUANTITIES: tuple[tuple[str, str, str, str, str, str | None], ...] = (
    ("speed_m_s", "speed", "Backward walking speed", "m/s", "m/s", None),
    ("duration_min", "duration", "Duration", "min", "min", None),
    ("distance_m", "distance", "Distance", "m", "m", None),
    ("incline_pct", "incline", "Incline (negative = downhill)", "%", "%", None),
    ("pain_before", "pain-before", "Pain before session (NPRS 0-10)", "points", "{score}",
     LOINC_PAIN_NRS),
    ("pain_after", "pain-after", "Pain after session (NPRS 0-10)", "points", "{score}",
     LOINC_PAIN_NRS),
    ("rpe", "rpe", "Rating of perceived exertion (Borg CR10)", "points", "{score}", None),
    ("heart_rate", "heart-rate", "Heart rate", "beats/minute", "/min", LOINC_HEART_RATE),
)


def session_observation(s: WalkSession, patient_id: uuid.UUID) -> dict[str, Any]:
    d = s.draft
    components: list[dict[str, Any]] = []
    for attr, code, text, unit, ucum, loinc in _SESSION_QUANTITIES:
        value = getattr(d, attr)
        if value is None:
            continue
        codings = [{"system": LOINC, "code": loinc}] if loinc else []
        codings.append({"system": SESSION_SYSTEM, "code": code, "display": text})
        components.append({"code": {"coding": codings, "text": text},
                           "valueQuantity": _quantity(value, unit, ucum)})
    for attr in ("mode", "surface", "assistance"):
        value = getattr(d, attr)
        label = CHOICE_LABELS[attr][value]
        components.append({
            "code": _concept(SESSION_SYSTEM, attr, attr.capitalize()),
            "valueCodeableConcept": _concept(f"urn:backstep:{attr}", value.value, label, label),
        })
    if d.adverse_events:
        components.append({"code": _concept(SESSION_SYSTEM, "adverse-events", "Adverse events"),
                           "valueString": d.adverse_events})
    notes = _error_note(s.stamp.error_reason) if s.stamp.entered_in_error else []
    for prefix, text in (("S", d.subjective), ("O", d.objective), ("A", d.assessment),
                         ("P", d.plan)):
        if text:
            notes.append({"text": f"{prefix}: {text}"})
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(s.id),
        "status": _status(s.stamp.entered_in_error, "final"),
        "category": [_concept(OBS_CATEGORY, "activity", "Activity")],
        "code": _concept(SESSION_SYSTEM, "retro-walking-session",
                         "Retro-walking (backward walking) session", "Retro-walking session"),
        "subject": _ref(patient_id),
        "encounter": _ref(derived_id("Encounter", s.id)),
        "effectiveDateTime": _instant(d.performed_at),
        "component": components,
    }
    if notes:
        res["note"] = notes
    return res


def _measure_code(m: Measure) -> dict[str, Any]:
    codings = [{"system": LOINC, "code": m.loinc}] if m.loinc else []
    codings.append({"system": MEASURE_SYSTEM, "code": m.id, "display": m.name})
    return {"coding": codings, "text": m.name}


def result_observation(t: TestResult, patient_id: uuid.UUID) -> dict[str, Any]:
    d = t.draft
    m = MEASURES[d.measure_id]
    category = ("survey", "Survey") if m.is_questionnaire else ("exam", "Exam")
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(t.id),
        "status": _status(t.stamp.entered_in_error, "final"),
        "category": [_concept(OBS_CATEGORY, category[0], category[1])],
        "code": _measure_code(m),
        "subject": _ref(patient_id),
        "effectiveDateTime": d.performed_on.isoformat(),
        "valueQuantity": _quantity(t.value, m.unit, m.ucum),
    }
    if d.session_id is not None:
        res["encounter"] = _ref(derived_id("Encounter", d.session_id))
    if m.sided and d.side is not None:
        res["bodySite"] = _knee(d.side)
    if d.items is not None:
        res["component"] = [_item(m, i, answer) for i, answer in enumerate(d.items, start=1)]
    notes = _error_note(t.stamp.error_reason) if t.stamp.entered_in_error else []
    if d.notes:
        notes.append({"text": d.notes})
    if notes:
        res["note"] = notes
    return res



def _item(m: Measure, number: int, answer: int | None) -> dict[str, Any]:
    inst = INSTRUMENTS.get(m.id)
    label = f"item {inst.items[number - 1].label}" if inst else f"item {number}"
    comp: dict[str, Any] = {
        "code": _concept(ITEM_SYSTEM, f"{m.id}-{number}", f"{m.short_name} {label}")}
    if answer is None:
        comp["dataAbsentReason"] = _concept(DATA_ABSENT, "asked-unknown", "Not answered")
    elif m.item_unit:  # parts of a test measured in a unit (Y-Balance reaches, mm)
        comp["valueQuantity"] = _quantity(float(answer), m.item_unit, m.item_unit)
    else:
        comp["valueInteger"] = answer
    return comp


# --- bundle ------------------------------------------------------------------------------


def chart_resources(chart: PatientChart, today: date) -> list[dict[str, Any]]:
    """Every resource of one patient's chart, parents before children."""
    pid = chart.patient.id
    out = [patient_resource(chart.patient)]
    for ec in chart.episodes:
        out.append(condition_resource(ec.episode))
        out.append(episode_resource(ec.episode, today))
        surgery = surgery_resource(ec.episode)
        if surgery is not None:
            out.append(surgery)
        for s in ec.sessions:
            out.append(encounter_resource(s, pid))
            out.append(session_observation(s, pid))
        out.extend(result_observation(t, pid) for t in ec.tests)
        if ec.plan is not None:  # goals, the prescription and session checklists
            from clinic_app.interop.fhir_plan import plan_resources

            out.extend(plan_resources(ec, pid, today))
    return out


def _envelope(when: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": _instant(when)},
        "type": "collection",
        "timestamp": _instant(when),
    }


def _entries(charts: Sequence[PatientChart], when: datetime) -> Iterator[dict[str, Any]]:
    for chart in charts:
        for res in chart_resources(chart, when.date()):
            yield {"fullUrl": f"urn:uuid:{res['id']}", "resource": res}


def write_bundle(
    charts: Sequence[PatientChart], out: Path, generated_at: datetime | None = None
) -> None:
    """Write the bundle of ``charts`` as compact UTF-8 JSON to ``out`` (fsynced).

    Streams entry by entry, so memory stays small and the C JSON encoder does the work.
    """
    when = generated_at or datetime.now(UTC)
    head = json.dumps(_envelope(when), ensure_ascii=False, separators=(",", ":"))
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(head[:-1] + ',"entry":[')
        for i, entry in enumerate(_entries(charts, when)):
            if i:
                fh.write(",")
            fh.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
        fh.write("]}\n")
        fh.flush()
        os.fsync(fh.fileno())
