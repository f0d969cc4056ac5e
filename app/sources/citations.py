"""Citations of evidence: a quote, its source and the chain of sources the source relays."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.kit.partial_dates import PartialDate
from app.kit.protection import ProtectionLevel, strictest
from app.kit.schemas import RecordStatus, enum_value
from app.sources.models import Source
from app.sources.quotes import locator_json
from app.sources.quoting import Quoted
from app.sources.repository import sources_by_id
from app.sources.schemas import Speaker

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


# Passages of sources that protected records quote: an excerpt or a claim above public. The
# same words quoted by another record are served at that level too, so a quote withheld on
# one route is never served on another.
_PROTECTED_PASSAGES = text(
    """
    SELECT e.source_id, e.char_start, e.char_end, e.quote, NULL AS only_for,
           e.protection_level AS own, t.protection_level AS owner, NULL AS other
    FROM testimony_excerpts AS e JOIN testimonies AS t ON t.id = e.testimony_id
    WHERE e.source_id = ANY(:sources) AND e.char_start IS NOT NULL
      AND (e.protection_level <> 'public' OR t.protection_level <> 'public')
    UNION ALL
    SELECT c.source_id, c.char_start, c.char_end, c.quote, NULL,
           c.protection_level, made_by.protection_level, about.protection_level
    FROM claims AS c
    LEFT JOIN testimonies AS made_by ON made_by.id = c.claimant_testimony_id
    LEFT JOIN testimonies AS about ON about.id = c.about_testimony_id
    WHERE c.source_id = ANY(:sources) AND c.char_start IS NOT NULL
      AND (c.protection_level <> 'public' OR c.claimant_testimony_id IS NOT NULL
           OR c.about_testimony_id IS NOT NULL)
      AND (c.protection_level <> 'public' OR made_by.protection_level <> 'public'
           OR about.protection_level <> 'public')
    UNION ALL
    -- A claim that withholds its witness as claimant: the witness's own excerpts of the
    -- passage would tell who said it, so they are served at the claimant's level.
    SELECT c.source_id, c.char_start, c.char_end, c.quote,
           'testimonies/' || c.claimant_testimony_id, c.claimant_level, NULL, NULL
    FROM claims AS c
    WHERE c.source_id = ANY(:sources) AND c.char_start IS NOT NULL
      AND c.claimant_level <> 'public' AND c.claimant_testimony_id IS NOT NULL
    """
)


def source_ref(source: Source) -> dict[str, Any]:
    """A source cited, as its `SourceRef` serialises. Needs `source.publisher` loaded."""
    published = PartialDate.from_columns(source.published_on, source.published_precision)
    publisher = source.publisher
    return {
        "id": source.id,
        "title": source.title,
        "title_supplied": source.title_supplied,
        "publisher": {"id": publisher.id, "name": publisher.name} if publisher else None,
        "published": str(published) if published else None,
        "url": source.url,
    }


def shown_source_ref(source: Source, viewer: Viewer) -> dict[str, Any] | None:
    """A source as this client may see it cited: None when it may not learn the source
    exists; without its title, URL and exact date when the source is coarsened for it."""
    level = source.protection_level
    if viewer.hides(level):
        return None
    if viewer.shows_in_full(level, f"sources/{source.id}"):
        return source_ref(source)
    return coarsened_source_ref(source)


def coarsened_source_ref(source: Source) -> dict[str, Any]:
    """A protected source's reference without its title, URL and exact date."""
    ref = source_ref(source)
    year = ref["published"][:4] if ref["published"] else None
    return ref | {"title": None, "title_supplied": None, "url": None, "published": year}


@dataclass(frozen=True)
class Cited:
    """A quote as one client is shown it: its citation (as its `Citation` serialises), the
    level it is served at, and what was withheld. `hidden` quotes are left out of lists (an
    excerpt, a mention)."""

    citation: dict[str, Any]
    level: ProtectionLevel
    hidden: bool
    withheld: tuple[str, ...]


@dataclass(frozen=True)
class Passage:
    """A span of a source's text that a protected record quotes, and that record's level;
    `only_for` names the one record whose quotes of it it protects, where it protects no
    other (a withheld claimant's own excerpts)."""

    start: int
    end: int
    words: str
    level: ProtectionLevel
    only_for: str | None = None

    def meets(self, span: tuple[int, int] | None, words: str, record: str) -> bool:
        if self.only_for is not None and self.only_for != record:
            return False
        if span is not None:
            return self.start < span[1] and span[0] < self.end
        return words in self.words or self.words in words


