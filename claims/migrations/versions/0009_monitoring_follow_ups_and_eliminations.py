"""After the payout, the office's part: recorded evaluations of the windows, follow-up cases (one open per window, alerts join
it), the assistance given in them, and risk eliminations (one pending proposal per household);
a window records the day its risk was identified (existing windows: the day they opened) and
the terms' monitoring rules it runs under.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:50:25.135571
"""

import sqlalchemy as sa
from alembic import op

from policies.types import Money, UtcDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitoring_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('started_by', sa.String(length=32), nullable=False),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('finished_at', UtcDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_run'))
    )
    with op.batch_alter_table('monitoring_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_run_night'), ['night'], unique=False)

    op.create_table('elimination',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('proposed_on', sa.Date(), nullable=True),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('way', sa.String(length=16), nullable=True),
    sa.Column('eliminated_on', sa.Date(), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('decided_by', sa.String(length=96), nullable=False),
    sa.Column('decided_at', UtcDateTime(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_elimination_household_id_household')),
    sa.ForeignKeyConstraint(['window_id'], ['monitoring_window.id'], name=op.f('fk_elimination_window_id_monitoring_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elimination'))
    )
    with op.batch_alter_table('elimination', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_elimination_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_elimination_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_elimination_window_id'), ['window_id'], unique=False)
        batch_op.create_index('ux_elimination_proposed', ['household_id'], unique=True, sqlite_where=sa.text("status = 'proposed'"), postgresql_where=sa.text("status = 'proposed'"))

    op.create_table('follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('helper', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=True),
    sa.Column('outcome_note', sa.String(length=500), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('closed_by', sa.String(length=96), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_follow_up_household_id_household')),
    sa.ForeignKeyConstraint(['window_id'], ['monitoring_window.id'], name=op.f('fk_follow_up_window_id_monitoring_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up'))
    )
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_window_id'), ['window_id'], unique=False)
        batch_op.create_index('ux_follow_up_open', ['window_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('assistance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('follow_up_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('amount', Money(), nullable=True),
    sa.Column('given_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('recorded_by', sa.String(length=96), nullable=False),
    sa.Column('recorded_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['follow_up_id'], ['follow_up.id'], name=op.f('fk_assistance_follow_up_id_follow_up')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistance'))
    )
    with op.batch_alter_table('assistance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assistance_follow_up_id'), ['follow_up_id'], unique=False)

    with op.batch_alter_table('monitoring_alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('follow_up_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_monitoring_alert_follow_up_id'), ['follow_up_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_monitoring_alert_follow_up_id_follow_up'), 'follow_up', ['follow_up_id'], ['id'])

    with op.batch_alter_table('monitoring_window', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identified_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('rules', sa.JSON(), nullable=True))
    op.execute("UPDATE monitoring_window SET identified_on = opened_on")
    with op.batch_alter_table('monitoring_window', schema=None) as batch_op:
        batch_op.alter_column('identified_on', existing_type=sa.Date(), nullable=False)



def downgrade() -> None:
    with op.batch_alter_table('monitoring_window', schema=None) as batch_op:
        batch_op.drop_column('rules')
        batch_op.drop_column('identified_on')

    with op.batch_alter_table('monitoring_alert', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_monitoring_alert_follow_up_id_follow_up'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_monitoring_alert_follow_up_id'))
        batch_op.drop_column('follow_up_id')

    with op.batch_alter_table('assistance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assistance_follow_up_id'))

    op.drop_table('assistance')
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.drop_index('ux_follow_up_open', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_follow_up_window_id'))
        batch_op.drop_index(batch_op.f('ix_follow_up_status'))
        batch_op.drop_index(batch_op.f('ix_follow_up_household_id'))

    op.drop_table('follow_up')
    with op.batch_alter_table('elimination', schema=None) as batch_op:
        batch_op.drop_index('ux_elimination_proposed', sqlite_where=sa.text("status = 'proposed'"), postgresql_where=sa.text("status = 'proposed'"))
        batch_op.drop_index(batch_op.f('ix_elimination_window_id'))
        batch_op.drop_index(batch_op.f('ix_elimination_status'))
        batch_op.drop_index(batch_op.f('ix_elimination_household_id'))

    op.drop_table('elimination')
    with op.batch_alter_table('monitoring_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitoring_run_night'))

    op.drop_table('monitoring_run')
