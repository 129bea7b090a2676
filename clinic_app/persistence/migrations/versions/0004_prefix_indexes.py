"""patient list paging key index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

The patient list pages by key: each page starts just after the last row shown, in the
order (family key, given key, id). ``ix_patient_family_key`` becomes that whole key, so the
next page is one index range scan from where the last one stopped, and the search's family
name prefix (``family_key >= word AND family_key < word + U+10FFFF``) reads the same index in
list order. It goes on with the MRN, the in-error flag and the birth date: a search page
walks the list in order testing each patient against the typed words, and with these in the
index that walk never reads a table row that does not match. ``ix_patient_given_key``
goes on with the family key and id, so one given name's patients are in list order there. On PostgreSQL the key columns keep their ``COLLATE "C"`` (code-point order, set
since 0001), which a btree can answer a prefix range with whatever the database's locale;
no ``text_pattern_ops`` index is needed on top.
"""

from __future__ import annotations

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_patient_given_key', table_name='patient')
    op.create_index('ix_patient_given_key', 'patient', ['given_key', 'family_key', 'id'])
    op.drop_index('ix_patient_family_key', table_name='patient')
    op.create_index('ix_patient_family_key', 'patient',
                    ['family_key', 'given_key', 'id', 'mrn', 'entered_in_error', 'date_of_birth'])


def downgrade() -> None:
    op.drop_index('ix_patient_given_key', table_name='patient')
    op.create_index('ix_patient_given_key', 'patient', ['given_key'])
    op.drop_index('ix_patient_family_key', table_name='patient')
    op.create_index('ix_patient_family_key', 'patient', ['family_key', 'given_key'])
