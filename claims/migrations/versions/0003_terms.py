"""Benefit terms versions, and the contract's link to the terms in force.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from policies.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terms_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("county", sa.String(64), nullable=False),
        sa.Column("county_code", sa.String(6), nullable=True),
        sa.Column("policy_year", sa.Integer(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terms_version")),
        sa.UniqueConstraint("key", "version", name=op.f("uq_terms_version_key_version")),
    )
    op.create_index(op.f("ix_terms_version_key"), "terms_version", ["key"])
    with op.batch_alter_table("policy_contract") as batch:
        batch.add_column(sa.Column("terms_version_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_policy_contract_terms_version_id_terms_version"), "terms_version",
            ["terms_version_id"], ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("policy_contract") as batch:
        batch.drop_constraint(
            op.f("fk_policy_contract_terms_version_id_terms_version"), type_="foreignkey"
        )
        batch.drop_column("terms_version_id")
    op.drop_table("terms_version")
