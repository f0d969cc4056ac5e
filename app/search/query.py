"""Matching records against a search: full-text over each tier's documents, plus trigram
similarity of names across spellings."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    and_,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.search.folding import fold_name
from app.search.models import SearchDocument

# English stemming ("miners" finds "miner"); Hangul words are kept whole.
TEXT_SEARCH_CONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")
# Folded queries shorter than this match too much by trigrams; full-text still applies.
MIN_FUZZY_LENGTH = 4


@dataclass(frozen=True)
class SearchTerms:
    """A client's `q`: web-search syntax ("quoted phrase", or, -excluded) for full text, and
    its folded form for names."""

    text: str

    @property
    def tsquery(self) -> ColumnElement[Any]:
        return func.websearch_to_tsquery(TEXT_SEARCH_CONFIG, self.text)

    @property
    def folded(self) -> str | None:
        folded = fold_name(self.text)
        return folded if len(folded) >= MIN_FUZZY_LENGTH else None

    def matches(self) -> ColumnElement[bool]:
        """A document matches on its text, or on a name within a few letters of the query's
        (word similarity at or above pg_trgm.word_similarity_threshold, 0.6)."""
        text_match = SearchDocument.vector.op("@@")(self.tsquery)
        if self.folded is None:
            return text_match
        return or_(text_match, literal(self.folded).op("<%")(SearchDocument.names))

    def score(self) -> ColumnElement[Any]:
        """Text rank plus name similarity, rounded so that pages can resume after it exactly."""
        rank = func.ts_rank_cd(SearchDocument.vector, self.tsquery)
        similarity: ColumnElement[Any] = literal(0.0)
        if self.folded is not None:
            similarity = func.coalesce(func.word_similarity(self.folded, SearchDocument.names), 0)
        return func.round((rank + similarity).cast(Numeric), 6)


def seen_by(tier: str) -> ColumnElement[bool]:
    return SearchDocument.tiers.contains([tier])


def matching_ids(kind: str, terms: SearchTerms, tier: str) -> Select[str]:
    """Ids of the records of `kind` whose document for `tier` matches."""
    return select(SearchDocument.record_id).where(
        and_(SearchDocument.kind == kind, seen_by(tier), terms.matches())
    )


_HIGHLIGHT_START, _HIGHLIGHT_END = "\ue000", "\ue001"  # private-use: never in the text
_HEADLINE_OPTIONS = (
    f"StartSel={_HIGHLIGHT_START}, StopSel={_HIGHLIGHT_END}, MaxWords=30, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def ranked(
    terms: SearchTerms, tier: str, kinds: list[str], include_retracted: bool
) -> tuple[Select[Any], ColumnElement[Any]]:
    """Documents for `tier` matching the terms, and their score to sort by."""
    where = [seen_by(tier), terms.matches()]
    if kinds:
        where.append(SearchDocument.kind.in_(kinds))
    if not include_retracted:
        where.append(SearchDocument.retracted.is_(False))
    return select(SearchDocument).where(*where), terms.score()


async def snippets(
    session: AsyncSession, terms: SearchTerms, tier: str, refs: list[str]
) -> dict[str, str]:
    """Highlighted snippets of these documents, HTML-escaped with `<mark>` around matches.
    Computed for one page only: ts_headline reads the whole text."""
    if not refs:
        return {}
    headline = func.ts_headline(
        TEXT_SEARCH_CONFIG, SearchDocument.body, terms.tsquery, _HEADLINE_OPTIONS
    )
    keys = [tuple(ref.split("/", 1)) for ref in refs]
    rows = await session.execute(
        select(SearchDocument.ref, headline).where(
            tuple_(SearchDocument.kind, SearchDocument.record_id).in_(keys), seen_by(tier)
        )
    )
    return {
        ref: html.escape(text, quote=False)
        .replace(_HIGHLIGHT_START, "<mark>")
        .replace(_HIGHLIGHT_END, "</mark>")
        for ref, text in rows
    }
