"""Catastrophes (巨灾/灾害事件): a declared disaster, the villages inside its regions, and each
trigger event's link to the catastrophe it belongs to.

Why: a flood's loss reports arrived scattered through the queue; nothing grouped a disaster's
households, claims and payouts, nor let a team survey a village's claims at once.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from policies.types import UtcDateTime

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'catastrophe',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=True),
        sa.Column('regions', sa.JSON(), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=True),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('declared_by', sa.Integer(), nullable=True),
        sa.Column('declared_at', UtcDateTime(), nullable=False),
        sa.Column('closed_at', UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['declared_by'], ['app_user.id'],
                                name=op.f('fk_catastrophe_declared_by_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_catastrophe')),
        sa.UniqueConstraint('reference', name=op.f('uq_catastrophe_reference')),
    )
    op.create_table(
        'catastrophe_village',
        sa.Column('catastrophe_id', sa.Integer(), nullable=False),
        sa.Column('village_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['catastrophe_id'], ['catastrophe.id'],
                                name=op.f('fk_catastrophe_village_catastrophe_id_catastrophe')),
        sa.ForeignKeyConstraint(['village_id'], ['region.id'],
                                name=op.f('fk_catastrophe_village_village_id_region')),
        sa.PrimaryKeyConstraint('catastrophe_id', 'village_id',
                                name=op.f('pk_catastrophe_village')),
    )
    op.create_index(op.f('ix_catastrophe_village_village_id'), 'catastrophe_village',
                    ['village_id'])
    if op.get_bind().dialect.name == 'sqlite':
        # in place, with its reference (a batch rebuild would rewrite every event)
        op.execute('ALTER TABLE trigger_event ADD COLUMN catastrophe_id INTEGER '
                   'REFERENCES catastrophe (id)')
    else:
        op.add_column('trigger_event', sa.Column(
            'catastrophe_id', sa.Integer(), sa.ForeignKey(
                'catastrophe.id', name=op.f('fk_trigger_event_catastrophe_id_catastrophe')),
            nullable=True))
    op.create_index(op.f('ix_trigger_event_catastrophe_id'), 'trigger_event',
                    ['catastrophe_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_trigger_event_catastrophe_id'), table_name='trigger_event')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('trigger_event') as batch:
            batch.drop_column('catastrophe_id')
    else:
        op.drop_column('trigger_event', 'catastrophe_id')
    op.drop_index(op.f('ix_catastrophe_village_village_id'), table_name='catastrophe_village')
    op.drop_table('catastrophe_village')
    op.drop_table('catastrophe')
