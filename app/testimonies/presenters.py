from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.db.periods import period_of
from app.kit.protection import age_band, decade, is_finer_than_year, strictest, year_only
from app.kit.schemas import enum_value
from app.sources.citations import CitationBuilder, Cited, merge_withheld
from app.testimonies.models import Testimony as TestimonyRow
from app.testimonies.models import TestimonyExcerpt
from app.views.rendering import Presented


async def present_testimonies(
    session: AsyncSession, testimonies: Sequence[TestimonyRow], viewer: Viewer
) -> list[Presented]:
    """Each as its `Testimony` serialises (see `app.views.rendering`). Needs facilities and
    excerpts (with source and publisher) loaded. Restricted testimonies are coarsened for
    clients without read:restricted; each excerpt is served by the quote policy
    (`CitationBuilder`), and those the client may not learn of are left out."""
    citations = await CitationBuilder.for_quotes(
        session, [e for t in testimonies for e in t.excerpts]
    )
    return viewer.each(
        testimonies,
        lambda testimony: f"testimonies/{testimony.id}",
        lambda testimony: _present(testimony, citations, viewer),
    )


def _present(testimony: TestimonyRow, citations: CitationBuilder, viewer: Viewer) -> Presented:
    record = f"testimonies/{testimony.id}"
    full = viewer.shows_in_full(testimony.protection_level, record)
    withheld: list[str] = []
    period = period_of(testimony)
    if not full:
        if testimony.county is not None:
            withheld.append("county")
        if testimony.witness_age_at_start is not None:
            withheld.append("witness.age_at_start")
        if testimony.witness_birth_year is not None:
            withheld.append("witness.birth_year")
        if is_finer_than_year(period):
            withheld.append("period")
            period = year_only(period)
        if testimony.protection_reason is not None:
            withheld.append("protection_reason")
    cited = [
        one
        for one in (_cite(citations, e, testimony, viewer, record) for e in testimony.excerpts)
        if not one.hidden
    ]
    withheld = merge_withheld(withheld, cited)
    data = {
        "id": testimony.id,
        "witness": {
            "pseudonym": testimony.witness_pseudonym,
            "pseudonym_is_real_name": testimony.pseudonym_is_real_name,
            "role": testimony.witness_role.value,
            "gender": testimony.witness_gender.value,
            "age_at_start": testimony.witness_age_at_start if full else None,
            "age_band": age_band(testimony.witness_age_at_start),
            "birth_year": testimony.witness_birth_year if full else None,
            "birth_decade": decade(testimony.witness_birth_year),
        },
        "period": period,
        "province": enum_value(testimony.province),
        "county": testimony.county if full else None,
        "facilities": [{"id": f.id, "name": f.name} for f in testimony.facilities],
        "labour_types": list(testimony.labour_types),
        "summary": testimony.summary,
        "protection_level": testimony.protection_level.value,
        "protection_reason": testimony.protection_reason if full else None,
        "citations": [one.citation for one in cited],
        "disclosure": {
            "level": testimony.protection_level.value,
            "coarsened": bool(withheld),
            "withheld": withheld,
        },
        "created_at": testimony.created_at,
        "updated_at": testimony.updated_at,
        "state": testimony.state(),
    }
    return Presented(data, f"Testimony of {testimony.witness_pseudonym}.")


def _cite(
    citations: CitationBuilder,
    excerpt: TestimonyExcerpt,
    testimony: TestimonyRow,
    viewer: Viewer,
    record: str,
) -> Cited:
    """An excerpt's citation, saying who speaks in it (the witness, or the reporter)."""
    level = strictest(excerpt.protection_level, testimony.protection_level)
    return citations.cite(excerpt, level, viewer, record, excerpt.speaker)
