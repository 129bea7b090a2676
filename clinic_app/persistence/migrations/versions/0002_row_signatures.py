"""row signatures and audit workstation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Adds ``row_mac`` to every clinical and user table and ``workstation`` to the audit trail.
Rows that already exist are signed here with the audit key handed in by the migrator
(``migrate.upgrade(..., audit_key=...)``); their content before this upgrade cannot be
vouched for, only everything that happens to them from now on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SIGNED = ('clinic', 'app_user', 'patient', 'episode', 'walk_session', 'test_result')


def upgrade() -> None:
    for table in SIGNED:
        op.add_column(table, sa.Column('row_mac', sa.String(length=64), nullable=True))
    op.add_column('audit_event', sa.Column('workstation', sa.String(length=32), nullable=True))
    key = context.config.attributes.get('audit_key')
    if key is not None:
        _sign_existing(key)


def _sign_existing(key: bytes) -> None:
    from clinic_app.persistence import rowmac

    bind = op.get_bind()
    for model in rowmac.SIGNED_MODELS:
        if model.__tablename__ not in SIGNED:  # a table a later revision creates
            continue
        table = model.__table__
        # Columns later revisions add do not exist yet; empty, they are not signed anyway.
        later = rowmac.ADDED_COLUMNS.get(table.name, frozenset())
        names = [n for n in rowmac.LAYOUTS[table.name].names if n not in later]
        last = None
        while True:
            q = sa.select(*(table.c[n] for n in names)).order_by(table.c.id).limit(5000)
            if last is not None:
                q = q.where(table.c.id > last)
            rows = bind.execute(q).mappings().all()
            if not rows:
                break
            bind.execute(
                table.update().where(table.c.id == sa.bindparam('b_id'))
                .values(row_mac=sa.bindparam('b_mac')),
                [{'b_id': r['id'], 'b_mac': rowmac.compute(key, table.name, r)} for r in rows])
            last = rows[-1]['id']


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('workstation')
    for table in SIGNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('row_mac')
