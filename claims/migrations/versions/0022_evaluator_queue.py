"""The evaluator's queue and the shock ledger's references, indexed.

Why: the evaluator asked for the oldest waiting events through the primary key, skipping every
event already evaluated; it asked the shock ledger whether an event was recorded by reading
the whole ledger; and SQLite read a chunk's households' accepted events through the status
index, every accepted event of the county: each chunk of a surge cost more than the one
before. The household's events are now indexed with their status (the household's index
alone is dropped: the pair serves its lookups too).

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
    op.create_index('ix_trigger_event_household_status', 'trigger_event',
                    ['household_id', 'status'])
    op.drop_index('ix_trigger_event_household_id', table_name='trigger_event')


def downgrade() -> None:
    op.create_index('ix_trigger_event_household_id', 'trigger_event', ['household_id'])
    op.drop_index('ix_trigger_event_household_status', table_name='trigger_event')
    op.drop_index('ix_shock_reference', table_name='shock')
    op.drop_index('ix_trigger_event_waiting', table_name='trigger_event')
