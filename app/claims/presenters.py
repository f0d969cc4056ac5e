from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.claims.models import Claim as ClaimRow
from app.claims.schemas import Claim, Claimant, ClaimantType, ClaimSubject
from app.kit.citing import Citer
from app.kit.periods import period_of
from app.kit.schemas import RecordRef
from app.sources.citations import CitationBuilder
from app.sources.presenters import describe_source


def _number(value: Decimal | None) -> int | float | None:
    """Whole numbers as integers (26000000, not 26000000.0)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _claimant(claim: ClaimRow) -> Claimant:
    if claim.claimant_organization is not None:
        organization = claim.claimant_organization
        return Claimant(type=ClaimantType.organization, id=organization.id, name=organization.name)
    testimony = claim.claimant_testimony
    assert testimony is not None  # the one_claimant CHECK guarantees one of the two
    return Claimant(type=ClaimantType.testimony, id=testimony.id, name=testimony.witness_pseudonym)


async def present_claims(
    session: AsyncSession, claims: Sequence[ClaimRow], citer: Citer
) -> list[Claim]:
    """Needs source (with publisher), claimant and subject relationships loaded."""
    citations = await CitationBuilder.for_quotes(session, claims)
    return [
        Claim(
            id=claim.id,
            statement=claim.statement,
            metric=claim.metric,
            value=_number(claim.value),
            value_min=_number(claim.value_min),
            value_max=_number(claim.value_max),
            unit=claim.unit,
            approximation=claim.approximation,
            period=period_of(claim),
            claimant=_claimant(claim),
            stance=claim.stance,
            about=ClaimSubject(
                facility=RecordRef(id=claim.about_facility.id, name=claim.about_facility.name)
                if claim.about_facility
                else None,
                testimony=RecordRef(
                    id=claim.about_testimony.id, name=claim.about_testimony.witness_pseudonym
                )
                if claim.about_testimony
                else None,
                organization=RecordRef(
                    id=claim.about_organization.id, name=claim.about_organization.name
                )
                if claim.about_organization
                else None,
            ),
            citations=[citations.cite(claim)],
            notes=claim.notes,
            created_at=claim.created_at,
            updated_at=claim.updated_at,
            cite_as=citer.cite(
                "claims", claim.id, f"{claim.statement} Quoted from {describe_source(claim.source)}"
            ),
        )
        for claim in claims
    ]
