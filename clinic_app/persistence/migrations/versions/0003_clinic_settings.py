"""clinic-wide settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Adds ``clinic_setting``: clinic-wide choices every workstation shares (the default
return-to-sport criteria set, whether the 3MBWT fall-risk flag applies to this clinic's
population). Key/value rows (the key in ``id``) with a version for conflict detection and a
row signature like every clinical row; no clinical data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'clinic_setting',
        sa.Column('id', sa.String(length=60), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=100), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('row_mac', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_clinic_setting')),
    )


def downgrade() -> None:
    op.drop_table('clinic_setting')
