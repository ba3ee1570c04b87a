"""A user may be allowed to export members with their full identifiers (may_export).

Why: listing many members with full ID numbers, phones and bank accounts is a bulk export of
personal data; it needs a permission of its own, separate from revealing one household
(may_reveal), and each use is on the audit trail.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("may_export", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("may_export")
