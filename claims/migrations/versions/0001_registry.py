"""The household registry: regions, households, members and the income ledger.

Money columns are BIGINT fen (policies.types.Money) so sums are exact on every engine.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from policies.types import Money, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CODE = sa.String(24)
TIMESTAMP = UtcDateTime()


def upgrade() -> None:
    op.create_table(
        "region",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("level", CODE, nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["region.id"], name=op.f("fk_region_parent_id_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region")),
    )
    op.create_index(op.f("ix_region_code"), "region", ["code"], unique=True)
    op.create_index(op.f("ix_region_parent_id"), "region", ["parent_id"])

    op.create_table(
        "household",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_number", sa.String(32), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("household_type", CODE, nullable=False),
        sa.Column("monitoring_category", CODE, nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("bank_name", sa.String(64), nullable=True),
        sa.Column("bank_account", sa.String(32), nullable=True),
        sa.Column("relocated", sa.Boolean(), nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["village_id"], ["region.id"], name=op.f("fk_household_village_id_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
    )
    op.create_index(
        op.f("ix_household_household_number"), "household", ["household_number"], unique=True
    )
    for column in ("village_id", "household_type", "monitoring_category", "status"):
        op.create_index(op.f(f"ix_household_{column}"), "household", [column])

    op.create_table(
        "member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("sex", CODE, nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("relation", CODE, nullable=False),
        sa.Column("education", CODE, nullable=True),
        sa.Column("schooling", CODE, nullable=False),
        sa.Column("health", CODE, nullable=False),
        sa.Column("disability_grade", sa.Integer(), nullable=True),
        sa.Column("labour_skill", CODE, nullable=False),
        sa.Column("migrant_work_months", sa.Integer(), nullable=False),
        sa.Column("resident_medical", sa.Boolean(), nullable=False),
        sa.Column("critical_illness", sa.Boolean(), nullable=False),
        sa.Column("pension", sa.Boolean(), nullable=False),
        sa.Column("dibao", sa.Boolean(), nullable=False),
        sa.Column("tekun", sa.Boolean(), nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_member_household_id_household")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member")),
    )
    op.create_index(op.f("ix_member_household_id"), "member", ["household_id"])
    op.create_index(op.f("ix_member_id_number"), "member", ["id_number"], unique=True)

    op.create_table(
        "income_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("source", CODE, nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        *[
            sa.Column(name, Money(), nullable=False)
            for name in (
                "wages", "business_crops", "business_livestock", "business_other",
                "property_income", "transfer_pension", "transfer_dibao", "transfer_tekun",
                "transfer_disaster_relief", "transfer_poverty_insurance", "transfer_other",
                "business_costs", "eligible_out_of_pocket",
            )
        ],
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("net_income", Money(), nullable=False),
        sa.Column("per_capita_net_income", Money(), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"],
            name=op.f("fk_income_record_household_id_household"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_income_record")),
        sa.UniqueConstraint(
            "household_id", "period_start", "period_end", "source", "reference",
            name=op.f("uq_income_record_household_id_period_start_period_end_source_reference"),
        ),
    )
    op.create_index(op.f("ix_income_record_household_id"), "income_record", ["household_id"])


def downgrade() -> None:
    op.drop_table("income_record")
    op.drop_table("member")
    op.drop_table("household")
    op.drop_table("region")
