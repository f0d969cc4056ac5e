"""Matching records against a search: full-text over each tier's documents, plus trigram
similarity of names across spellings; and ranking a bounded number of the matches.

A search ranks at most `RANKED` of its matches by relevance: the most recently changed ones.
The index on (changed_at, id) yields them in that order, so a common word is answered by
reading the newest documents until RANKED match, not by scoring every match; a rare word by
its few matches, from the full-text index. The matches beyond the ranked ones follow, most
recently changed first. The statements are built once per shape; a request only binds its
values.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Numeric,
    Select,
    Text,
    any_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.search.folding import fold_name
from app.search.models import SearchDocument

# English stemming ("miners" finds "miner"); Hangul words are kept whole.
TEXT_SEARCH_CONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")
# Folded queries shorter than this match too much by trigrams; full-text still applies.
MIN_FUZZY_LENGTH = 4
# How many matches a search ranks by relevance: the most recently changed.
RANKED = 500

_WORDS = bindparam("search_words", type_=Text())
_FOLDED = bindparam("search_folded", type_=Text())
_TIERS = bindparam("search_tiers", type_=ARRAY(Text()))  # the client's tier, as an array
_KINDS = bindparam("search_kinds", type_=ARRAY(Text()))
_LIMIT: Any = bindparam("search_limit", type_=Integer())
_RANKED: Any = bindparam("search_ranked", type_=Integer())
_TSQUERY = func.websearch_to_tsquery(TEXT_SEARCH_CONFIG, _WORDS)

_HIGHLIGHT_START, _HIGHLIGHT_END = "\ue000", "\ue001"  # private-use: never in the text
_HEADLINE_OPTIONS = (
    f"StartSel={_HIGHLIGHT_START}, StopSel={_HIGHLIGHT_END}, MaxWords=30, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class SearchTerms:
    """A client's `q`: web-search syntax ("quoted phrase", or, -excluded) for full text, and
    its folded form for names."""

    text: str

    @property
    def folded(self) -> str | None:
        folded = fold_name(self.text)
        return folded if len(folded) >= MIN_FUZZY_LENGTH else None

    def params(self, tier: str) -> dict[str, Any]:
        """The values of a search statement's parameters."""
        return {"search_words": self.text, "search_folded": self.folded, "search_tiers": [tier]}


def _matches(fuzzy: bool) -> ColumnElement[bool]:
    """A document matches on its text, or on a name within a few letters of the query's
    (word similarity at or above pg_trgm.word_similarity_threshold, 0.6)."""
    text_match = SearchDocument.vector.op("@@")(_TSQUERY)
    if not fuzzy:
        return text_match
    return or_(text_match, _FOLDED.op("<%")(SearchDocument.names))


def _score(vector: Any, names: Any, fuzzy: bool) -> ColumnElement[Any]:
    """Text rank plus name similarity, rounded so that pages can resume after it exactly."""
    rank = func.ts_rank_cd(vector, _TSQUERY)
    similarity: ColumnElement[Any] = literal(0.0)
    if fuzzy:
        similarity = func.coalesce(func.word_similarity(_FOLDED, names), 0)
    return func.round((rank + similarity).cast(Numeric), 6)


def _headline(body: Any) -> ColumnElement[str]:
    # ts_headline reads the whole text: only ever applied to the rows of one page.
    headline: ColumnElement[str] = func.ts_headline(
        TEXT_SEARCH_CONFIG, body, _TSQUERY, _HEADLINE_OPTIONS
    )
    return headline


def _seen() -> ColumnElement[bool]:
    return SearchDocument.tiers.op("@>")(_TIERS)


@cache
def _matching_ids(fuzzy: bool) -> Select[Any]:
    return select(SearchDocument.record_id).where(
        SearchDocument.kind == bindparam("search_kind"), _seen(), _matches(fuzzy)
    )


def matching_ids(kind: str, terms: SearchTerms, tier: str) -> Select[Any]:
    """Ids of the records of `kind` whose document for `tier` matches."""
    statement = _matching_ids(terms.folded is not None)
    return statement.params(search_kind=kind, **terms.params(tier))


