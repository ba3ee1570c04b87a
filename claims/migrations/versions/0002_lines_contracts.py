"""Monitoring lines, national standards and policy contracts with their named insured.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from policies.types import Money, ScaledDecimal, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "national_standard",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("note", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_standard")),
    )
    op.create_index(op.f("ix_national_standard_year"), "national_standard", ["year"], unique=True)

    op.create_table(
        "monitoring_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("fixed_amount", Money(), nullable=True),
        sa.Column("multiple", ScaledDecimal(3), nullable=True),
        sa.Column("standard_year", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"], name=op.f("fk_monitoring_line_region_id_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_line")),
        sa.UniqueConstraint("region_id", "year", name=op.f("uq_monitoring_line_region_id_year")),
    )
    op.create_index(op.f("ix_monitoring_line_region_id"), "monitoring_line", ["region_id"])

    op.create_table(
        "policy_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_number", sa.String(64), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("insurer", sa.String(128), nullable=False),
        sa.Column("policy_year", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("premium_per_person", Money(), nullable=False),
        sa.Column("insured_basis", sa.String(24), nullable=False),
        sa.Column("insured_headcount", sa.Integer(), nullable=True),
        sa.Column("insurer_fee_rate", ScaledDecimal(4), nullable=False),
        sa.Column("balance_carried_in", Money(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["county_id"], ["region.id"], name=op.f("fk_policy_contract_county_id_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_contract")),
    )
    op.create_index(
        op.f("ix_policy_contract_contract_number"), "policy_contract", ["contract_number"],
        unique=True,
    )
    op.create_index(op.f("ix_policy_contract_county_id"), "policy_contract", ["county_id"])
    op.create_index(op.f("ix_policy_contract_policy_year"), "policy_contract", ["policy_year"])

    op.create_table(
        "insured_household",
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["policy_contract.id"],
            name=op.f("fk_insured_household_contract_id_policy_contract"),
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"],
            name=op.f("fk_insured_household_household_id_household"),
        ),
        sa.PrimaryKeyConstraint("contract_id", "household_id", name=op.f("pk_insured_household")),
    )
    op.create_index(
        op.f("ix_insured_household_household_id"), "insured_household", ["household_id"]
    )


def downgrade() -> None:
    op.drop_table("insured_household")
    op.drop_table("policy_contract")
    op.drop_table("monitoring_line")
    op.drop_table("national_standard")
