"""Users and API clients, the audit trail, trigger events, claims, warnings and payments.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 00:25:39.919792
"""

import sqlalchemy as sa
from alembic import op

from policies.types import Money, UtcDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('organisation', sa.String(length=24), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_client'))
    )
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_client_key_hash'), ['key_hash'], unique=True)

    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('approval_limit', Money(), nullable=True),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user'))
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_app_user_username'), ['username'], unique=True)

    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=96), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_entry_hash'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_entity'), ['entity'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_entity_id'), ['entity_id'], unique=False)

    op.create_table('payment_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_number', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_payment_batch_created_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_batch')),
    sa.UniqueConstraint('batch_number', name=op.f('uq_payment_batch_batch_number'))
    )
    op.create_table('claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_number', sa.String(length=32), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('terms_version_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('policy_year', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('application_reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('entitled', Money(), nullable=False),
    sa.Column('approved_amount', Money(), nullable=False),
    sa.Column('paid_amount', Money(), nullable=False),
    sa.Column('calculation', sa.JSON(), nullable=False),
    sa.Column('investigator_id', sa.Integer(), nullable=True),
    sa.Column('first_approver_id', sa.Integer(), nullable=True),
    sa.Column('rejection_code', sa.String(length=32), nullable=True),
    sa.Column('rejection_text', sa.Text(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('opened_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['policy_contract.id'], name=op.f('fk_claim_contract_id_policy_contract')),
    sa.ForeignKeyConstraint(['first_approver_id'], ['app_user.id'], name=op.f('fk_claim_first_approver_id_app_user')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_claim_household_id_household')),
    sa.ForeignKeyConstraint(['investigator_id'], ['app_user.id'], name=op.f('fk_claim_investigator_id_app_user')),
    sa.ForeignKeyConstraint(['terms_version_id'], ['terms_version.id'], name=op.f('fk_claim_terms_version_id_terms_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim')),
    sa.UniqueConstraint('claim_number', name=op.f('uq_claim_claim_number')),
    sa.UniqueConstraint('household_id', 'trigger', 'policy_year', name=op.f('uq_claim_household_id_trigger_policy_year'))
    )
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_due_date'), ['due_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_trigger'), ['trigger'], unique=False)

    op.create_table('claim_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_claim_record_actor_id_app_user')),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_claim_record_claim_id_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_record'))
    )
    with op.batch_alter_table('claim_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_record_claim_id'), ['claim_id'], unique=False)

    op.create_table('payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('amount', Money(), nullable=False),
    sa.Column('bank_name', sa.String(length=64), nullable=True),
    sa.Column('bank_account', sa.String(length=32), nullable=True),
    sa.Column('account_holder', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('failure_reason', sa.String(length=255), nullable=False),
    sa.Column('bank_reference', sa.String(length=64), nullable=False),
    sa.Column('paid_at', UtcDateTime(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['payment_batch.id'], name=op.f('fk_payment_batch_id_payment_batch')),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_payment_claim_id_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_state'), ['state'], unique=False)
    # One payment under way per claim: two batches made at once cannot both pay it.
    op.create_index('ux_payment_claim_under_way', 'payment', ['claim_id'], unique=True,
                    sqlite_where=sa.text("state IN ('pending', 'exported')"),
                    postgresql_where=sa.text("state IN ('pending', 'exported')"))

    op.create_table('trigger_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('source_event_id', sa.String(length=64), nullable=False),
    sa.Column('payload_hash', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('contract_id', sa.Integer(), nullable=True),
    sa.Column('claim_id', sa.Integer(), nullable=True),
    sa.Column('payout', Money(), nullable=True),
    sa.Column('warning', sa.Boolean(), nullable=False),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_trigger_event_claim_id_claim')),
    sa.ForeignKeyConstraint(['client_id'], ['api_client.id'], name=op.f('fk_trigger_event_client_id_api_client')),
    sa.ForeignKeyConstraint(['contract_id'], ['policy_contract.id'], name=op.f('fk_trigger_event_contract_id_policy_contract')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_trigger_event_household_id_household')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_trigger_event_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trigger_event')),
    sa.UniqueConstraint('client_id', 'source_event_id', name=op.f('uq_trigger_event_client_id_source_event_id'))
    )
    with op.batch_alter_table('trigger_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trigger_event_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trigger_event_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trigger_event_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trigger_event_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_trigger_event_status'), ['status'], unique=False)

    op.create_table('early_warning',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['trigger_event.id'], name=op.f('fk_early_warning_event_id_trigger_event')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_early_warning_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_early_warning'))
    )
    with op.batch_alter_table('early_warning', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_early_warning_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_early_warning_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('early_warning', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_early_warning_status'))
        batch_op.drop_index(batch_op.f('ix_early_warning_household_id'))

    op.drop_table('early_warning')
    with op.batch_alter_table('trigger_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trigger_event_status'))
        batch_op.drop_index(batch_op.f('ix_trigger_event_id_number'))
        batch_op.drop_index(batch_op.f('ix_trigger_event_household_id'))
        batch_op.drop_index(batch_op.f('ix_trigger_event_client_id'))
        batch_op.drop_index(batch_op.f('ix_trigger_event_claim_id'))

    op.drop_table('trigger_event')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_state'))
        batch_op.drop_index(batch_op.f('ix_payment_claim_id'))
        batch_op.drop_index(batch_op.f('ix_payment_batch_id'))

    op.drop_table('payment')
    with op.batch_alter_table('claim_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_record_claim_id'))

    op.drop_table('claim_record')
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_trigger'))
        batch_op.drop_index(batch_op.f('ix_claim_state'))
        batch_op.drop_index(batch_op.f('ix_claim_household_id'))
        batch_op.drop_index(batch_op.f('ix_claim_due_date'))
        batch_op.drop_index(batch_op.f('ix_claim_contract_id'))

    op.drop_table('claim')
    op.drop_table('payment_batch')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_entity_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_entity'))

    op.drop_table('audit_entry')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_username'))
        batch_op.drop_index(batch_op.f('ix_app_user_token_hash'))

    op.drop_table('app_user')
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_client_key_hash'))

    op.drop_table('api_client')
