"""Protected sources (a level and its reason) and claims whose claimant is withheld

Revision ID: 95a157461369
Revises: bd4587a63f1b
Create Date: 2026-12-01 08:56:33.639793
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "95a157461369"
down_revision: str | None = "bd4587a63f1b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEVELS = ("public", "restricted", "confidential")


def upgrade() -> None:
    op.add_column(
        "claims",
        sa.Column(
            "claimant_level",
            sa.Enum(*_LEVELS, name="claimant_level", native_enum=False, create_constraint=True),
            server_default="public",
            nullable=False,
        ),
    )
    op.add_column("claims", sa.Column("claimant_description", sa.Text(), nullable=True))
    op.add_column(
        "sources",
        sa.Column(
            "protection_level",
            sa.Enum(*_LEVELS, name="protection_level", native_enum=False, create_constraint=True),
            server_default="public",
            nullable=False,
        ),
    )
    op.add_column("sources", sa.Column("protection_reason", sa.Text(), nullable=True))
    op.create_check_constraint(
        "protection_reason_given",
        "sources",
        "protection_level = 'public' OR protection_reason IS NOT NULL",
    )
    op.create_index(
        "ix_claims_possibly_protected_source",
        "claims",
        ["source_id"],
        postgresql_where=sa.text(
            "protection_level <> 'public' OR claimant_testimony_id IS NOT NULL "
            "OR about_testimony_id IS NOT NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_claims_possibly_protected_source", table_name="claims")
    op.drop_constraint("protection_reason_given", "sources", type_="check")
    op.drop_column("sources", "protection_reason")
    op.drop_column("sources", "protection_level")
    op.drop_column("claims", "claimant_description")
    op.drop_column("claims", "claimant_level")
