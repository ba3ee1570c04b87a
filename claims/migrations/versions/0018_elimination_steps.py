"""Risk elimination's steps (elimination_step): home check, village review, notice, objection.

Why: DOMAIN.md §7 — a household leaves monitoring after the same steps as a claim (home check,
village review and notice, then the office's decision); the decision was one click.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

from policies.types import UtcDateTime

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'elimination_step',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('elimination_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('actor', sa.String(length=96), nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['elimination_id'], ['elimination.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_elimination_step_elimination_id', 'elimination_step',
                    ['elimination_id'])


def downgrade() -> None:
    op.drop_index('ix_elimination_step_elimination_id', table_name='elimination_step')
    op.drop_table('elimination_step')
