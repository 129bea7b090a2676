"""Clinic-wide recovery trends: cohort curves, a patient's expected recovery, outcomes.

Therapists and administrators only (``Action.COHORTS``, checked here); every call is one
unit of work that also writes what was looked at or exported to the audit trail. The
figures are aggregated by the database (``persistence.cohorts``); the PDF and CSV are drawn
by ``reports`` and ``interop``, imported only when written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from clinic_app.domain.cohorts import (
    CohortCurve,
    CohortFilter,
    DiagnosisOutcome,
    OutcomesData,
    WeekBasis,
    quantile,
)
from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.readiness import Verdict, add_months, assess_readiness, get_criteria_set
from clinic_app.domain.records import Diagnosis, Side
from clinic_app.persistence.backup import parts_registry
from clinic_app.persistence.outfiles import part_file, publish, refuse_existing
from clinic_app.persistence.uow import Database, UnitOfWork
from clinic_app.services.clinical_settings import read_clinical_settings


def _check_measure(measure_id: str) -> None:
    if measure_id not in MEASURES:
        raise ValidationError("Measure", f"{measure_id!r} is not a known measure",
                              ", ".join(sorted(MEASURES)))


def _check_diagnosis(diagnosis: str | None) -> None:
    if diagnosis and diagnosis not in {d.value for d in Diagnosis}:
        raise ValidationError("Diagnosis", f"{diagnosis!r} is not a known diagnosis",
                              ", ".join(d.value for d in Diagnosis))


def cohort_curve(db: Database, actor: Principal, f: CohortFilter) -> CohortCurve:
    """The cohort's weekly median, quartiles and counts; the view is audited."""
    principal = as_principal(actor)
    require(principal, Action.COHORTS)
    _check_measure(f.measure_id)
    _check_diagnosis(f.diagnosis)
    with db.unit_of_work(principal) as uow:
        curve = uow.cohorts.curve(f)
        uow.audit.record("view", "cohort", None, None,
                         detail=f"cohort curve: {f.describe()}; {curve.patients} patient(s)")
    return curve


def expected_recovery(db: Database, actor: Principal, episode_id: uuid.UUID,
                      measure_id: str) -> CohortCurve:
    """The usual curve for ``episode_id``'s measure: the other episodes of its diagnosis,
    by weeks since surgery when it had surgery (else since its start).

    Below :data:`~clinic_app.domain.cohorts.MIN_COHORT_PATIENTS` patients the weeks are
    withheld (only the count is returned): a handful of patients is no "usual" curve.
    """
    principal = as_principal(actor)
    require(principal, Action.COHORTS)
    _check_measure(measure_id)
    with db.unit_of_work(principal) as uow:
        episode = uow.episodes.get(episode_id)  # raises NotFoundError if it is gone
        d = episode.draft
        f = CohortFilter(
            measure_id,
            WeekBasis.SURGERY if d.surgery_date is not None else WeekBasis.EPISODE_START,
            diagnosis=d.diagnosis.value, exclude_episode=str(episode_id))
        curve = uow.cohorts.curve(f)
        uow.audit.record("view", "cohort", episode_id, episode.patient_id,
                         detail=f"expected recovery overlay: {f.describe()}; "
                                f"{curve.patients} patient(s)")
    return curve if curve.large_enough else replace(curve, weeks=())


def load_outcomes(db: Database, actor: Principal, diagnosis: str | None = None,
                  today: date | None = None) -> OutcomesData:
    """The outcomes report's figures per diagnosis (no identifiers); audited as a view."""
    principal = as_principal(actor)
    require(principal, Action.COHORTS)
    _check_diagnosis(diagnosis)
    with db.unit_of_work(principal) as uow:
        data = _outcomes(uow, principal, diagnosis, today)
        uow.audit.record("view", "outcomes", None, None,
                         detail=f"outcomes figures; diagnosis {diagnosis or 'all'}")
    return data


