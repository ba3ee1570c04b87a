"""Indexes for the auditor's search of the trail: by time, by who acted and by the kind of
record, each newest first.

Why: the trail holds millions of entries and had indexes only on the entity and its number;
a search by user or by dates, newest first, sorted or scanned the whole table.

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_entry_at', 'audit_entry', ['at', 'id'])
    op.create_index('ix_audit_entry_actor_at', 'audit_entry', ['actor', 'at', 'id'])
    op.create_index('ix_audit_entry_entity_at', 'audit_entry', ['entity', 'at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_audit_entry_entity_at', table_name='audit_entry')
    op.drop_index('ix_audit_entry_actor_at', table_name='audit_entry')
    op.drop_index('ix_audit_entry_at', table_name='audit_entry')
