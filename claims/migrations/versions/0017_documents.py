"""Documents on claims and events (理赔材料): one row per uploaded file.

Why: a claim is paid on evidence (invoices, discharge summaries, damage photos, the posted
notice) that auditors check against every payout; until now nothing could be uploaded. The
file lives in the document store (a directory or S3-compatible storage); the row keeps its
name, type read from its content, size, SHA-256, who added it and when, and its withdrawal.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from policies.types import UtcDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'document',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('claim_id', sa.Integer(), nullable=True),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('doc_type', sa.String(length=32), nullable=True),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=200), nullable=False),
        sa.Column('added_by', sa.String(length=96), nullable=False),
        sa.Column('added_at', UtcDateTime(), nullable=False),
        sa.Column('withdrawn_at', UtcDateTime(), nullable=True),
        sa.Column('withdrawn_by', sa.String(length=96), nullable=True),
        sa.Column('withdrawn_reason', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_document_claim_id_claim')),
        sa.ForeignKeyConstraint(['event_id'], ['trigger_event.id'],
                                name=op.f('fk_document_event_id_trigger_event')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_document')),
        sa.UniqueConstraint('storage_key', name=op.f('uq_document_storage_key')),
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_sha256'))
        batch_op.drop_index(batch_op.f('ix_document_event_id'))
        batch_op.drop_index(batch_op.f('ix_document_claim_id'))
    op.drop_table('document')
