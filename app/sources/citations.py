"""Citations of evidence: a quote, its source and the chain of sources the source relays."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import Quoted
from app.kit.partial_dates import PartialDate
from app.kit.schemas import RecordRef, RecordStatus
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
    """Builds citations for many quotes with one query for all their relay chains.

    A quote's chain starts at the relayed source it reports (`relayed_from`) and follows that
    source's own relays to the origin; a quote in the publisher's own words has none.
    """

    def __init__(self, chains: dict[str, list[SourceRef]]) -> None:
        self._chains = chains

    @classmethod
    async def for_quotes(cls, session: AsyncSession, quotes: Iterable[Quoted]) -> CitationBuilder:
        roots = sorted({q.relayed_from_id for q in quotes if q.relayed_from_id is not None})
        if not roots:
            return cls({})
        rows = (await session.execute(_RELAY_CHAINS, {"roots": roots})).all()
        refs = await sources_by_id(session, {*roots, *(row.source_id for row in rows)})
        chains = {root: [source_ref(refs[root])] for root in roots}
        for row in rows:
            chains[row.root].append(source_ref(refs[row.source_id]))
        return cls(chains)

    def cite(self, quoted: Quoted) -> Citation:
        """Needs `quoted.source.publisher` loaded."""
        chain = self._chains.get(quoted.relayed_from_id or "", [])
        return Citation(
            source=source_ref(quoted.source),
            quote=quoted.quote,
            locator=locator_of(quoted),
            status=getattr(quoted, "status", RecordStatus.active),
            status_reason=getattr(quoted, "status_reason", None),
            relay_chain=chain,
        )


def withhold_quote(citation: Citation) -> Citation:
    """The citation without the words or their place: the source alone stays."""
    return citation.model_copy(update={"quote": None, "locator": None})
