"""Clinic-wide clinical choices (return-to-sport criteria set, 3MBWT fall-risk flag), stored
in the database so every workstation uses the same ones."""

from __future__ import annotations

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.readiness import (
    CRITERIA_SETS,
    DEFAULT_CRITERIA_SET,
    SETTING_BWT_FLAG,
    SETTING_CRITERIA_SET,
    ClinicalSettings,
)
from clinic_app.persistence.uow import Database, UnitOfWork


def read_clinical_settings(uow: UnitOfWork) -> ClinicalSettings:
    """The clinic's choices inside the caller's unit of work (defaults where never set)."""
    cs = uow.settings.get(SETTING_CRITERIA_SET)
    flag = uow.settings.get(SETTING_BWT_FLAG)
    set_id = cs[0] if cs is not None and cs[0] in CRITERIA_SETS else DEFAULT_CRITERIA_SET
    return ClinicalSettings(
        set_id, flag is None or flag[0] != "off",
        (0 if cs is None else cs[1], 0 if flag is None else flag[1]),
    )


def get_clinical_settings(db: Database, actor: Principal) -> ClinicalSettings:
    """The clinic's choices (defaults where never set), for any signed-in user."""
    with db.unit_of_work(as_principal(actor), read_only=True) as uow:
        return read_clinical_settings(uow)


def save_clinical_settings(db: Database, actor: Principal,
                           settings: ClinicalSettings) -> ClinicalSettings:
    """Store the clinic's choices (administrators), audited with before and after.

    ``settings.versions`` must be those read; a change made meanwhile on another workstation
    raises ConflictError and nothing is written.
    """
    require(as_principal(actor), Action.ADMIN)
    if settings.criteria_set not in CRITERIA_SETS:
        raise ValidationError("Criteria set", f"{settings.criteria_set!r} is not known",
                              ", ".join(CRITERIA_SETS))
    with db.unit_of_work(actor) as uow:
        before = read_clinical_settings(uow)
        uow.settings.put(SETTING_CRITERIA_SET, settings.criteria_set, settings.versions[0])
        uow.settings.put(SETTING_BWT_FLAG, "on" if settings.bwt_fall_flag else "off",
                         settings.versions[1])
        after = read_clinical_settings(uow)
        uow.audit.record("update", "clinic_setting", "clinical",
                         before={"criteria_set": before.criteria_set,
                                 "bwt_fall_flag": before.bwt_fall_flag},
                         after={"criteria_set": after.criteria_set,
                                "bwt_fall_flag": after.bwt_fall_flag})
    return after
