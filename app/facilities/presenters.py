from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.facilities.models import Facility as FacilityRow
from app.facilities.repository import facility_sources
from app.kit.protection import ProtectionLevel
from app.kit.schemas import enum_value
from app.sources.citations import CitationBuilder, merge_withheld
from app.views.rendering import Presented


async def present_facilities(
    session: AsyncSession, facilities: Sequence[FacilityRow], viewer: Viewer
) -> list[Presented]:
    """Each as its `Facility` serialises (see `app.views.rendering`). Needs operator, aliases
    and mentions (with source and publisher) loaded."""
    citations = await CitationBuilder.for_quotes(
        session, [m for f in facilities for m in f.mentions]
    )
    ids = [f.id for f in facilities]
    sources = {p.tier: await facility_sources(session, ids, p) for p in viewer.clients}
    return viewer.each(
        facilities,
        lambda facility: f"facilities/{facility.id}",
        lambda facility: _present(facility, citations, sources, viewer),
    )


def _present(
    facility: FacilityRow,
    citations: CitationBuilder,
    sources: dict[str, dict[str, int]],
    viewer: Viewer,
) -> Presented:
    """A facility is public; each mention is served by the quote policy, at the level of its
    source and of any protected record quoting the same passage. `sources`: each tier's
    figures."""
    record = f"facilities/{facility.id}"
    cited = [
        one
        for one in (
            citations.cite(m, ProtectionLevel.public, viewer, record) for m in facility.mentions
        )
        if not one.hidden
    ]
    withheld = merge_withheld([], cited)
    operator = facility.operator
    data = {
        "id": facility.id,
        "name": facility.name,
        "aliases": [
            {"name": a.name, "language": a.language, "script": a.script.value}
            for a in facility.aliases
        ],
        "facility_type": facility.facility_type.value,
        "province": enum_value(facility.province),
        "county": facility.county,
        "location": {
            "latitude": float(facility.latitude) if facility.latitude is not None else None,
            "longitude": float(facility.longitude) if facility.longitude is not None else None,
            "precision": facility.location_precision.value,
        },
        "operator": {"id": operator.id, "name": operator.name} if operator else None,
        "products": facility.products,
        "description": facility.description,
        "citations": [one.citation for one in cited],
        "independent_sources": viewer.of_tier(
            {tier: found[facility.id] for tier, found in sources.items()}
        ),
        "disclosure": {
            "level": ProtectionLevel.public.value,
            "coarsened": bool(withheld),
            "withheld": withheld,
        },
        "created_at": facility.created_at,
        "updated_at": facility.updated_at,
        "state": facility.state(),
    }
    return Presented(data, f"{facility.name}.")
