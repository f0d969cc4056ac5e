"""Claims indexed by what they measure, about what, and from which source: related claims and
their independent sources are found by index

Revision ID: bd4587a63f1b
Revises: fd5f0ca13923
Create Date: 2026-11-22 11:32:40.045050
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bd4587a63f1b"
down_revision: str | None = "fd5f0ca13923"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_claims_subject",
        "claims",
        [
            "metric",
            "unit",
            sa.literal_column("coalesce(about_facility_id, '')"),
            sa.literal_column("coalesce(about_testimony_id, '')"),
            sa.literal_column("coalesce(about_organization_id, '')"),
            "source_id",
            sa.literal_column("coalesce(relayed_from_id, '')"),
        ],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_claims_subject", table_name="claims")
