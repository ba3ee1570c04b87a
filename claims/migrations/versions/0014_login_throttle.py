"""Sign-in throttling per user name and per client address replaces the per-account lock.

Why: the lock on app_user told a stranger which user names exist (only they could be locked)
and let anyone lock the administrator out for 15 minutes with five guesses. Failures are now
counted per typed name (existing or not) and per client address, with a delay that doubles
and is capped, in a table of their own.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from policies.types import UtcDateTime

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=96), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('blocked_until', UtcDateTime(), nullable=True),
        sa.Column('last_failure', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle')),
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_last_failure'), ['last_failure'],
                              unique=False)
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('locked_until', UtcDateTime(), nullable=True))
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_last_failure'))
    op.drop_table('login_throttle')
