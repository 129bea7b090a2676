"""Clinic letterhead shared by every workstation (used on PDF reports)."""

from __future__ import annotations

from dataclasses import replace

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.records import ClinicInfo
from clinic_app.persistence.uow import Database

MAX_LOGO_BYTES = 2_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def get_clinic(db: Database, actor: Principal) -> ClinicInfo:
    """The letterhead, for any signed-in user (a read: it works while the clinic is being
    moved, and in a database it left)."""
    with db.unit_of_work(as_principal(actor), read_only=True) as uow:
        return uow.clinic.get()


def save_clinic(db: Database, actor: Principal, info: ClinicInfo) -> ClinicInfo:
    """Save the letterhead (administrators); ``info.version`` must be the version read."""
    require(as_principal(actor), Action.ADMIN)
    info = replace(info, name=info.name.strip(), address=info.address.strip(),
                   phone=info.phone.strip())
    if not info.name:
        raise ValidationError("Clinic name", "is required", "1-200 characters")
    if len(info.name) > 200:
        raise ValidationError("Clinic name", f"is {len(info.name)} characters", "at most 200")
    if len(info.address) > 1000:
        raise ValidationError("Address", f"is {len(info.address)} characters", "at most 1000")
    if len(info.phone) > 60:
        raise ValidationError("Phone", f"is {len(info.phone)} characters", "at most 60")
    if info.logo_png is not None:
        if len(info.logo_png) > MAX_LOGO_BYTES:
            raise ValidationError("Logo", f"is {len(info.logo_png):,} bytes", "at most 2 MB")
        if not info.logo_png.startswith((PNG_SIGNATURE, JPEG_SIGNATURE)):
            raise ValidationError("Logo", "is not a PNG or JPEG image", "PNG or JPEG")
    with db.unit_of_work(actor) as uow:
        before = uow.clinic.get()
        saved = uow.clinic.save(info)
        uow.audit.record("update", "clinic", "1", before=before, after=saved)
    return saved
