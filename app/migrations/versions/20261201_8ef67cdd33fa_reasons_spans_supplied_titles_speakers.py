"""Reasons on protected testimonies and claims, spans of archived texts that are not part of
the document, supplied titles, and who speaks in a testimony's excerpt

Revision ID: 8ef67cdd33fa
Revises: d7c1523d5f15
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8ef67cdd33fa"
down_revision: str | None = "d7c1523d5f15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Records protected before a reason was required keep their level, with this reason until
# someone who knows why writes it.
_UNRECORDED = "Protected before a reason was required; the reason was not recorded."


def upgrade() -> None:
    op.add_column("testimonies", sa.Column("protection_reason", sa.Text(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE testimonies SET protection_reason = :reason "
            "WHERE protection_level <> 'public' AND protection_reason IS NULL"
        ).bindparams(reason=_UNRECORDED)
    )
    op.create_check_constraint(
        "protection_reason_given",
        "testimonies",
        "protection_level = 'public' OR protection_reason IS NOT NULL",
    )

    op.add_column("claims", sa.Column("protection_reason", sa.Text(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE claims SET protection_reason = :reason "
            "WHERE (protection_level <> 'public' OR claimant_level <> 'public') "
            "AND protection_reason IS NULL"
        ).bindparams(reason=_UNRECORDED)
    )
    op.create_check_constraint(
        "protection_reason_given",
        "claims",
        "(protection_level = 'public' AND claimant_level = 'public') "
        "OR protection_reason IS NOT NULL",
    )

    op.add_column(
        "sources",
        sa.Column("title_supplied", sa.Boolean(), server_default="false", nullable=False),
    )
    # A title wholly in square brackets was the mark of a supplied one: it becomes the flag.
    op.execute(
        "UPDATE sources SET title = btrim(substr(title, 2, length(title) - 2)), "
        "title_supplied = true "
        "WHERE title ~ '^\\[.*\\]$' AND btrim(substr(title, 2, length(title) - 2)) <> ''"
    )
    op.add_column(
        "sources",
        sa.Column(
            "excluded_spans",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.create_check_constraint(
        "excluded_spans_in_text",
        "sources",
        "jsonb_typeof(excluded_spans) = 'array' "
        "AND (excluded_spans = '[]'::jsonb OR archived_text IS NOT NULL)",
    )

    op.add_column(
        "testimony_excerpts",
        sa.Column(
            "speaker",
            sa.Enum(
                "witness", "narrator", name="speaker", native_enum=False, create_constraint=True
            ),
            server_default="witness",
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("testimony_excerpts", "speaker")
    op.drop_constraint("excluded_spans_in_text", "sources", type_="check")
    op.drop_column("sources", "excluded_spans")
    op.execute("UPDATE sources SET title = '[' || title || ']' WHERE title_supplied")
    op.drop_column("sources", "title_supplied")
    op.drop_constraint("protection_reason_given", "claims", type_="check")
    op.drop_column("claims", "protection_reason")
    op.drop_constraint("protection_reason_given", "testimonies", type_="check")
    op.drop_column("testimonies", "protection_reason")
