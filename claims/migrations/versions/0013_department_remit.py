"""A department API key's remit: the event types it may send (empty: its department's).

Why: any key could send any event type — the medical-insurance key disability events — so one
loss reported by two departments could be paid twice. Existing keys keep no list of their own
and get their department's default remit (claims.remit.DEFAULT_REMIT).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.add_column(sa.Column("event_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.drop_column("event_types")
