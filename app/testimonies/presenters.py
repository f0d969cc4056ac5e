from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.citing import Citer
from app.kit.periods import period_of
from app.kit.schemas import RecordRef
from app.sources.citations import CitationBuilder
from app.testimonies.models import Testimony as TestimonyRow
from app.testimonies.schemas import LabourType, Testimony, Witness


async def present_testimonies(
    session: AsyncSession, testimonies: Sequence[TestimonyRow], citer: Citer
) -> list[Testimony]:
    """Needs facilities and excerpts (with source and publisher) loaded."""
    citations = await CitationBuilder.for_quotes(
        session, [e for t in testimonies for e in t.excerpts]
    )
    return [
        Testimony(
            id=testimony.id,
            witness=Witness(
                pseudonym=testimony.witness_pseudonym,
                pseudonym_is_real_name=testimony.pseudonym_is_real_name,
                role=testimony.witness_role,
                gender=testimony.witness_gender,
                age_at_start=testimony.witness_age_at_start,
                birth_year=testimony.witness_birth_year,
            ),
            period=period_of(testimony),
            province=testimony.province,
            county=testimony.county,
            facilities=[RecordRef(id=f.id, name=f.name) for f in testimony.facilities],
            labour_types=[LabourType(t) for t in testimony.labour_types],
            summary=testimony.summary,
            protection_level=testimony.protection_level,
            citations=[citations.cite(excerpt) for excerpt in testimony.excerpts],
            created_at=testimony.created_at,
            updated_at=testimony.updated_at,
            cite_as=citer.cite(
                "testimonies", testimony.id, f"Testimony of {testimony.witness_pseudonym}."
            ),
        )
        for testimony in testimonies
    ]
