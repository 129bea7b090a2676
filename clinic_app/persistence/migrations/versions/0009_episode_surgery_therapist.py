"""episode surgery type and treating therapist

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

An episode records the knee operation it follows (``episode.surgery_type``, a stable code,
empty when not recorded) and its treating therapist (``episode.treating_therapist``, a user
name). Both are nullable and empty on every existing episode: an empty treating therapist
reads as the user who opened the episode, everywhere (records, cohort summary, exports), so
the backfill needs no write and the rows' signatures stay valid (an empty column added after
rows were signed is left out of the signed text, ``rowmac.ADDED_COLUMNS``).

The weekly cohort summary gains the surgery type as a filter column. A summary filled by an
earlier 0008 only needs the empty column (no episode has a type yet); one that 0008 has just
created is empty and is filled here, now that the episode columns it reads exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from clinic_app.persistence import cohort_summary

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    episode = {c["name"] for c in sa.inspect(bind).get_columns("episode")}
    # Plain ALTER TABLE on both databases: SQLite adds and drops a nullable, unindexed
    # column in place, where a batch copy of ``episode`` would trip its foreign keys.
    if "surgery_type" not in episode:
        op.add_column('episode', sa.Column('surgery_type', sa.String(40), nullable=True))
    if "treating_therapist" not in episode:
        op.add_column('episode', sa.Column('treating_therapist', sa.String(100), nullable=True))
    summary = {c["name"] for c in sa.inspect(bind).get_columns("cohort_week")}
    if "surgery_type" not in summary:
        op.add_column('cohort_week', sa.Column('surgery_type', sa.String(40), nullable=True))
    table = cohort_summary.cohort_week
    if bind.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0:
        cohort_summary.rebuild(bind, exclusive=True)  # a migration runs alone


def downgrade() -> None:
    op.drop_column('cohort_week', 'surgery_type')
    op.drop_column('episode', 'treating_therapist')
    op.drop_column('episode', 'surgery_type')
