"""Search documents carry their record's last change, indexed newest first

A search ranks at most a bounded number of its matches: the most recently changed ones,
which an index on (changed_at, id) yields in order without reading the others. Existing
documents take their record's `updated_at`.

Revision ID: e5f7a9b1c3d4
Revises: c3d5e7f9a1b2
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5f7a9b1c3d4"
down_revision: str | None = "c3d5e7f9a1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("organizations", "sources", "facilities", "testimonies", "claims")


def upgrade() -> None:
    op.add_column(
        "search_documents", sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    for kind in _KINDS:
        op.execute(
            f"UPDATE search_documents AS d SET changed_at = r.updated_at FROM {kind} AS r "
            f"WHERE d.kind = '{kind}' AND d.record_id = r.id"
        )
    op.alter_column("search_documents", "changed_at", nullable=False)
    op.create_index("ix_search_documents_changed_at_id", "search_documents", ["changed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_search_documents_changed_at_id", table_name="search_documents")
    op.drop_column("search_documents", "changed_at")
