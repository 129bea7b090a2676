"""cohort indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Indexes for the clinic-wide cohort curves and the outcomes report: a cohort reads one
measure's results across all episodes, so results are indexed by measure first (the
existing index leads with the episode, which serves one patient's chart), and episodes by
diagnosis and start date, the usual cohort filters. No data changes.
"""

from __future__ import annotations

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_test_result_measure_episode', 'test_result',
                    ['measure_id', 'episode_id', 'performed_on'])
    op.create_index('ix_episode_diagnosis_start', 'episode', ['diagnosis', 'start_date'])


def downgrade() -> None:
    op.drop_index('ix_episode_diagnosis_start', table_name='episode')
    op.drop_index('ix_test_result_measure_episode', table_name='test_result')
