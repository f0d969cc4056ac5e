"""Counts kept per access tier as the stored views change: totals and facet groups

Revision ID: c3d5e7f9a1b2
Revises: a1f0c7e2b9d4
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c3d5e7f9a1b2"
down_revision: str | None = "a1f0c7e2b9d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Views rendered before have no `counted` (NULL): `testimony db upgrade` renders their
    # records again after migrating, which counts them.
    op.add_column("record_views", sa.Column("counted", sa.Text(), nullable=True))
    op.create_table(
        "view_counts",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("facet", sa.Text(), nullable=False),
        sa.Column("key", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("retracted", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "kind", "tier", "facet", "key", "retracted", name=op.f("pk_view_counts")
        ),
    )


def downgrade() -> None:
    op.drop_table("view_counts")
    op.drop_column("record_views", "counted")
