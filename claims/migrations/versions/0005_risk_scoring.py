"""The nightly risk scoring: its runs, the scores of each run (kept per run, with the run's
model version), and risk early warnings with their score, factors and outcome.

A household has at most one open risk warning (a partial unique index), so a night's run can
be repeated without raising the same warning twice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:42:57.112900
"""

import sqlalchemy as sa
from alembic import op

from policies.types import UtcDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('score_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('model_version', sa.String(length=40), nullable=False),
    sa.Column('as_of_year', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_by', sa.String(length=32), nullable=False),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('finished_at', UtcDateTime(), nullable=True),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('warnings', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('rise', sa.Float(), nullable=False),
    sa.Column('drift', sa.JSON(), nullable=True),
    sa.Column('drift_flag', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_run'))
    )
    with op.batch_alter_table('score_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_run_night'), ['night'], unique=False)
        batch_op.create_index(batch_op.f('ix_score_run_status'), ['status'], unique=False)

    op.create_table('household_score',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_household_score_household_id_household')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_household_score_run_id_score_run')),
    sa.PrimaryKeyConstraint('run_id', 'household_id', name=op.f('pk_household_score'))
    )
    with op.batch_alter_table('early_warning', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('previous_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('factors', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=500), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_early_warning_run_id'), ['run_id'], unique=False)
        batch_op.create_index('ux_early_warning_open_risk', ['household_id'], unique=True, sqlite_where=sa.text("source = 'risk' AND status = 'open'"), postgresql_where=sa.text("source = 'risk' AND status = 'open'"))
        batch_op.create_foreign_key(batch_op.f('fk_early_warning_run_id_score_run'), 'score_run', ['run_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_early_warning_closed_by_app_user'), 'app_user', ['closed_by'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('early_warning', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_early_warning_closed_by_app_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_early_warning_run_id_score_run'), type_='foreignkey')
        batch_op.drop_index('ux_early_warning_open_risk', sqlite_where=sa.text("source = 'risk' AND status = 'open'"), postgresql_where=sa.text("source = 'risk' AND status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_early_warning_run_id'))
        batch_op.drop_column('outcome')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('factors')
        batch_op.drop_column('previous_score')
        batch_op.drop_column('score')
        batch_op.drop_column('run_id')

    op.drop_table('household_score')
    with op.batch_alter_table('score_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_run_status'))
        batch_op.drop_index(batch_op.f('ix_score_run_night'))

    op.drop_table('score_run')
