from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.kit.citing import Citer
from app.kit.partial_dates import PartialDate
from app.kit.schemas import RecordRef
from app.sources.citations import source_ref
from app.sources.models import Source as SourceRow
from app.sources.schemas import Source


def describe_source(source: SourceRow) -> str:
    """A short bibliographic description, used in plain-text citations."""
    ref = source_ref(source)
    publisher = f"{ref.publisher.name}, " if ref.publisher else ""
    return f'{publisher}"{source.title}" ({ref.published or "n.d."}).'


async def present_sources(
    session: AsyncSession, sources: Sequence[SourceRow], citer: Citer, viewer: Viewer
) -> list[Source]:
    """Needs publisher, relays and relayed_by loaded (see the repository)."""
    return [_present(source, citer) for source in sources]


def _present(source: SourceRow, citer: Citer) -> Source:
    published = PartialDate.from_columns(source.published_on, source.published_precision)
    return Source(
        id=source.id,
        title=source.title,
        publisher=RecordRef(id=source.publisher.id, name=source.publisher.name)
        if source.publisher
        else None,
        authors=source.authors,
        source_type=source.source_type,
        published=str(published) if published else None,
        published_precision=source.published_precision,
        url=source.url,
        language=source.language,
        accessed_on=source.accessed_on,
        archive_sha256=source.archive_sha256,
        relays=[source_ref(s) for s in source.relays],
        relayed_by=[source_ref(s) for s in source.relayed_by],
        notes=source.notes,
        created_at=source.created_at,
        updated_at=source.updated_at,
        state=source.state(),
        cite_as=citer.cite("sources", source.id, describe_source(source)),
    )