class QuoteLevels:
    """The level a quote is served at: the strictest of the level of the record it belongs
    to, of its source and the source it reports, and of any protected record quoting the same
    passage (overlapping it, or in the same words where a quote has no locator). Loaded for
    the quotes of some sources with one query for their protected passages."""

    def __init__(self, sources: dict[str, Source], passages: dict[str, list[Passage]]) -> None:
        self._sources = sources
        self._passages = passages

    @staticmethod
    async def passages(
        session: AsyncSession, source_ids: Iterable[str]
    ) -> dict[str, list[Passage]]:
        found: dict[str, list[Passage]] = {}
        wanted = sorted(set(source_ids))
        if wanted:
            for row in await session.execute(_PROTECTED_PASSAGES, {"sources": wanted}):
                level = strictest(*(ProtectionLevel(v) for v in row[5:] if v is not None))
                passage = Passage(row.char_start, row.char_end, row.quote, level, row.only_for)
                found.setdefault(row.source_id, []).append(passage)
        return found

    @classmethod
    async def load(cls, session: AsyncSession, source_ids: Iterable[str]) -> QuoteLevels:
        wanted = set(source_ids)
        return cls(await sources_by_id(session, wanted), await cls.passages(session, wanted))

    def of(
        self,
        owner_level: ProtectionLevel,
        source_id: str,
        relayed_from_id: str | None,
        span: tuple[int, int] | None,
        words: str,
        record: str,
    ) -> ProtectionLevel:
        """`record` (`type/id`) is the record the quote belongs to."""
        overlapping = [
            passage.level
            for passage in self._passages.get(source_id, [])
            if passage.meets(span, words, record)
        ]
        quoted = [self._sources.get(s) for s in (source_id, relayed_from_id) if s is not None]
        return strictest(
            owner_level, *(s.protection_level for s in quoted if s is not None), *overlapping
        )


class CitationBuilder:
    """The disclosure policy of every quote (see `QuoteLevels`), and its citation: built for
    many quotes with one query for their relay chains and one for the protected passages of
    their sources.

    A quote's chain starts at the relayed source it reports (`relayed_from`) and follows that
    source's own relays to the origin; a quote in the publisher's own words has none.
    """

    def __init__(self, chains: dict[str, list[Source]], levels: QuoteLevels) -> None:
        self._chains = chains
        self._levels = levels

    @classmethod
    async def for_quotes(cls, session: AsyncSession, quotes: Iterable[Quoted]) -> CitationBuilder:
        quotes = list(quotes)
        sources = {q.source_id: q.source for q in quotes}
        passages = await QuoteLevels.passages(session, sources)
        roots = sorted({q.relayed_from_id for q in quotes if q.relayed_from_id is not None})
        chains: dict[str, list[Source]] = {}
        if roots:
            rows = (await session.execute(_RELAY_CHAINS, {"roots": roots})).all()
            refs = await sources_by_id(session, {*roots, *(row.source_id for row in rows)})
            chains = {root: [refs[root]] for root in roots}
            for row in rows:
                chains[row.root].append(refs[row.source_id])
            sources |= {root: refs[root] for root in roots}
        return cls(chains, QuoteLevels(sources, passages))

    def level(self, quoted: Quoted, owner_level: ProtectionLevel, record: str) -> ProtectionLevel:
        """The level the quote of `record` is served at. Needs `quoted.source` loaded."""
        start, end = quoted.char_start, quoted.char_end
        span = (start, end) if start is not None and end is not None else None
        return self._levels.of(
            owner_level, quoted.source_id, quoted.relayed_from_id, span, quoted.quote, record
        )

    def cite(
        self,
        quoted: Quoted,
        owner_level: ProtectionLevel,
        viewer: Viewer,
        record: str,
        speaker: Speaker | None = None,
    ) -> Cited:
        """Needs `quoted.source.publisher` loaded. `record` names the record the quote belongs
        to, for the audit of what was disclosed; `speaker`, whose words a testimony's excerpt
        quotes."""
        level = self.level(quoted, owner_level, record)
        withheld: list[str] = []
        source = shown_source_ref(quoted.source, viewer)
        if source is None or source["title"] is None:
            withheld.append("citations.source")
        chain = [
            shown_source_ref(s, viewer) for s in self._chains.get(quoted.relayed_from_id or "", [])
        ]
        shown_chain = [ref for ref in chain if ref is not None and ref["title"] is not None]
        if len(shown_chain) < len(chain):
            withheld.append("citations.relay_chain")
        full = viewer.shows_in_full(level, record)
        if not full:
            withheld += ["citations.quote", "citations.locator"]
        status: RecordStatus = getattr(quoted, "status", RecordStatus.active)
        citation = {
            "source": source,
            "quote": quoted.quote if full else None,
            "locator": locator_json(quoted) if full else None,
            "status": status.value,
            "status_reason": getattr(quoted, "status_reason", None),
            "speaker": enum_value(speaker),
            "relay_chain": shown_chain,
        }
        hidden = viewer.hides(level)
        return Cited(citation, level, hidden, tuple(withheld))


def merge_withheld(withheld: list[str], cited: Iterable[Cited]) -> list[str]:
    """`withheld` with the fields the citations withheld added once each, in order."""
    merged = list(withheld)
    for one in cited:
        merged += [name for name in one.withheld if name not in merged]
    return merged
