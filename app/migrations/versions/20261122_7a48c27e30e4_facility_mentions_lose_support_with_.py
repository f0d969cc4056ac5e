"""facility mentions lose support with their source

Revision ID: 7a48c27e30e4
Revises: f6b0a67889f1
Create Date: 2026-11-22 10:23:23.052129
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a48c27e30e4"
down_revision: str | None = "f6b0a67889f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.add_column(
        "facility_mentions",
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "retracted",
                "unsupported",
                name="status",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="active",
            nullable=False,
        ),
    )
    op.add_column("facility_mentions", sa.Column("status_reason", sa.Text(), nullable=True))


def downgrade() -> None:

    op.drop_column("facility_mentions", "status_reason")
    op.drop_column("facility_mentions", "status")
