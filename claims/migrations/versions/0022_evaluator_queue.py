"""The evaluator's queue and the shock ledger's references, indexed.

Why: the evaluator asked for the oldest waiting events through the primary key, skipping every
event already evaluated, and asked the shock ledger whether an event was recorded by reading
the whole ledger: each chunk of a million-report surge cost more than the one before.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_trigger_event_waiting', 'trigger_event', ['id'],
                    sqlite_where=sa.text("status = 'received'"),
                    postgresql_where=sa.text("status = 'received'"))
    op.create_index('ix_shock_reference', 'shock', ['reference', 'source'])


def downgrade() -> None:
    op.drop_index('ix_shock_reference', table_name='shock')
    op.drop_index('ix_trigger_event_waiting', table_name='trigger_event')
