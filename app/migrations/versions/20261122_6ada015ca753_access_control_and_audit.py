"""access control and audit

Revision ID: 6ada015ca753
Revises: bd959692f4f3
Create Date: 2026-11-22 09:20:55.441169
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6ada015ca753"
down_revision: str | None = "bd959692f4f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_keys_secret_sha256")),
    )
    op.create_index("ix_api_keys_updated_at_id", "api_keys", ["updated_at", "id"], unique=False)
    op.create_table(
        "audit_events",
        sa.Column("key_id", sa.String(length=120), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("records", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_audit_events_key_id_api_keys"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_action", "audit_events", ["action"], unique=False)
    op.create_index(
        "ix_audit_events_created_at_id", "audit_events", ["created_at", "id"], unique=False
    )
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id"], unique=False)
    op.create_index(
        "ix_audit_events_records", "audit_events", ["records"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_audit_events_updated_at_id", "audit_events", ["updated_at", "id"], unique=False
    )
    op.add_column(
        "claims",
        sa.Column(
            "protection_level",
            sa.Enum(
                "public",
                "restricted",
                "confidential",
                name="protection_level",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="public",
            nullable=False,
        ),
    )
    op.create_index("ix_claims_protection_level", "claims", ["protection_level"], unique=False)
    op.add_column(
        "testimony_excerpts",
        sa.Column(
            "protection_level",
            sa.Enum(
                "public",
                "restricted",
                "confidential",
                name="protection_level",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="public",
            nullable=False,
        ),
    )


def downgrade() -> None:

    op.drop_column("testimony_excerpts", "protection_level")
    op.drop_index("ix_claims_protection_level", table_name="claims")
    op.drop_column("claims", "protection_level")
    op.drop_index("ix_audit_events_updated_at_id", table_name="audit_events")
    op.drop_index("ix_audit_events_records", table_name="audit_events", postgresql_using="gin")
    op.drop_index("ix_audit_events_key_id", table_name="audit_events")
    op.drop_index("ix_audit_events_created_at_id", table_name="audit_events")
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_api_keys_updated_at_id", table_name="api_keys")
    op.drop_table("api_keys")
