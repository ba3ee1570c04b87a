"""The day a household was named by a contract (insured_household.named_on).

Why: a household named in December was covered, and its waiting days counted, from the
contract's start in January, before it existed in the registry: bills of February were paid
(a tester's). A household is covered from the day it is named; rows named before this
revision have no day and are covered from the contract's start, as they were.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('insured_household') as batch:
        batch.add_column(sa.Column('named_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('insured_household') as batch:
        batch.drop_column('named_on')
