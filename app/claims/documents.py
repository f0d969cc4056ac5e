"""How a claim is rendered into its stored views and search documents."""

from __future__ import annotations

from typing import Any

from app.claims import repository
from app.claims.figures import LIVE_FIGURE, ClaimFigures
from app.claims.models import Claim as ClaimRow
from app.claims.presenters import present_claims
from app.claims.schemas import Claim
from app.rendering.documents import DocumentText, Indexed, Quotes, Shows, label, quotes_of


def claim_text(record: dict[str, Any], _row: ClaimRow) -> DocumentText:
    quotes = quotes_of(record["citations"])
    return DocumentText(
        title=record["statement"],
        a=[record["statement"]],
        b=[label(record["metric"]), label(record["unit"]), label(record["stance"])],
        c=[*quotes, record["notes"]],
        body=quotes,
    )


# The passages of the given claims that are protected: by the claim's level, its
# claimant's, or a protected testimony it is about or made by.
_PROTECTED_PASSAGES = """
    SELECT c.source_id, c.char_start, c.char_end
    FROM claims AS c
    WHERE c.id = ANY(:claims) AND c.char_start IS NOT NULL
      AND (c.protection_level <> 'public' OR c.claimant_level <> 'public' OR EXISTS (
          SELECT FROM testimonies AS t
          WHERE t.id IN (c.claimant_testimony_id, c.about_testimony_id)
            AND t.protection_level <> 'public'))
"""

RENDERED = Indexed(
    "claims",
    ClaimRow,
    Claim,
    repository.RECORDS.loads,
    present_claims,
    claim_text,
    repository.RECORDS.counted,
    live=(LIVE_FIGURE,),
    figures=ClaimFigures(),
    order=(ClaimRow.source_id,),
    parts=((ClaimRow, "id"),),
    shows=(
        Shows("organizations", ClaimRow, "claimant_organization_id"),
        Shows("organizations", ClaimRow, "about_organization_id"),
        Shows("sources", ClaimRow, "source_id"),
        Shows("sources", ClaimRow, "relayed_from_id"),
        Shows("testimonies", ClaimRow, "about_testimony_id"),
        Shows("testimonies", ClaimRow, "claimant_testimony_id"),
        Shows("facilities", ClaimRow, "about_facility_id"),
    ),
    quotes=Quotes("claims", "id", _PROTECTED_PASSAGES),
)
