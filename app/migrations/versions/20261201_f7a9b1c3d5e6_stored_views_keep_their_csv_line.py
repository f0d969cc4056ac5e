"""Stored views keep their line of a CSV export, around the cells a request supplies

Views rendered before have none (NULL): `testimony db upgrade` renders their records again
after migrating. With that line a view outgrows the 2 kB from which PostgreSQL compresses a
row's longest values, and every read of a body would pay for decompressing it: rows are
left whole up to a page.

Revision ID: f7a9b1c3d5e6
Revises: e5f7a9b1c3d4
Create Date: 2026-12-01 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f7a9b1c3d5e6"
down_revision: str | None = "e5f7a9b1c3d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Bytes: PostgreSQL's largest target for a row on an 8 kB page.
_WHOLE_UP_TO = 8160


def upgrade() -> None:
    op.add_column("record_views", sa.Column("csv", postgresql.ARRAY(sa.Text()), nullable=True))
    op.execute(f"ALTER TABLE record_views SET (toast_tuple_target = {_WHOLE_UP_TO})")


def downgrade() -> None:
    op.execute("ALTER TABLE record_views RESET (toast_tuple_target)")
    op.drop_column("record_views", "csv")
