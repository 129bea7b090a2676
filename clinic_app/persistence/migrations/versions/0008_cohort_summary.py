"""cohort summary

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

Adds ``cohort_week``, the weekly summary the cohort curves read (one row per episode,
measure, week basis and week: the mean of the episode's results that week and the columns
the cohort filters test). Derived data only: no record changes. Created only when missing,
so a PostgreSQL restore of an older backup (which stamps the older revision over a current
schema) upgrades cleanly. Migration 0009 fills it: the summary reads episode columns that
0009 adds.
"""

from __future__ import annotations

from alembic import op

from clinic_app.persistence import cohort_summary

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    cohort_summary.cohort_week.create(bind, checkfirst=True)


def downgrade() -> None:
    op.drop_table('cohort_week')
