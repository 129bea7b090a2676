"""The plan of care of an episode as FHIR R4 resources (part of the export bundle).

* Each goal is a ``Goal``: ``description`` in words, ``subject``, ``addresses`` the
  episode's Condition, and for a measured goal a ``target`` with the measure's code
  (``urn:backstep:measure``, and LOINC where the catalogue has one), the target as a UCUM
  quantity and the ``dueDate``. ``lifecycleStatus`` is ``active``, ``completed`` for a
  goal in words the therapist ticked achieved (``statusDate`` = the day), or
  ``entered-in-error`` (with the reason as a note: exported, never dropped).
  ``achievementStatus`` (HL7 goal-achievement) says how it stands on the export day, from
  the same assessment the report prints: met -> ``achieved``, on track -> ``improving``,
  behind with the target date passed -> ``not-achieved``, otherwise ``in-progress``; the
  assessment's reason is its text.
* The retro-walking prescription is a ``CarePlan`` (intent ``plan``) whose one
  ``activity.detail`` is the dose. FHIR R4 describes CarePlan as how practitioners intend
  to deliver care to a patient for a condition over a period, tying together the goals
  (``CarePlan.goal``) and the activities that work toward them; a ``ServiceRequest`` is an
  order for someone to perform a service. The prescription is the clinic's own plan of
  exercise that the patient and therapist carry out session after session, not an order
  placed with another performer, so it is a CarePlan activity, described inline
  (``detail.kind`` ``ServiceRequest`` as R4 types such details, ``scheduledTiming`` =
  sessions per week, the dose in ``description``). A prescription entered in error is a
  CarePlan with status ``entered-in-error``.
* A session's checklist row (safety checklist, home session, suggested dose and override)
  is an ``Observation`` (category ``activity``) on the session's Encounter with boolean
  components; a session the patient did at home has the Patient as ``performer``
  (self-reported).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from clinic_app.domain.charts import EpisodeChart
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.plan_of_care import (
    Goal,
    GoalStatus,
    Prescription,
    SessionSafety,
    assess_goal,
    describe_goal,
)
from clinic_app.domain.progress import Point
from clinic_app.domain.session_params import CHOICE_LABELS

GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
PLAN_SYSTEM = "urn:backstep:plan"
_OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_UCUM = "http://unitsofmeasure.org"
_LOINC = "http://loinc.org"
_MEASURE_SYSTEM = "urn:backstep:measure"
_ACHIEVEMENT_TEXT = {"achieved": "Achieved", "improving": "Improving",
                     "not-achieved": "Not achieved", "in-progress": "In progress"}


def _ref(resource_id: object) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


def _derived(resource_type: str, record_id: uuid.UUID) -> str:
    from clinic_app.interop.fhir import derived_id

    return derived_id(resource_type, record_id)


def _error_note(reason: str | None) -> list[dict[str, str]]:
    return [{"text": f"Entered in error: {reason or 'no reason recorded'}"}]


def achievement(goal: Goal, ec: EpisodeChart, today: date) -> tuple[str, str]:
    """(goal-achievement code, reason) of a goal on ``today`` from the episode's results."""
    d = goal.draft
    side = d.side or ec.episode.draft.affected_side
    series = [Point(t.draft.performed_on, t.value) for t in ec.tests
              if not t.stamp.entered_in_error and t.draft.measure_id == d.measure_id
              and (t.draft.side is None or t.draft.side == side)]
    a = assess_goal(d, series, today)
    if a.status == GoalStatus.MET:
        code = "achieved"
    elif a.status == GoalStatus.ON_TRACK:
        code = "improving"
    elif a.status == GoalStatus.BEHIND and d.target_date is not None and today > d.target_date:
        code = "not-achieved"
    else:
        code = "in-progress"
    return code, f"{a.status.label}: {a.reason}"


def goal_resource(goal: Goal, ec: EpisodeChart, patient_id: uuid.UUID,
                  today: date) -> dict[str, Any]:
    d = goal.draft
    in_error = goal.stamp.entered_in_error
    lifecycle = "entered-in-error" if in_error else ("completed" if d.achieved else "active")
    res: dict[str, Any] = {
        "resourceType": "Goal",
        "id": str(goal.id),
        "lifecycleStatus": lifecycle,
        "description": {"text": describe_goal(d)},
        "subject": _ref(patient_id),
        "addresses": [_ref(_derived("Condition", ec.episode.id))],
    }
    if not in_error:
        code, reason = achievement(goal, ec, today)
        res["achievementStatus"] = {
            "coding": [{"system": GOAL_ACHIEVEMENT, "code": code,
                        "display": _ACHIEVEMENT_TEXT[code]}], "text": reason}
    if d.achieved and d.achieved_on is not None:
        res["statusDate"] = d.achieved_on.isoformat()
    m = MEASURES.get(d.measure_id) if d.measure_id else None
    if m is not None and d.target_value is not None:
        codings = [{"system": _LOINC, "code": m.loinc}] if m.loinc else []
        codings.append({"system": _MEASURE_SYSTEM, "code": m.id, "display": m.name})
        target: dict[str, Any] = {
            "measure": {"coding": codings, "text": m.name},
            "detailQuantity": {"value": d.target_value, "unit": m.unit or m.ucum,
                               "system": _UCUM, "code": m.ucum}}
        if d.target_date is not None:
            target["dueDate"] = d.target_date.isoformat()
        res["target"] = [target]
    if in_error:
        res["note"] = _error_note(goal.stamp.error_reason)
    return res


