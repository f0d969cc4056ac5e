"""Revisions name who wrote them (api, command or seed), so the seed never overwrites a
correction

Revision ID: 3c1e9f27a4d8
Revises: 95a157461369
Create Date: 2026-12-01 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c1e9f27a4d8"
down_revision: str | None = "95a157461369"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "revisions",
        sa.Column("written_by", sa.String(length=10), server_default="api", nullable=False),
    )
    # Before this revision the seed loader and the import command wrote without a key, and
    # API writes always with one: keyless revisions are taken for the seed's.
    op.execute("UPDATE revisions SET written_by = 'seed' WHERE key_id IS NULL")
    op.create_check_constraint(
        "written_by_known", "revisions", "written_by IN ('api', 'command', 'seed')"
    )


def downgrade() -> None:
    op.drop_constraint("written_by_known", "revisions", type_="check")
    op.drop_column("revisions", "written_by")
