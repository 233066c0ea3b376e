"""voice: residents flagged for read-out calls; broadcast packages for village loudspeakers

Revision ID: 0008_voice
Revises: 0007_delivery
Create Date: 2026-11-29 13:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_voice'
down_revision = '0007_delivery'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice', sa.Boolean(), server_default='0', nullable=False))
    op.create_table('broadcast_packages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('draft_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('area', sa.String(length=12), nullable=False),
    sa.Column('script', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('audio_path', sa.String(length=500), nullable=True),
    sa.Column('audio_note', sa.Text(), nullable=False),
    sa.Column('posted', sa.String(length=20), nullable=False),
    sa.Column('post_error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_broadcast_packages_draft_id_drafts')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_broadcast_packages_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcast_packages')),
    sa.UniqueConstraint('draft_id', 'area', name='uq_broadcast_packages_draft_area')
    )
    with op.batch_alter_table('broadcast_packages', schema=None) as batch_op:
        batch_op.create_index('ix_broadcast_packages_state', ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('broadcast_packages', schema=None) as batch_op:
        batch_op.drop_index('ix_broadcast_packages_state')
    op.drop_table('broadcast_packages')
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('voice')