def _outcomes(uow: UnitOfWork, principal: Principal, diagnosis: str | None,
              today: date | None) -> OutcomesData:
    measures = uow.cohorts.measure_outcomes(diagnosis)
    sessions = uow.cohorts.session_outcomes(diagnosis)
    rts = _weeks_to_return_to_sport(uow, diagnosis, today or datetime.now(UTC).date())
    clinic = uow.clinic.get()
    rows = tuple(
        DiagnosisOutcome(diag, n, med, total, adverse, tuple(measures.get(diag, ())),
                         *rts.get(diag, (0, None)))
        for diag, (n, med, total, adverse) in sessions.items()
    )
    return OutcomesData(clinic.name, principal.label, today or datetime.now(UTC).date(),
                        diagnosis, rows)


def _weeks_to_return_to_sport(uow: UnitOfWork, diagnosis: str | None, today: date
                              ) -> dict[str, tuple[int, float | None]]:
    """Per diagnosis: episodes that met the clinic's return-to-sport criteria set, and the
    median weeks from surgery to the first day they all held.

    The verdict is the one the patient's record shows (``domain.readiness``), taken on each
    day a criterion's result was recorded and on the earliest day the time criterion allows.
    Only episodes holding a result of every measure the set needs are read.
    """
    cs = get_criteria_set(read_clinical_settings(uow).criteria_set)
    needed = sorted({c.measure_id for c in cs.criteria if c.measure_id})
    weeks: dict[str, list[float]] = {}
    for diag, side, surgery, results in uow.cohorts.rts_candidates(needed, diagnosis).values():
        if surgery is None:
            continue
        days = sorted({r.draft.performed_on for r in results}
                      | {add_months(surgery, int(c.threshold or 0))
                         for c in cs.criteria if c.kind == "time"})
        for day in days:
            if day > today:
                break
            verdict = assess_readiness(results, criteria_set=cs.id, affected=Side(side),
                                       surgery_date=surgery, as_of=day).verdict
            if verdict is Verdict.READY:
                weeks.setdefault(diag, []).append((day - surgery).days / 7.0)
                break
    return {d: (len(ws), quantile(ws, 0.5)) for d, ws in weeks.items()}


@dataclass(frozen=True)
class OutcomesExport:
    pdf: Path
    pages: int
    csv: Path | None
    data: OutcomesData


def write_outcomes(db: Database, actor: Principal, out: Path, csv: Path | None = None,
                   diagnosis: str | None = None, *, force: bool = True,
                   today: date | None = None) -> OutcomesExport:
    """Write the outcomes report PDF (and the same figures as CSV); audited as an export.

    Files appear only once complete; if the audit row cannot be written they are removed.
    """
    from clinic_app.interop.outcomes_csv import write_outcomes_csv
    from clinic_app.reports.outcomes_report import build_outcomes_report

    principal = as_principal(actor)
    require(principal, Action.COHORTS)
    _check_diagnosis(diagnosis)
    out = Path(out)
    refuse_existing(out, force)
    if csv is not None:
        csv = Path(csv)
        refuse_existing(csv, force)
    data = load_outcomes(db, principal, diagnosis, today)
    written: list[Path] = []
    try:
        with part_file(out, parts_registry()) as tmp:
            pages = build_outcomes_report(data, tmp)
            publish(tmp, out, force)
        written.append(out)
        if csv is not None:
            with part_file(csv, parts_registry()) as tmp:
                write_outcomes_csv(data, tmp)
                publish(tmp, csv, force)
            written.append(csv)
        with db.unit_of_work(principal) as uow:
            names = " and ".join(p.name for p in written)
            uow.audit.record("export", "outcomes", None, None,
                             detail=f"outcomes report {names}; {pages} page(s); "
                                    f"diagnosis {diagnosis or 'all'}")
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return OutcomesExport(out, pages, csv, data)
