from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.kit.partial_dates import DatePrecision, PartialDate
from app.sources.citations import coarsened_source_ref, shown_source_ref
from app.sources.models import Source as SourceRow
from app.views.rendering import Presented


def describe_ref(ref: Mapping[str, Any]) -> str:
    """A short bibliographic description of a cited source (as its `SourceRef` serialises),
    used in plain-text citations."""
    publisher = f"{ref['publisher']['name']}, " if ref["publisher"] else ""
    if ref["title"] is None:
        title = "[title withheld]"
    elif ref["title_supplied"]:
        title = f"[{ref['title']}]"  # a description, not the document's own title
    else:
        title = f'"{ref["title"]}"'
    return f"{publisher}{title} ({ref['published'] or 'n.d.'})."


async def present_sources(
    session: AsyncSession, sources: Sequence[SourceRow], viewer: Viewer
) -> list[Presented]:
    """Each as its `Source` serialises (see `app.views.rendering`). Needs publisher, relays
    and relayed_by loaded (see the repository)."""
    return viewer.each(
        sources,
        lambda source: f"sources/{source.id}",
        lambda source: _present(source, viewer),
    )


def _shown_refs(sources: Sequence[SourceRow], viewer: Viewer) -> list[dict[str, Any]]:
    return [ref for ref in (shown_source_ref(s, viewer) for s in sources) if ref is not None]


def _present(source: SourceRow, viewer: Viewer) -> Presented:
    """A source the client is shown coarsened keeps its type, publisher, language and year;
    its title, authors, URL, notes, digest, excluded spans, access date and reason are
    withheld."""
    full = viewer.shows_in_full(source.protection_level, f"sources/{source.id}")
    published = PartialDate.from_columns(source.published_on, source.published_precision)
    # A source hidden from this client is never listed for it (the repository's visibility);
    # search indexing still asks, and drops what the level hides.
    ref = shown_source_ref(source, viewer) or coarsened_source_ref(source)
    withheld = (
        []
        if full
        else [
            name
            for name, value in (
                ("title", source.title),
                ("authors", source.authors),
                ("published", published and published.precision is not DatePrecision.year),
                ("url", source.url),
                ("accessed_on", source.accessed_on),
                ("archive_sha256", source.archive_sha256),
                ("excluded_spans", source.excluded_spans),
                ("notes", source.notes),
                ("protection_reason", source.protection_reason),
            )
            if value
        ]
    )
    precision = source.published_precision if full or not published else DatePrecision.year
    data = {
        "id": source.id,
        "title": ref["title"],
        "title_supplied": ref["title_supplied"],
        "publisher": ref["publisher"],
        "authors": source.authors if full else [],
        "source_type": source.source_type.value,
        "published": ref["published"],
        "published_precision": precision.value,
        "url": ref["url"],
        "language": source.language,
        "accessed_on": source.accessed_on if full else None,
        "archive_sha256": source.archive_sha256 if full else None,
        "excluded_spans": [
            {
                "char_start": span["char_start"],
                "char_end": span["char_end"],
                "reason": span["reason"],
            }
            for span in source.excluded_spans
        ]
        if full
        else [],
        "relays": _shown_refs(source.relays, viewer),
        "relayed_by": _shown_refs(source.relayed_by, viewer),
        "notes": source.notes if full else None,
        "protection_level": source.protection_level.value,
        "protection_reason": source.protection_reason if full else None,
        "disclosure": {
            "level": source.protection_level.value,
            "coarsened": bool(withheld),
            "withheld": withheld,
        },
        "created_at": source.created_at,
        "updated_at": source.updated_at,
        "state": source.state(),
    }
    return Presented(data, describe_ref(ref))
