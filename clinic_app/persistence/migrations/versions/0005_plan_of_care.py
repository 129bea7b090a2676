"""plan of care

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Adds the plan of care of an episode: ``care_goal`` (measured or functional goals),
``care_prescription`` (the retro-walking dose) and ``session_safety`` (per-session safety
checklist, home sessions, the suggested dose and overrides). Clinical rows with UUID keys,
versions, "entered in error" and row signatures; the progression rules are a
``clinic_setting`` row and need no table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _tracked() -> list[sa.Column]:
    return [
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=100), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('entered_in_error', sa.Boolean(), nullable=False),
        sa.Column('error_reason', sa.Text(), nullable=True),
        sa.Column('row_mac', sa.String(length=64), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        'care_goal',
        *_tracked(),
        sa.Column('episode_id', sa.Uuid(), nullable=False),
        sa.Column('measure_id', sa.String(length=40), nullable=True),
        sa.Column('side', sa.String(length=10), nullable=True),
        sa.Column('target_value', sa.Float(), nullable=True),
        sa.Column('target_date', sa.Date(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('achieved', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['episode_id'], ['episode.id'], ondelete='RESTRICT',
                                name=op.f('fk_care_goal_episode_id_episode')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_goal')),
    )
    op.create_index(op.f('ix_care_goal_episode_id'), 'care_goal', ['episode_id'])
    op.create_table(
        'care_prescription',
        *_tracked(),
        sa.Column('episode_id', sa.Uuid(), nullable=False),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('surface', sa.String(length=20), nullable=False),
        sa.Column('duration_min', sa.Float(), nullable=False),
        sa.Column('speed_m_s', sa.Float(), nullable=True),
        sa.Column('incline_pct', sa.Float(), nullable=False),
        sa.Column('assistance', sa.String(length=20), nullable=False),
        sa.Column('spotter', sa.Boolean(), nullable=False),
        sa.Column('dual_task', sa.String(length=200), nullable=False),
        sa.Column('sessions_per_week', sa.Integer(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['episode_id'], ['episode.id'], ondelete='RESTRICT',
                                name=op.f('fk_care_prescription_episode_id_episode')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_prescription')),
    )
    op.create_index(op.f('ix_care_prescription_episode_id'), 'care_prescription',
                    ['episode_id'])
    op.create_table(
        'session_safety',
        *_tracked(),
        sa.Column('session_id', sa.Uuid(), nullable=False),
        sa.Column('home', sa.Boolean(), nullable=False),
        sa.Column('path_clear', sa.Boolean(), nullable=True),
        sa.Column('surface_checked', sa.Boolean(), nullable=True),
        sa.Column('spotter_present', sa.Boolean(), nullable=True),
        sa.Column('suggestion', sa.Text(), nullable=False),
        sa.Column('overridden', sa.Boolean(), nullable=False),
        sa.Column('override_reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['walk_session.id'], ondelete='RESTRICT',
                                name=op.f('fk_session_safety_session_id_walk_session')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_session_safety')),
        sa.UniqueConstraint('session_id', name=op.f('uq_session_safety_session_id')),
    )


def downgrade() -> None:
    op.drop_table('session_safety')
    op.drop_index(op.f('ix_care_prescription_episode_id'), table_name='care_prescription')
    op.drop_table('care_prescription')
    op.drop_index(op.f('ix_care_goal_episode_id'), table_name='care_goal')
    op.drop_table('care_goal')
