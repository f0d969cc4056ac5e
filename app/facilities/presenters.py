from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.claims.corroboration import facility_sources
from app.facilities.models import Facility as FacilityRow
from app.facilities.schemas import Facility, FacilityAlias, Location
from app.kit.citing import Citer
from app.kit.protection import Disclosure, ProtectionLevel
from app.kit.schemas import RecordRef
from app.sources.citations import CitationBuilder, merge_withheld


async def present_facilities(
    session: AsyncSession, facilities: Sequence[FacilityRow], citer: Citer, viewer: Viewer
) -> list[Facility]:
    """Needs operator, aliases and mentions (with source and publisher) loaded."""
    citations = await CitationBuilder.for_quotes(
        session, [m for f in facilities for m in f.mentions]
    )
    ids = [f.id for f in facilities]
    sources = {p.tier: await facility_sources(session, ids, p) for p in viewer.clients}
    return viewer.each(
        facilities,
        lambda facility: f"facilities/{facility.id}",
        lambda facility: _present(facility, citations, sources, citer, viewer),
    )


def _present(
    facility: FacilityRow,
    citations: CitationBuilder,
    sources: dict[str, dict[str, int]],
    citer: Citer,
    viewer: Viewer,
) -> Facility:
    """A facility is public; each mention is served by the quote policy, at the level of its
    source and of any protected record quoting the same passage."""
    record = f"facilities/{facility.id}"
    cited = [
        one
        for one in (
            citations.cite(m, ProtectionLevel.public, viewer, record) for m in facility.mentions
        )
        if not one.hidden
    ]
    withheld = merge_withheld([], cited)
    return Facility(
        id=facility.id,
        name=facility.name,
        aliases=[
            FacilityAlias(name=a.name, language=a.language, script=a.script)
            for a in facility.aliases
        ],
        facility_type=facility.facility_type,
        province=facility.province,
        county=facility.county,
        location=Location(
            latitude=float(facility.latitude) if facility.latitude is not None else None,
            longitude=float(facility.longitude) if facility.longitude is not None else None,
            precision=facility.location_precision,
        ),
        operator=RecordRef(id=facility.operator.id, name=facility.operator.name)
        if facility.operator
        else None,
        products=facility.products,
        description=facility.description,
        citations=[one.citation for one in cited],
        independent_sources=viewer.of_tier({t: found[facility.id] for t, found in sources.items()}),
        disclosure=Disclosure(
            level=ProtectionLevel.public, coarsened=bool(withheld), withheld=withheld
        ),
        created_at=facility.created_at,
        updated_at=facility.updated_at,
        state=facility.state(),
        cite_as=citer.cite("facilities", facility.id, f"{facility.name}."),
    )
