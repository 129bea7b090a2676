"""goal achieved on

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

A goal in words that the therapist marks achieved keeps the day it was achieved
(``care_goal.achieved_on``), so the record, the report and the discharge summary say when.
The column is nullable and empty for every existing goal; its row signatures stay valid
because an empty column added after rows were signed is left out of the signed text
(``rowmac.ADDED_COLUMNS``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('care_goal') as batch:
        batch.add_column(sa.Column('achieved_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('care_goal') as batch:
        batch.drop_column('achieved_on')
