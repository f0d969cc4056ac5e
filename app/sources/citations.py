"""Citations of evidence: a quote, its source and the chain of sources the source relays."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import Quoted
from app.kit.partial_dates import PartialDate
from app.kit.schemas import RecordRef
from app.sources.models import Source
from app.sources.quotes import locator_of
from app.sources.repository import sources_by_id
from app.sources.schemas import Citation, SourceRef

# Every source reachable through relays from the given ones, with its nearest distance.
# `path` stops cycles (A relays B relays A) from recursing forever.
_RELAY_CHAINS = text(
    """
    WITH RECURSIVE chain(root, source_id, depth, path) AS (
        SELECT relaying_source_id, relayed_source_id, 1,
               ARRAY[relaying_source_id, relayed_source_id]::varchar[]
        FROM source_relays
        WHERE relaying_source_id = ANY(:roots)
        UNION ALL
        SELECT chain.root, next.relayed_source_id, chain.depth + 1,
               chain.path || next.relayed_source_id
        FROM chain JOIN source_relays AS next ON next.relaying_source_id = chain.source_id
        WHERE NOT next.relayed_source_id = ANY(chain.path)
    )
    SELECT root, source_id, min(depth) AS depth
    FROM chain GROUP BY root, source_id ORDER BY root, depth, source_id
    """
)


def source_ref(source: Source) -> SourceRef:
    """Needs `source.publisher` loaded."""
    published = PartialDate.from_columns(source.published_on, source.published_precision)
    return SourceRef(
        id=source.id,
        title=source.title,
        publisher=RecordRef(id=source.publisher.id, name=source.publisher.name)
        if source.publisher
        else None,
        published=str(published) if published else None,
        url=source.url,
    )


class CitationBuilder:
    """Resolves relay chains for many sources in one query, then builds citations."""

    def __init__(self, chains: dict[str, list[SourceRef]]) -> None:
        self._chains = chains

    @classmethod
    async def for_sources(cls, session: AsyncSession, source_ids: Iterable[str]) -> CitationBuilder:
        roots = sorted(set(source_ids))
        if not roots:
            return cls({})
        rows = (await session.execute(_RELAY_CHAINS, {"roots": roots})).all()
        relayed = await sources_by_id(session, {row.source_id for row in rows})
        chains: dict[str, list[SourceRef]] = {}
        for row in rows:
            chains.setdefault(row.root, []).append(source_ref(relayed[row.source_id]))
        return cls(chains)

    def chain(self, source_id: str) -> list[SourceRef]:
        return self._chains.get(source_id, [])

    def cite(self, quoted: Quoted) -> Citation:
        """Needs `quoted.source.publisher` loaded."""
        return Citation(
            source=source_ref(quoted.source),
            quote=quoted.quote,
            locator=locator_of(quoted),
            relay_chain=self.chain(quoted.source_id),
        )
