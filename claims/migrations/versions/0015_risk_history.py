"""Registry history (member_version, household_version) and the shock ledger (shock).

Why: risk features of a past day must read the registry as it stood that day (a household's
monitoring category or a member's disability grade as known then), not today's; and the
trigger events, the simulator's shocks and a county's imported history must reach the
features through one table. Existing members and households get one version each, valid from
the day their row was created: nothing earlier was known.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from policies.types import Money

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'member_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('relation', sa.String(length=32), nullable=False),
        sa.Column('birth_date', sa.Date(), nullable=False),
        sa.Column('schooling', sa.String(length=32), nullable=False),
        sa.Column('health', sa.String(length=32), nullable=False),
        sa.Column('disability_grade', sa.Integer(), nullable=True),
        sa.Column('labour_skill', sa.String(length=32), nullable=False),
        sa.Column('migrant_work_months', sa.Integer(), nullable=False),
        sa.Column('dibao', sa.Boolean(), nullable=False),
        sa.Column('tekun', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                                name=op.f('fk_member_version_household_id_household')),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'],
                                name=op.f('fk_member_version_member_id_member')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_member_version')),
    )
    op.create_index(op.f('ix_member_version_member_id'), 'member_version', ['member_id'])
    op.create_index('ix_member_version_household_valid', 'member_version',
                    ['household_id', 'valid_from', 'valid_to'])
    op.create_table(
        'household_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('village_id', sa.Integer(), nullable=False),
        sa.Column('household_type', sa.String(length=32), nullable=False),
        sa.Column('monitoring_category', sa.String(length=32), nullable=True),
        sa.Column('relocated', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                                name=op.f('fk_household_version_household_id_household')),
        sa.ForeignKeyConstraint(['village_id'], ['region.id'],
                                name=op.f('fk_household_version_village_id_region')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_household_version')),
    )
    op.create_index('ix_household_version_household_valid', 'household_version',
                    ['household_id', 'valid_from', 'valid_to'])
    op.create_table(
        'shock',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('occurred_on', sa.Date(), nullable=False),
        sa.Column('known_on', sa.Date(), nullable=False),
        sa.Column('burden', Money(), nullable=False),
        sa.Column('disability_grade', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                                name=op.f('fk_shock_household_id_household')),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'],
                                name=op.f('fk_shock_member_id_member')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shock')),
    )
    op.create_index('ix_shock_household_known', 'shock', ['household_id', 'known_on'])
    # Households already below the line or monitored are the office's caseload, not new
    # warnings: each score says which population it belongs to.
    op.add_column('household_score', sa.Column('population', sa.String(length=16),
                                               nullable=False, server_default='at_risk'))
    # One version of each existing row, valid from its creation (nothing earlier is known).
    day = ("date({})" if op.get_bind().dialect.name == "sqlite" else "CAST({} AS DATE)").format
    op.execute(
        "INSERT INTO member_version (member_id, household_id, valid_from, valid_to, relation,"
        " birth_date, schooling, health, disability_grade, labour_skill, migrant_work_months,"
        " dibao, tekun, status)"
        f" SELECT m.id, m.household_id, {day('h.created_at')}, NULL, m.relation,"
        " m.birth_date, m.schooling, m.health, m.disability_grade, m.labour_skill,"
        " m.migrant_work_months, m.dibao, m.tekun, m.status"
        " FROM member m JOIN household h ON h.id = m.household_id")
    op.execute(
        "INSERT INTO household_version (household_id, valid_from, valid_to, village_id,"
        " household_type, monitoring_category, relocated, status)"
        f" SELECT id, {day('created_at')}, NULL, village_id, household_type,"
        " monitoring_category, relocated, status FROM household")


def downgrade() -> None:
    with op.batch_alter_table('household_score', schema=None) as batch_op:
        batch_op.drop_column('population')
    op.drop_index('ix_shock_household_known', table_name='shock')
    op.drop_table('shock')
    op.drop_index('ix_household_version_household_valid', table_name='household_version')
    op.drop_table('household_version')
    op.drop_index('ix_member_version_household_valid', table_name='member_version')
    op.drop_index(op.f('ix_member_version_member_id'), table_name='member_version')
    op.drop_table('member_version')
