"""SQLAlchemy 2 typed models.

Every clinical row carries a UUID key, created/updated at+by, an optimistic-lock
``version`` (SQLAlchemy ``version_id_col``) and an "entered in error" flag with a
reason instead of ever being deleted. Speeds are SI (m/s).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from clinic_app.persistence.types import UTCDateTime

# Byte-order collation on PostgreSQL so prefix range searches use the b-tree index.
KeyString = String(100).with_variant(String(100, collation="C"), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tracked:
    """Columns shared by every clinical row."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(100), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    entered_in_error: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error_reason: Mapped[str | None] = mapped_column(Text)
    # HMAC of the row's content with the audit key (see persistence/rowmac.py).
    row_mac: Mapped[str | None] = mapped_column(String(64))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.version}


class ClinicRow(Base):
    """The clinic's letterhead (single row, shared by all workstations)."""

    __tablename__ = "clinic"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    address: Mapped[str] = mapped_column(Text, nullable=False, default="")
    phone: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    row_mac: Mapped[str | None] = mapped_column(String(64))
    __mapper_args__ = {"version_id_col": version}


class ClinicSettingRow(Base):
    """A clinic-wide choice shared by every workstation (e.g. the return-to-sport criteria
    set), keyed by its name in ``id``. Signed like the clinical rows; changes are written to
    the audit trail with before and after."""

    __tablename__ = "clinic_setting"
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(100), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    row_mac: Mapped[str | None] = mapped_column(String(64))
    __mapper_args__ = {"version_id_col": version}


class UserRow(Base):
    __tablename__ = "app_user"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    row_mac: Mapped[str | None] = mapped_column(String(64))
    __mapper_args__ = {"version_id_col": version}


class PatientRow(Tracked, Base):
    __tablename__ = "patient"
    mrn: Mapped[str] = mapped_column(
        String(40).with_variant(String(40, collation="C"), "postgresql"),
        nullable=False,
        unique=True,
    )
    family_name: Mapped[str] = mapped_column(String(100), nullable=False)
    given_name: Mapped[str] = mapped_column(String(100), nullable=False)
    # Lower-cased, accent-folded copies so search uses an index on both databases.
    family_key: Mapped[str] = mapped_column(KeyString, nullable=False)
    given_key: Mapped[str] = mapped_column(KeyString, nullable=False)
    date_of_birth: Mapped[date] = mapped_column(Date, nullable=False)
    sex: Mapped[str] = mapped_column(String(10), nullable=False)
    phone: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    email: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (
        # The list's order and paging key, then what a search tests (see PatientList.page).
        Index("ix_patient_family_key", "family_key", "given_key", "id", "mrn",
              "entered_in_error", "date_of_birth"),
        # One given name's patients in list order (family key, id): see PatientList.page.
        Index("ix_patient_given_key", "given_key", "family_key", "id"),
        Index("ix_patient_dob", "date_of_birth"),
    )


class EpisodeRow(Tracked, Base):
    __tablename__ = "episode"
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    diagnosis: Mapped[str] = mapped_column(String(40), nullable=False)
    affected_side: Mapped[str] = mapped_column(String(10), nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    surgery_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    referring_doctor: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Migration 0009: both empty on older episodes; an empty therapist reads as the creator.
    surgery_type: Mapped[str | None] = mapped_column(String(40))
    treating_therapist: Mapped[str | None] = mapped_column(String(100))

    # Cohorts select episodes by diagnosis and start period (migration 0006).
    __table_args__ = (Index("ix_episode_diagnosis_start", "diagnosis", "start_date"),)


class WalkSessionRow(Tracked, Base):
    __tablename__ = "walk_session"
    episode_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("episode.id", ondelete="RESTRICT"), nullable=False
    )
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    mode: Mapped[str] = mapped_column(String(20), nullable=False)
    surface: Mapped[str] = mapped_column(String(20), nullable=False)
    duration_min: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    speed_m_s: Mapped[float | None] = mapped_column(Float)
    incline_pct: Mapped[float | None] = mapped_column(Float)
    assistance: Mapped[str] = mapped_column(String(20), nullable=False)
    pain_before: Mapped[int | None] = mapped_column(Integer)
    pain_after: Mapped[int | None] = mapped_column(Integer)
    rpe: Mapped[float | None] = mapped_column(Float)
    heart_rate: Mapped[int | None] = mapped_column(Integer)
    adverse_events: Mapped[str] = mapped_column(Text, nullable=False, default="")
    subjective: Mapped[str] = mapped_column(Text, nullable=False, default="")
    objective: Mapped[str] = mapped_column(Text, nullable=False, default="")
    assessment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    plan: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (Index("ix_walk_session_episode_time", "episode_id", "performed_at"),)


