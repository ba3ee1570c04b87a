"""Claims are assigned: the adjudicator who owns a claim's decision, and indexes for each
person's "my work" (an investigator's and an adjudicator's claims in due-date order, the second
approvals waiting for a supervisor by state and first approver).

Why: an investigator was recorded on the claim, but nobody owned the decision, so nobody saw
a claim as theirs to approve; "my work" lists a person's claims by assignment and state.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


CLOSED = "(state IN ('paid', 'rejected', 'withdrawn'))"


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a column with its reference in place (no table rebuild, which would
        # drop the expression indexes of 0016).
        op.execute('ALTER TABLE claim ADD COLUMN adjudicator_id INTEGER REFERENCES app_user (id)')
    else:
        op.add_column('claim', sa.Column('adjudicator_id', sa.Integer(),
                                         sa.ForeignKey('app_user.id'), nullable=True))
    op.create_index('ix_claim_investigator_state', 'claim',
                    ['investigator_id', 'state', 'due_date', 'id'])
    op.create_index('ix_claim_adjudicator_due', 'claim', ['adjudicator_id', 'due_date', 'id'])
    op.create_index('ix_claim_second_approval', 'claim', ['state', 'first_approver_id'])


def downgrade() -> None:
    op.drop_index('ix_claim_second_approval', table_name='claim')
    op.drop_index('ix_claim_adjudicator_due', table_name='claim')
    op.drop_index('ix_claim_investigator_state', table_name='claim')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('claim') as batch:  # rebuilt: the expression indexes again
            batch.drop_column('adjudicator_id')
        op.execute(f'CREATE INDEX IF NOT EXISTS ix_claim_closed_due ON claim ({CLOSED}, '
                   'due_date, id)')
        op.execute(f'CREATE INDEX IF NOT EXISTS ix_claim_trigger_closed_due ON claim '
                   f'(trigger, {CLOSED}, due_date, id)')
    else:
        op.drop_column('claim', 'adjudicator_id')
