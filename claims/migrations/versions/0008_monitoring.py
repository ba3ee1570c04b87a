"""Post-payout monitoring: the window a payout opens or extends (one open per household) and
the alerts raised in it (one open per kind and window), each with its figures.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:38:40.106534
"""

import sqlalchemy as sa
from alembic import op

from policies.types import Money, UtcDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitoring_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('before_shock', Money(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_monitoring_window_claim_id_claim')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_monitoring_window_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_window'))
    )
    with op.batch_alter_table('monitoring_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_window_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitoring_window_status'), ['status'], unique=False)
        batch_op.create_index('ux_monitoring_window_open', ['household_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('monitoring_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('raised_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_monitoring_alert_household_id_household')),
    sa.ForeignKeyConstraint(['window_id'], ['monitoring_window.id'], name=op.f('fk_monitoring_alert_window_id_monitoring_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_alert'))
    )
    with op.batch_alter_table('monitoring_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_alert_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitoring_alert_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitoring_alert_window_id'), ['window_id'], unique=False)
        batch_op.create_index('ux_monitoring_alert_open', ['window_id', 'kind'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))



def downgrade() -> None:
    with op.batch_alter_table('monitoring_alert', schema=None) as batch_op:
        batch_op.drop_index('ux_monitoring_alert_open', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_monitoring_alert_window_id'))
        batch_op.drop_index(batch_op.f('ix_monitoring_alert_status'))
        batch_op.drop_index(batch_op.f('ix_monitoring_alert_household_id'))

    op.drop_table('monitoring_alert')
    with op.batch_alter_table('monitoring_window', schema=None) as batch_op:
        batch_op.drop_index('ux_monitoring_window_open', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_monitoring_window_status'))
        batch_op.drop_index(batch_op.f('ix_monitoring_window_household_id'))

    op.drop_table('monitoring_window')
