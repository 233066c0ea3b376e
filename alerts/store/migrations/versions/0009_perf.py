"""perf: the provider_id index holds only rows that have one

Revision ID: 0009_perf
Revises: 0008_voice
Create Date: 2026-11-29 13:50:00

A fan-out writes hundreds of thousands of deliveries with no provider id yet; a full index took
one entry for each of them (a NULL), a tenth of the write on PostgreSQL. Receipts look rows up
by an actual provider id, which the partial index serves the same.
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_perf'
down_revision = '0008_voice'
branch_labels = None
depends_on = None

_ONLY_SET = sa.text("provider_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_provider_id')
        batch_op.create_index('ix_deliveries_provider_id', ['provider_id'], unique=False,
                              postgresql_where=_ONLY_SET, sqlite_where=_ONLY_SET)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_provider_id')
        batch_op.create_index('ix_deliveries_provider_id', ['provider_id'], unique=False)
