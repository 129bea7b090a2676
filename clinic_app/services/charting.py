"""Charting use cases: patients, episodes of care, retro-walking sessions and test results."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, date
from uuid import UUID

from clinic_app.domain.charts import EpisodeChart, PatientChart
from clinic_app.domain.errors import EnteredInErrorError, ValidationError
from clinic_app.domain.permissions import (
    CLINICAL_ROLES,
    Action,
    Principal,
    as_principal,
    require,
)
from clinic_app.domain.records import (
    Episode,
    EpisodeDraft,
    Patient,
    PatientDraft,
    PatientPage,
    TestResult,
    TestResultDraft,
    User,
    WalkSession,
    WalkSessionDraft,
)
from clinic_app.domain.scoring import validate_test_result
from clinic_app.domain.session_params import validate_walk_session
from clinic_app.domain.validation import validate_episode, validate_patient, validate_reason
from clinic_app.persistence.uow import Database, UnitOfWork


class ChartingService:
    """Use cases for one acting user against one database; permissions checked per call."""

    def __init__(self, db: Database, actor: Principal) -> None:
        self.db = db
        self.principal = as_principal(actor)
        self.actor = self.principal.username

    def _uow(self, action: Action = Action.READ) -> AbstractContextManager[UnitOfWork]:
        require(self.principal, action)
        return self.db.unit_of_work(self.principal)

    def _read(self) -> AbstractContextManager[UnitOfWork]:
        """A read-only unit of work: searches never queue behind a long write."""
        require(self.principal, Action.READ)
        return self.db.unit_of_work(self.principal, read_only=True)

    # --- patients -----------------------------------------------------------------
    def register_patient(self, draft: PatientDraft) -> Patient:
        draft = _normalise_patient(draft)
        validate_patient(draft)
        with self._uow(Action.WRITE_PATIENT) as uow:
            _check_mrn_free(uow, draft.mrn)
            patient = uow.patients.add(draft)
            uow.audit.record("create", "patient", patient.id, patient.id, after=draft)
        return patient

    def update_patient(self, patient_id: UUID, version: int, draft: PatientDraft) -> Patient:
        draft = _normalise_patient(draft)
        validate_patient(draft)
        with self._uow(Action.WRITE_PATIENT) as uow:
            before = uow.patients.get(patient_id)
            _check_mrn_free(uow, draft.mrn, except_id=patient_id)
            patient = uow.patients.update(patient_id, version, draft)
            uow.audit.record("update", "patient", patient_id, patient_id,
                             before=before.draft, after=draft)
        return patient

    def mark_patient_in_error(self, patient_id: UUID, version: int, reason: str) -> Patient:
        reason = validate_reason(reason)
        with self._uow(Action.WRITE_PATIENT) as uow:
            patient = uow.patients.mark_entered_in_error(patient_id, version, reason)
            uow.audit.record("entered_in_error", "patient", patient_id, patient_id, detail=reason)
        return patient

    def get_patient(self, patient_id: UUID) -> Patient:
        with self._read() as uow:
            return uow.patients.get(patient_id)

    def find_by_mrn(self, mrn: str) -> Patient | None:
        with self._read() as uow:
            return uow.patients.by_mrn(mrn.strip().upper())

    def search_patients(
        self, text: str = "", offset: int = 0, limit: int = 200, include_in_error: bool = False
    ) -> list[Patient]:
        """One page of the patient list (runs on every keystroke: a single lean SELECT)."""
        require(self.principal, Action.READ)
        return self.db.patient_page(self.principal, text, offset, limit, include_in_error)

    def patient_list_page(
        self, text: str = "", after: tuple[str, str, UUID] | None = None, limit: int = 200,
        include_in_error: bool = False,
    ) -> PatientPage:
        """One page of the patient list starting just after ``after`` (the previous page's
        ``next_after``; ``None`` for the first page): as fast deep in the list as at its top."""
        require(self.principal, Action.READ)
        return self.db.patient_keyset_page(self.principal, text, after, limit, include_in_error)

    def count_patients(self, text: str = "", include_in_error: bool = False,
                       cap: int | None = None) -> int:
        """How many patients match ``text``; with ``cap``, counting stops there (the result
        is ``min(matches, cap)``), so a first letter at a million patients stays quick."""
        require(self.principal, Action.READ)
        return self.db.patient_count(self.principal, text, include_in_error, cap)

    def count_patients_within(self, text: str, cap: int, budget_s: float,
                              include_in_error: bool = False) -> int | None:
        """:meth:`count_patients` with ``cap``, given up after ``budget_s`` seconds: ``None``
        then (the patient list shows its page at once and counts again without a limit)."""
        require(self.principal, Action.READ)
        return self.db.patient_count_within(self.principal, text, cap, budget_s,
                                            include_in_error)

    # --- episodes -----------------------------------------------------------------
    def open_episode(self, patient_id: UUID, draft: EpisodeDraft) -> Episode:
        with self._uow(Action.WRITE_CLINICAL) as uow:
            patient = uow.patients.get(patient_id)
            _refuse_in_error(patient, "Patient")
            draft = _with_therapist(uow, draft, self.actor, None)
            validate_episode(draft, patient.draft.date_of_birth)
            episode = uow.episodes.add(patient_id, draft)
            uow.audit.record("create", "episode", episode.id, patient_id, after=draft)
        return episode

    def update_episode(self, episode_id: UUID, version: int, draft: EpisodeDraft) -> Episode:
        with self._uow(Action.WRITE_CLINICAL) as uow:
            before = uow.episodes.get(episode_id)
            patient = uow.patients.get(before.patient_id)
            draft = _with_therapist(uow, draft, self.actor, before.draft.treating_therapist)
            validate_episode(draft, patient.draft.date_of_birth)
            episode = uow.episodes.update(episode_id, version, draft)
            uow.audit.record("update", "episode", episode_id, patient.id,
                             before=before.draft, after=draft)
        return episode

    def mark_episode_in_error(self, episode_id: UUID, version: int, reason: str) -> Episode:
        reason = validate_reason(reason)
        with self._uow(Action.WRITE_CLINICAL) as uow:
            episode = uow.episodes.mark_entered_in_error(episode_id, version, reason)
            uow.audit.record("entered_in_error", "episode", episode_id, episode.patient_id,
                             detail=reason)
        return episode

    def clinicians(self) -> list[User]:
        """The active users who may treat (therapists and administrators), by user name:
        the choices for an episode's treating therapist."""
        with self._read() as uow:
            return [u for u in uow.users.all() if u.active and u.role in CLINICAL_ROLES]

    def episodes(self, patient_id: UUID) -> list[Episode]:
        with self._read() as uow:
            return uow.episodes.for_patient(patient_id)

    # --- sessions and tests --------------------------------------------------------
    def record_session(
        self, episode_id: UUID, draft: WalkSessionDraft, tests: Sequence[TestResultDraft] = ()
    ) -> tuple[WalkSession, list[TestResult]]:
        """Store a session and the tests done that visit, all or nothing."""
        with self._uow(Action.WRITE_CLINICAL) as uow:
            episode, born = _episode_and_birth(uow, episode_id)
            _refuse_in_error(episode, "Episode of care")
            validate_walk_session(draft, born=born, episode_start=episode.draft.start_date)
            draft = _in_utc(draft)
            scored = [(t, validate_test_result(t, born=born,
                                               episode_start=episode.draft.start_date))
                      for t in tests]
            session = uow.sessions.add(episode_id, draft)
            uow.audit.record("create", "session", session.id, episode.patient_id, after=draft)
            stored = []
            for t, value in scored:
                t = replace(t, session_id=session.id)
                result = uow.tests.add(episode_id, t, value)
                uow.audit.record("create", "test_result", result.id, episode.patient_id,
                                 after=t, detail=f"{t.measure_id}={value:g}")
                stored.append(result)
        return session, stored

    def update_session(
        self, session_id: UUID, version: int, draft: WalkSessionDraft
    ) -> WalkSession:
        with self._uow(Action.WRITE_CLINICAL) as uow:
            before = uow.sessions.get(session_id)
            episode, born = _episode_and_birth(uow, before.episode_id)
            validate_walk_session(draft, born=born, episode_start=episode.draft.start_date)
            draft = _in_utc(draft)
            session = uow.sessions.update(session_id, version, draft)
            uow.audit.record("update", "session", session_id, episode.patient_id,
                             before=before.draft, after=draft)
        return session

    def mark_session_in_error(self, session_id: UUID, version: int, reason: str) -> WalkSession:
        reason = validate_reason(reason)
        with self._uow(Action.WRITE_CLINICAL) as uow:
            session = uow.sessions.mark_entered_in_error(session_id, version, reason)
            episode = uow.episodes.get(session.episode_id)
            uow.audit.record("entered_in_error", "session", session_id, episode.patient_id,
                             detail=reason)
        return session

    def latest_session(self, episode_id: UUID) -> WalkSession | None:
        """The most recent valid session, used to prefill the next one."""
        with self._read() as uow:
            return uow.sessions.latest(episode_id)

    def record_test(self, episode_id: UUID, draft: TestResultDraft) -> TestResult:
        """Store a test result; refused once its episode or session is marked entered in
        error."""
        with self._uow(Action.WRITE_CLINICAL) as uow:
            episode, born = _episode_and_birth(uow, episode_id)
            _refuse_in_error(episode, "Episode of care")
            if draft.session_id is not None:
                _refuse_in_error(uow.sessions.get(draft.session_id), "Session")
            value = validate_test_result(draft, born=born, episode_start=episode.draft.start_date)
            result = uow.tests.add(episode_id, draft, value)
            uow.audit.record("create", "test_result", result.id, episode.patient_id,
                             after=draft, detail=f"{draft.measure_id}={value:g}")
        return result

    def mark_test_in_error(self, test_id: UUID, version: int, reason: str) -> TestResult:
        reason = validate_reason(reason)
        with self._uow(Action.WRITE_CLINICAL) as uow:
            result = uow.tests.mark_entered_in_error(test_id, version, reason)
            episode = uow.episodes.get(result.episode_id)
            uow.audit.record("entered_in_error", "test_result", test_id, episode.patient_id,
                             detail=reason)
        return result

    def session_tests(self, session_id: UUID) -> list[TestResult]:
        with self._read() as uow:
            return uow.tests.for_session(session_id)

    def record_export(self, patient_id: UUID, detail: str) -> None:
        """Audit an export made in the GUI (e.g. a plot saved as PNG)."""
        with self._uow(Action.EXPORT) as uow:
            uow.audit.record("export", "patient", patient_id, patient_id, detail=detail)

    # --- whole chart ---------------------------------------------------------------
    def chart(
        self, patient_id: UUID, start: date | None = None, end: date | None = None,
        include_in_error: bool = False,
    ) -> PatientChart:
        """The patient with every episode, session and test, optionally limited to a period.

        Opening a chart is recorded in the audit trail as a "view" event. The chart is read
        in a read-only transaction, so it never waits for a writer (an import, a backup's
        restore); the event is written at once, or queued until the writer is done.
        """
        with self._read() as uow:
            chart = load_chart(uow, patient_id, start, end, include_in_error)
        self.db.views.record(self.principal.username, patient_id)
        return chart


