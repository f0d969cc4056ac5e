"""Search documents: one per access tier and view of a record, with pg_trgm for names

Revision ID: fd5f0ca13923
Revises: 7a48c27e30e4
Create Date: 2026-11-22 10:49:13.281809
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "fd5f0ca13923"
down_revision: str | None = "7a48c27e30e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Trigram matching of names across spellings. Trusted since PostgreSQL 13: the database
    # owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "search_documents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("tiers", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("retracted", sa.Boolean(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("vector", postgresql.TSVECTOR(), nullable=False),
        sa.Column("names", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
    )
    op.create_index(
        "ix_search_documents_kind_record_id",
        "search_documents",
        ["kind", "record_id"],
        unique=False,
    )
    op.create_index(
        "ix_search_documents_names",
        "search_documents",
        ["names"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"names": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_search_documents_vector",
        "search_documents",
        ["vector"],
        unique=False,
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_search_documents_vector", table_name="search_documents", postgresql_using="gin"
    )
    op.drop_index(
        "ix_search_documents_names",
        table_name="search_documents",
        postgresql_using="gin",
        postgresql_ops={"names": "gin_trgm_ops"},
    )
    op.drop_index("ix_search_documents_kind_record_id", table_name="search_documents")
    op.drop_table("search_documents")
    # pg_trgm stays: other schemas in the database may use it.
