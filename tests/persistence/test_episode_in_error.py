"""An episode of care opened by mistake is marked entered in error, never deleted."""

from __future__ import annotations

from datetime import date

import pytest
from accounts import as_user

from clinic_app.domain.errors import (
    EnteredInErrorError,
    PermissionDeniedError,
    ValidationError,
)
from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Role, Side
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService


def _episode(db: Database):  # type: ignore[no-untyped-def]
    svc = ChartingService(db, as_user(db, "therapist1"))
    p = svc.register_patient(PatientDraft("EIE-1", "Berg", "Ola", date(1970, 1, 2)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                             date(2026, 3, 1), date(2026, 2, 18)))
    return svc, p, ep


def test_marked_episode_stays_with_its_reason_and_is_audited(db: Database) -> None:
    svc, p, ep = _episode(db)
    marked = svc.mark_episode_in_error(ep.id, ep.stamp.version, "  opened on the wrong patient ")
    assert marked.stamp.entered_in_error and marked.stamp.version == ep.stamp.version + 1
    assert marked.stamp.error_reason == "opened on the wrong patient"
    assert [e.id for e in svc.episodes(p.id)] == [ep.id]  # still there, flagged
    assert svc.chart(p.id).episodes == ()  # left out of the working chart
    with db.unit_of_work("x") as uow:
        events = [(e.action, e.entity, e.detail) for e in uow.audit.for_patient(p.id)]
    assert ("entered_in_error", "episode", "opened on the wrong patient") in events


def test_stale_version_blank_reason_and_front_desk_are_refused(db: Database) -> None:
    svc, p, ep = _episode(db)
    with pytest.raises(ValidationError, match="Reason"):
        svc.mark_episode_in_error(ep.id, ep.stamp.version, "   ")
    desk = ChartingService(db, as_user(db, "desk", Role.FRONT_DESK))
    with pytest.raises(PermissionDeniedError):
        desk.mark_episode_in_error(ep.id, ep.stamp.version, "typo")
    svc.mark_episode_in_error(ep.id, ep.stamp.version, "duplicate")
    # Marking it again from a stale screen names who marked it first, when and why.
    with pytest.raises(EnteredInErrorError, match="duplicate"):
        svc.mark_episode_in_error(ep.id, ep.stamp.version, "again, from a stale screen")
    (stored,) = svc.episodes(p.id)
    assert stored.stamp.error_reason == "duplicate" and stored.stamp.version == 2
