"""Income record corrections kept (income_record_version, income_record.revised_at).

Why: a correction of an income record changed the row in place, so the risk features of a
past night, and a model trained on past days, read figures that nobody knew on those days
(issue 16: nothing recorded after a day may reach its features). The figures a record held
before each correction are kept with the moments they were known from and to; the record
notes when its current figures were set. Existing records have no correction on file.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

from policies.types import Money, UtcDateTime

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

FIGURES = ('wages', 'business_crops', 'business_livestock', 'business_other', 'property_income',
           'transfer_pension', 'transfer_dibao', 'transfer_tekun', 'transfer_disaster_relief',
           'transfer_poverty_insurance', 'transfer_other', 'business_costs',
           'eligible_out_of_pocket')


def upgrade() -> None:
    with op.batch_alter_table('income_record') as batch:
        batch.add_column(sa.Column('revised_at', UtcDateTime(), nullable=True))
    op.create_table(
        'income_record_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('income_record_id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=24), nullable=False),
        *[sa.Column(name, Money(), nullable=False) for name in FIGURES],
        sa.Column('household_size', sa.Integer(), nullable=False),
        sa.Column('net_income', Money(), nullable=False),
        sa.Column('per_capita_net_income', Money(), nullable=False),
        sa.Column('recorded_at', UtcDateTime(), nullable=False),
        sa.Column('known_from', UtcDateTime(), nullable=False),
        sa.Column('known_to', UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['income_record_id'], ['income_record.id'],
                                name=op.f('fk_income_record_version_income_record_id_'
                                          'income_record')),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                                name=op.f('fk_income_record_version_household_id_household')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_income_record_version')),
    )
    op.create_index(op.f('ix_income_record_version_income_record_id'),
                    'income_record_version', ['income_record_id'])
    op.create_index(op.f('ix_income_record_version_household_id'),
                    'income_record_version', ['household_id'])


def downgrade() -> None:
    op.drop_table('income_record_version')
    with op.batch_alter_table('income_record') as batch:
        batch.drop_column('revised_at')