@dataclass(frozen=True)
class Ranked:
    """A position among the ranked results: after this score and ref."""

    score: Decimal
    ref: str

    def cursor_key(self) -> tuple[Any, str | int]:
        return str(self.score), self.ref


@dataclass(frozen=True)
class Beyond:
    """A position among the matches beyond the ranked ones: after the document of this
    id, whose record changed at this time."""

    changed_at: datetime
    document: int

    def cursor_key(self) -> tuple[Any, str | int]:
        return ["beyond", self.changed_at.isoformat()], self.document


Position = Ranked | Beyond


def position_of(sort_value: Any, last_id: str | int) -> Position:
    """A position read back from a cursor's key (`cursor_key`); a ValueError when the key is
    not one."""
    if isinstance(sort_value, str) and isinstance(last_id, str):
        return Ranked(Decimal(sort_value), last_id)
    match sort_value:
        case ["beyond", str(changed_at)] if isinstance(last_id, int):
            return Beyond(datetime.fromisoformat(changed_at), last_id)
    raise ValueError("not a search position")


@dataclass(frozen=True)
class Found:
    """One result of a page, with where a page after it would resume."""

    kind: str
    record_id: str
    title: str
    snippet: str
    score: Decimal
    position: Position


@dataclass(frozen=True)
class Results:
    """A page of results; `more`: whether another page follows; `matched`: how many
    documents match, counted up to RANKED + 1 (None when the page did not count)."""

    found: list[Found]
    more: bool
    matched: int | None

    @property
    def total(self) -> int | str:
        """How many match: exactly up to RANKED, else the text '>RANKED'. A page past the
        ranked results knows that more than RANKED do."""
        matched = RANKED + 1 if self.matched is None else self.matched
        return matched if matched <= RANKED else f">{RANKED}"


@dataclass(frozen=True)
class Search:
    """One client's search: its terms, tier and filters."""

    terms: SearchTerms
    tier: str
    kinds: tuple[str, ...] = ()
    include_retracted: bool = False

    @property
    def shape(self) -> tuple[bool, bool, bool]:
        return self.terms.folded is not None, bool(self.kinds), self.include_retracted

    def params(self, limit: int) -> dict[str, Any]:
        values = self.terms.params(self.tier) | {"search_limit": limit, "search_ranked": RANKED}
        return values | ({"search_kinds": list(self.kinds)} if self.kinds else {})

    async def page(self, session: AsyncSession, limit: int, after: Position | None) -> Results:
        """The `limit` results after `after`: ranked ones first, then, when more than
        RANKED documents match, those beyond them. At most two statements, each reading a
        bounded number of documents when the words are common."""
        found: list[Found] = []
        matched = None
        if not isinstance(after, Beyond):
            statement = ranked_statement(*self.shape, resuming=after is not None)
            params = self.params(limit + 1)
            if after is not None:
                params |= {"after_score": after.score, "after_ref": after.ref}
            rows = (await session.execute(statement, params)).all()
            matched = rows[0].matched
            found = [_found(row, Ranked(row.score, row.ref)) for row in rows if row.ref is not None]
        # Past the ranked results, the page goes on with those beyond them.
        if len(found) <= limit and (matched is None or matched > RANKED):
            resuming = isinstance(after, Beyond)
            statement = beyond_statement(*self.shape, resuming=resuming)
            params = self.params(limit + 1 - len(found))
            if isinstance(after, Beyond):
                params |= {"after_changed_at": after.changed_at, "after_document": after.document}
            rows = (await session.execute(statement, params)).all()
            found += [_found(row, Beyond(row.changed_at, row.id)) for row in rows]
        return Results(found[:limit], len(found) > limit, matched)


def _found(row: Any, position: Position) -> Found:
    snippet = (
        html.escape(row.snippet, quote=False)
        .replace(_HIGHLIGHT_START, "<mark>")
        .replace(_HIGHLIGHT_END, "</mark>")
    )
    return Found(row.kind, row.record_id, row.title, snippet, row.score, position)


