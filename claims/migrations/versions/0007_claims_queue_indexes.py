"""Indexes for the claims queue of the web workspace.

With a million claims, the queue's first page must come from an index rather than a sort of
every claim: by state then due date (the default order, and what an adjudicator filters
first), by state then amount, by trigger then due date, by amount, and by opening time (of all
claims and of a state's); and a run's scores from the riskiest down, for the risk order.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

INDEXES = {
    "ix_claim_state_due": ["state", "due_date", "id"],
    "ix_claim_state_entitled": ["state", "entitled"],
    "ix_claim_trigger_due": ["trigger", "due_date"],
    "ix_claim_entitled": ["entitled"],
    "ix_claim_opened_at": ["opened_at"],
    "ix_claim_state_opened": ["state", "opened_at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "claim", columns)
    op.create_index("ix_household_score_run_score", "household_score", ["run_id", "score"])


def downgrade() -> None:
    op.drop_index("ix_household_score_run_score", table_name="household_score")
    for name in INDEXES:
        op.drop_index(name, table_name="claim")