class TestResultRow(Tracked, Base):
    __tablename__ = "test_result"
    __test__ = False  # not a pytest test class
    episode_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("episode.id", ondelete="RESTRICT"), nullable=False
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("walk_session.id", ondelete="RESTRICT"), index=True
    )
    measure_id: Mapped[str] = mapped_column(String(40), nullable=False)
    performed_on: Mapped[date] = mapped_column(Date, nullable=False)
    side: Mapped[str | None] = mapped_column(String(10))
    value: Mapped[float] = mapped_column(Float, nullable=False)
    items: Mapped[list[int | None] | None] = mapped_column(JSON)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (
        Index("ix_test_result_episode_measure", "episode_id", "measure_id", "performed_on"),
        # Cohorts read one measure across all episodes (migration 0006).
        Index("ix_test_result_measure_episode", "measure_id", "episode_id", "performed_on"),
    )


class AuditRow(Base):
    """Append-only audit trail; rows are only ever inserted."""

    __tablename__ = "audit_event"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(30), nullable=False)
    entity: Mapped[str] = mapped_column(String(30), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(40))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # HMAC-SHA256 chain: each row's mac covers its content and the previous row's mac.
    prev_mac: Mapped[str] = mapped_column(String(64), nullable=False)
    mac: Mapped[str] = mapped_column(String(64), nullable=False)
    # Which workstation wrote the event (a keyed id, see config.workstation_id); covered by
    # the mac when set. Lets a workstation notice its own events' anchor file has gone.
    workstation: Mapped[str | None] = mapped_column(String(32))


class CareGoalRow(Tracked, Base):
    """A goal of an episode's plan of care: a measure with target value and date, or words."""

    __tablename__ = "care_goal"
    episode_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("episode.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    measure_id: Mapped[str | None] = mapped_column(String(40))
    side: Mapped[str | None] = mapped_column(String(10))
    target_value: Mapped[float | None] = mapped_column(Float)
    target_date: Mapped[date | None] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    achieved: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    achieved_on: Mapped[date | None] = mapped_column(Date)  # migration 0007


class PrescriptionRow(Tracked, Base):
    """The current retro-walking prescription of an episode (one live row per episode; an
    earlier one is kept in the audit trail's before/after, never deleted)."""

    __tablename__ = "care_prescription"
    episode_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("episode.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    mode: Mapped[str] = mapped_column(String(20), nullable=False)
    surface: Mapped[str] = mapped_column(String(20), nullable=False)
    duration_min: Mapped[float] = mapped_column(Float, nullable=False)
    speed_m_s: Mapped[float | None] = mapped_column(Float)
    incline_pct: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    assistance: Mapped[str] = mapped_column(String(20), nullable=False)
    spotter: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    dual_task: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    sessions_per_week: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")


class SessionSafetyRow(Tracked, Base):
    """What the plan of care records with a session: the safety checklist, whether it was a
    self-reported home session, and the suggested dose and any override of it. A table of
    its own so the session rows (and their signatures) are untouched."""

    __tablename__ = "session_safety"
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("walk_session.id", ondelete="RESTRICT"), nullable=False, unique=True
    )
    home: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    path_clear: Mapped[bool | None] = mapped_column(Boolean)
    surface_checked: Mapped[bool | None] = mapped_column(Boolean)
    spotter_present: Mapped[bool | None] = mapped_column(Boolean)
    suggestion: Mapped[str] = mapped_column(Text, nullable=False, default="")
    overridden: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    override_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