def load_chart(
    uow: UnitOfWork, patient_id: UUID, start: date | None, end: date | None, include_in_error: bool
) -> PatientChart:
    """Read a whole chart inside the caller's unit of work (shared with the report service)."""
    patient = uow.patients.get(patient_id)
    charts = []
    for ep in uow.episodes.for_patient(patient_id, include_in_error):
        sessions = [
            s for s in uow.sessions.for_episode(ep.id, include_in_error)
            if _within(s.draft.performed_at.date(), start, end)
        ]
        tests = [
            t for t in uow.tests.for_episode(ep.id, include_in_error=include_in_error)
            if _within(t.draft.performed_on, start, end)
        ]
        charts.append(EpisodeChart(ep, tuple(sessions), tuple(tests)))
    return PatientChart(patient, tuple(charts))


def _refuse_in_error(record: Patient | Episode | WalkSession, what: str) -> None:
    """Nothing is added to or changed in a record marked entered in error."""
    stamp = record.stamp
    if stamp.entered_in_error:
        raise EnteredInErrorError(what, stamp.updated_by, stamp.updated_at, stamp.error_reason,
                                  record)


def _within(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def _with_therapist(uow: UnitOfWork, d: EpisodeDraft, actor: str,
                    kept: str | None) -> EpisodeDraft:
    """``d`` with its treating therapist: the acting user when none is chosen. A new choice
    must be an active user with a clinical role; the one already on the episode (``kept``)
    stays valid after that account is deactivated, so old episodes remain editable."""
    name = (d.treating_therapist or "").strip() or (kept or actor)
    if name != kept:
        user = uow.users.by_username(name)
        if user is None or not user.active or user.role not in CLINICAL_ROLES:
            raise ValidationError("Treating therapist", f"{name!r} is not an active clinician",
                                  "an active therapist or administrator of this clinic")
    return replace(d, treating_therapist=name)


def _episode_and_birth(uow: UnitOfWork, episode_id: UUID) -> tuple[Episode, date]:
    """An episode and its patient's birth date: the bounds of a session's or test's date."""
    episode = uow.episodes.get(episode_id)
    return episode, uow.patients.get(episode.patient_id).draft.date_of_birth


def _in_utc(d: WalkSessionDraft) -> WalkSessionDraft:
    """The session time in UTC, as records keep instants (checked first: no overflow)."""
    return replace(d, performed_at=d.performed_at.astimezone(UTC))


def _normalise_patient(d: PatientDraft) -> PatientDraft:
    return replace(
        d,
        mrn=(d.mrn or "").strip().upper(),
        family_name=(d.family_name or "").strip(),
        given_name=(d.given_name or "").strip(),
        phone=(d.phone or "").strip(),
        email=(d.email or "").strip(),
    )


def _check_mrn_free(uow: UnitOfWork, mrn: str, except_id: UUID | None = None) -> None:
    if uow.patients.mrn_taken(mrn, except_id):
        raise ValidationError("MRN", f"{mrn} is already used by another patient", "a unique MRN")