def care_plan_resource(rx: Prescription, ec: EpisodeChart, goals: list[Goal],
                       patient_id: uuid.UUID, today: date) -> dict[str, Any]:
    p, dose = rx.draft, rx.draft.dose
    ep = ec.episode.draft
    in_error = rx.stamp.entered_in_error
    finished = ep.end_date is not None and ep.end_date <= today
    status = "entered-in-error" if in_error else ("completed" if finished else "active")
    words = (f"Retro-walking {dose.describe()}; "
             f"{CHOICE_LABELS['mode'][dose.mode].lower()}, "
             f"{CHOICE_LABELS['surface'][dose.surface].lower()} surface, "
             f"{CHOICE_LABELS['assistance'][dose.assistance].lower()}")
    period = {"start": ep.start_date.isoformat()}
    if ep.end_date is not None:
        period["end"] = ep.end_date.isoformat()
    res: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": str(rx.id),
        "status": status,
        "intent": "plan",
        "title": "Retro-walking programme",
        "subject": _ref(patient_id),
        "period": period,
        "addresses": [_ref(_derived("Condition", ec.episode.id))],
        "activity": [{"detail": {
            "kind": "ServiceRequest",
            "code": {"coding": [{"system": PLAN_SYSTEM, "code": "retro-walking",
                                 "display": "Retro-walking (backward walking)"}],
                     "text": "Retro-walking (backward walking)"},
            "status": ("entered-in-error" if in_error else
                       "completed" if finished else "in-progress"),
            "scheduledTiming": {"repeat": {"frequency": p.sessions_per_week, "period": 1,
                                           "periodUnit": "wk"}},
            "description": words,
        }}],
    }
    if goals and not in_error:
        res["goal"] = [_ref(g.id) for g in goals]
    notes = _error_note(rx.stamp.error_reason) if in_error else []
    if p.notes:
        notes.append({"text": p.notes})
    if notes:
        res["note"] = notes
    return res


_CHECKS = (("path_clear", "path-clear", "Path clear"),
           ("surface_checked", "surface-checked", "Surface checked"),
           ("spotter_present", "spotter-present", "Spotter present"),
           ("home", "home-session", "Done at home, reported by the patient"),
           ("overridden", "dose-overridden", "Suggested dose overridden"))


def safety_observation(k: SessionSafety, patient_id: uuid.UUID) -> dict[str, Any]:
    d = k.draft
    components: list[dict[str, Any]] = []
    for attr, code, text in _CHECKS:
        value = getattr(d, attr)
        if value is None:
            continue  # not checked: no answer rather than a false one
        components.append({"code": {"coding": [{"system": PLAN_SYSTEM, "code": code,
                                                "display": text}], "text": text},
                           "valueBoolean": bool(value)})
    for attr, code, text in (("suggestion", "suggested-dose", "Suggested dose"),
                             ("override_reason", "override-reason", "Why the dose was "
                              "overridden")):
        value = getattr(d, attr)
        if value:
            components.append({"code": {"coding": [{"system": PLAN_SYSTEM, "code": code,
                                                    "display": text}], "text": text},
                               "valueString": value})
    in_error = k.stamp.entered_in_error
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(k.id),
        "status": "entered-in-error" if in_error else "final",
        "category": [{"coding": [{"system": _OBS_CATEGORY, "code": "activity",
                                  "display": "Activity"}], "text": "Activity"}],
        "code": {"coding": [{"system": PLAN_SYSTEM, "code": "session-safety",
                             "display": "Retro-walking session safety checklist"}],
                 "text": "Retro-walking session safety checklist"},
        "subject": _ref(patient_id),
        "encounter": _ref(_derived("Encounter", k.session_id)),
        "derivedFrom": [_ref(k.session_id)],
    }
    if d.home:
        res["performer"] = [_ref(patient_id)]
    if components:
        res["component"] = components
    if in_error:
        res["note"] = _error_note(k.stamp.error_reason)
    return res


def plan_resources(ec: EpisodeChart, patient_id: uuid.UUID, today: date) -> list[dict[str, Any]]:
    """The Goals, CarePlans and checklist Observations of one episode's plan of care."""
    if ec.plan is None:
        return []
    out = [goal_resource(g, ec, patient_id, today) for g in ec.plan.goals]
    live = [g for g in ec.plan.goals if not g.stamp.entered_in_error]
    out += [care_plan_resource(p, ec, live, patient_id, today) for p in ec.plan.prescriptions]
    out += [safety_observation(k, patient_id) for k in ec.plan.safety]
    return out
