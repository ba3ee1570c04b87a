"""A trigger event can be a second report of a loss already reported: it links to the first.

Why: two departments may report one loss (the same grade-3 disability from the disabled
persons' federation and from civil affairs); the second report is kept, with status
``same_loss`` and a link to the first, and is never paid again.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_event") as batch:
        batch.add_column(sa.Column("same_loss_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_trigger_event_same_loss_of_trigger_event"),
                                 "trigger_event", ["same_loss_of"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("trigger_event") as batch:
        batch.drop_constraint(op.f("fk_trigger_event_same_loss_of_trigger_event"),
                              type_="foreignkey")
        batch.drop_column("same_loss_of")
