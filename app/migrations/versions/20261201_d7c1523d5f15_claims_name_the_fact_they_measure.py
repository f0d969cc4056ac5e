"""Claims name the fact they measure; the subject index leads with it and probes by claimant

Claims compare (agree, conflict, corroborate) only when they name the same fact, metric,
unit and subjects, and count one origin per claimant. Existing claims get no fact, so they
compare with nothing until one is given (`testimony seed update --apply` gives the seed's).

Revision ID: d7c1523d5f15
Revises: 3c1e9f27a4d8
Create Date: 2026-12-01 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7c1523d5f15"
down_revision: str | None = "3c1e9f27a4d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUBJECTS = [
    "metric",
    "unit",
    sa.literal_column("coalesce(about_facility_id, '')"),
    sa.literal_column("coalesce(about_testimony_id, '')"),
    sa.literal_column("coalesce(about_organization_id, '')"),
]
_QUOTE = ["source_id", sa.literal_column("coalesce(relayed_from_id, '')")]


def upgrade() -> None:
    op.add_column("claims", sa.Column("fact", sa.Text(), nullable=True))
    op.drop_index("ix_claims_subject", table_name="claims")
    op.create_index(
        "ix_claims_subject",
        "claims",
        [
            "fact",
            *_SUBJECTS,
            sa.literal_column("coalesce(claimant_organization_id, claimant_testimony_id)"),
            *_QUOTE,
        ],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_claims_subject", table_name="claims")
    op.create_index("ix_claims_subject", "claims", [*_SUBJECTS, *_QUOTE], unique=False)
    op.drop_column("claims", "fact")
