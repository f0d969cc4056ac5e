"""revisions, retraction and idempotent requests

Revision ID: f6b0a67889f1
Revises: 6ada015ca753
Create Date: 2026-11-22 09:53:06.823000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f6b0a67889f1"
down_revision: str | None = "6ada015ca753"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "idempotent_requests",
        sa.Column("key_id", sa.String(length=120), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "headers", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_idempotent_requests_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", "idempotency_key", name=op.f("pk_idempotent_requests")),
    )
    op.create_table(
        "revisions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=120), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "changes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
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
            nullable=False,
        ),
        sa.Column(
            "transaction_id",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_revisions_key_id_api_keys"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisions")),
    )
    op.create_index(
        "ix_revisions_transaction_id_id", "revisions", ["transaction_id", "id"], unique=False
    )
    op.create_index(
        "uq_revisions_record_type_record_id_revision",
        "revisions",
        ["record_type", "record_id", "revision"],
        unique=True,
    )
    op.add_column("claims", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column(
        "claims",
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
    op.add_column("claims", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column(
        "claims", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "facilities", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "facilities",
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
    op.add_column("facilities", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column(
        "facilities", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "organizations", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "organizations",
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
    op.add_column("organizations", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column(
        "organizations", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("sources", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column(
        "sources",
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
    op.add_column("sources", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column(
        "sources", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "testimonies", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "testimonies",
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
    op.add_column("testimonies", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column(
        "testimonies", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "testimony_excerpts",
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
    op.add_column("testimony_excerpts", sa.Column("status_reason", sa.Text(), nullable=True))


def downgrade() -> None:

    op.drop_column("testimony_excerpts", "status_reason")
    op.drop_column("testimony_excerpts", "status")
    op.drop_column("testimonies", "status_changed_at")
    op.drop_column("testimonies", "status_reason")
    op.drop_column("testimonies", "status")
    op.drop_column("testimonies", "version")
    op.drop_column("sources", "status_changed_at")
    op.drop_column("sources", "status_reason")
    op.drop_column("sources", "status")
    op.drop_column("sources", "version")
    op.drop_column("organizations", "status_changed_at")
    op.drop_column("organizations", "status_reason")
    op.drop_column("organizations", "status")
    op.drop_column("organizations", "version")
    op.drop_column("facilities", "status_changed_at")
    op.drop_column("facilities", "status_reason")
    op.drop_column("facilities", "status")
    op.drop_column("facilities", "version")
    op.drop_column("claims", "status_changed_at")
    op.drop_column("claims", "status_reason")
    op.drop_column("claims", "status")
    op.drop_column("claims", "version")
    op.drop_index("uq_revisions_record_type_record_id_revision", table_name="revisions")
    op.drop_index("ix_revisions_transaction_id_id", table_name="revisions")
    op.drop_table("revisions")
    op.drop_table("idempotent_requests")