def _where(fuzzy: bool, kinds: bool, include_retracted: bool) -> list[ColumnElement[bool]]:
    where = [_seen(), _matches(fuzzy)]
    if kinds:
        where.append(SearchDocument.kind == any_(_KINDS))
    if not include_retracted:
        where.append(SearchDocument.retracted.is_(False))
    return where


_NEWEST_FIRST = (SearchDocument.changed_at.desc(), SearchDocument.id.desc())
_SHOWN = (
    SearchDocument.id,
    SearchDocument.changed_at,
    SearchDocument.kind,
    SearchDocument.record_id,
    SearchDocument.ref,
    SearchDocument.title,
    SearchDocument.body,
    SearchDocument.vector,
    SearchDocument.names,
)


@cache
def ranked_statement(
    fuzzy: bool, kinds: bool, include_retracted: bool, resuming: bool
) -> Select[Any]:
    """The ranked results of a page (after `after_score`, `after_ref` when resuming), best
    first, each with `matched`: how many documents match, up to RANKED + 1.

    The candidates are the RANKED + 1 most recently changed matches: for a common word an
    index walk that stops there, for a rare one its few matches sorted. Only the RANKED of
    them are scored, and only the page's rows get a snippet."""
    where = _where(fuzzy, kinds, include_retracted)
    candidates = (
        select(*_SHOWN).where(*where).order_by(*_NEWEST_FIRST).limit(_RANKED + 1).cte("candidates")
    )
    newest = candidates.c.changed_at.desc(), candidates.c.id.desc()
    ranked = select(candidates).order_by(*newest).limit(_RANKED).subquery("ranked")
    score = _score(ranked.c.vector, ranked.c.names, fuzzy)
    page = select(ranked.c.kind, ranked.c.record_id, ranked.c.ref, ranked.c.title, ranked.c.body)
    page = page.add_columns(score.label("score"))
    if resuming:
        after = tuple_(
            bindparam("after_score", type_=Numeric()), bindparam("after_ref", type_=Text())
        )
        page = page.where(tuple_(score, ranked.c.ref) < after)
    shown = page.order_by(score.desc(), ranked.c.ref.desc()).limit(_LIMIT).subquery("page")
    # One row at least, so that the count comes back with an empty page too.
    matched = select(func.count().label("matched")).select_from(candidates).subquery("matched")
    return (
        select(
            matched.c.matched,
            shown.c.kind,
            shown.c.record_id,
            shown.c.ref,
            shown.c.title,
            shown.c.score,
            _headline(shown.c.body).label("snippet"),
        )
        .select_from(matched.outerjoin(shown, true()))
        .order_by(shown.c.score.desc(), shown.c.ref.desc())
    )


@cache
def beyond_statement(
    fuzzy: bool, kinds: bool, include_retracted: bool, resuming: bool
) -> Select[Any]:
    """Matches beyond the ranked ones, most recently changed first: after
    (`after_changed_at`, `after_document`) when resuming, else after the RANKED newest."""
    where = _where(fuzzy, kinds, include_retracted)
    statement = select(*_SHOWN).where(*where).order_by(*_NEWEST_FIRST).limit(_LIMIT)
    if resuming:
        after = tuple_(
            bindparam("after_changed_at", type_=DateTime(timezone=True)),
            bindparam("after_document", type_=BigInteger()),
        )
        statement = statement.where(tuple_(SearchDocument.changed_at, SearchDocument.id) < after)
    else:
        statement = statement.offset(_RANKED)
    rows = statement.subquery("beyond")
    return select(
        rows.c.id,
        rows.c.changed_at,
        rows.c.kind,
        rows.c.record_id,
        rows.c.title,
        _score(rows.c.vector, rows.c.names, fuzzy).label("score"),
        _headline(rows.c.body).label("snippet"),
    ).order_by(rows.c.changed_at.desc(), rows.c.id.desc())
