"""Matching records against a search: full-text over each tier's documents, plus trigram
similarity of names across spellings; and ranking a bounded number of the matches.

A search ranks at most `RANKED` of its matches by relevance: the most recently changed ones.
They are looked for first among the `WINDOW` most recently changed documents, in the order of
the index on (changed_at, id): a common word finds them there after reading a few thousand
documents, however many it matches in all, and the reading stops at the window's edge. A word
with fewer matches among them is answered from the full-text index: all its matches, sorted.
The matches beyond the ranked ones follow, most recently changed first. The statements are
built once per shape; a request only binds its values.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from datetime import UTC, datetime
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
# How many of the most recently changed documents a search first looks among for them.
WINDOW = 20_000
# Seconds the window's edge is reused before it is looked up again (it moves as documents are
# written; an old edge only makes the window larger).
_WINDOW_SECONDS = 60.0

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


# The classes built for every result are slotted, not frozen: a frozen dataclass's
# constructor costs four times as much.
@dataclass(slots=True)
class Ranked:
    """A position among the ranked results: after this score and ref."""

    score: Decimal
    ref: str

    def cursor_key(self) -> tuple[Any, str | int]:
        return str(self.score), self.ref


@dataclass(slots=True)
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


@dataclass(slots=True)
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
        RANKED documents match, those beyond them."""
        found: list[Found] = []
        matched, beyond = None, after
        if not isinstance(after, Beyond):
            rows = await self._ranked(session, limit + 1, after)
            matched = rows[0].matched
            found = [_found(row, Ranked(row.score, row.ref)) for row in rows if row.ref is not None]
            if matched > RANKED:  # the page may go on past the last ranked one
                beyond = Beyond(rows[0].last_changed_at, rows[0].last_id)
        if len(found) <= limit and isinstance(beyond, Beyond):
            params = self.params(limit + 1 - len(found)) | {
                "after_changed_at": beyond.changed_at,
                "after_document": beyond.document,
            }
            rows = (await session.execute(beyond_statement(*self.shape), params)).all()
            found += [_found(row, Beyond(row.changed_at, row.id)) for row in rows]
        return Results(found[:limit], len(found) > limit, matched)

    async def _ranked(self, session: AsyncSession, limit: int, after: Ranked | None) -> list[Any]:
        """The ranked rows of a page: from the candidates found among the newest documents
        when there are enough there, else from all the matches."""
        params = self.params(limit)
        if after is not None:
            params |= {"after_score": after.score, "after_ref": after.ref}
        resuming = after is not None
        edge = await _window_edge(session)
        statement = ranked_statement(*self.shape, resuming=resuming, windowed=True)
        rows = (await session.execute(statement, params | window_params(edge))).all()
        if rows[0].matched > RANKED or edge is None:
            return list(rows)
        statement = ranked_statement(*self.shape, resuming=resuming, windowed=False)
        return list((await session.execute(statement, params)).all())


def window_edge_statement() -> Select[datetime, int]:
    """The key of the WINDOW-th most recently changed document."""
    newest = select(SearchDocument.changed_at, SearchDocument.id).order_by(*_NEWEST_FIRST)
    return newest.offset(WINDOW - 1).limit(1)


@dataclass(slots=True)
class _Edge:
    key: tuple[datetime, int] | None
    until: float


_edges: dict[str, _Edge] = {}  # by database
_OLDEST = (datetime.min.replace(tzinfo=UTC), 0)  # before every document


def window_params(edge: tuple[datetime, int] | None) -> dict[str, Any]:
    """The window's parameters; with fewer documents than it holds (no edge), all of them
    are the window."""
    changed_at, document = edge or _OLDEST
    return {"window_changed_at": changed_at, "window_document": document}


async def _window_edge(session: AsyncSession) -> tuple[datetime, int] | None:
    """(changed_at, id) of the WINDOW-th most recently changed document (None when there are
    fewer): the window is every document from it on. Any edge gives the same results, a
    newer one only less to read, so it is looked up once a minute, not per search."""
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    edge, now = _edges.get(database), time.monotonic()
    if edge is None or edge.until < now:
        row = (await session.execute(window_edge_statement())).first()
        key = None if row is None else (row[0], row[1])
        edge = _edges[database] = _Edge(key, now + _WINDOW_SECONDS)
    return edge.key


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
    fuzzy: bool, kinds: bool, include_retracted: bool, resuming: bool, windowed: bool
) -> Select[Any]:
    """The ranked results of a page (after `after_score`, `after_ref` when resuming), best
    first. Every row has `matched`, how many candidates there are (RANKED + 1 at most), and
    `last_changed_at`, `last_id`, the key of the last ranked one (in the recency order),
    after which the matches beyond the ranked ones start; one row with only these when the
    page is empty.

    The candidates are the RANKED + 1 most recently changed matches. `windowed`: looked for
    from (`window_changed_at`, `window_document`) on only, in the index's order, a walk the
    window's edge stops (when it finds RANKED or fewer, they may not be the newest of all);
    else among all the matches the full-text index finds, sorted. Only the RANKED newest
    candidates are scored, and only the page's rows get a snippet."""
    where = _where(fuzzy, kinds, include_retracted)
    if windowed:
        edge = tuple_(
            bindparam("window_changed_at", type_=DateTime(timezone=True)),
            bindparam("window_document", type_=BigInteger()),
        )
        where.append(tuple_(SearchDocument.changed_at, SearchDocument.id) >= edge)
        order = _NEWEST_FIRST
    else:
        # A sort key the index does not hold: the planner cannot walk the index for the
        # few matches there are among the newest documents, it finds them all and sorts.
        order = (func.coalesce(SearchDocument.changed_at).desc(), SearchDocument.id.desc())
    candidates = select(*_SHOWN).where(*where).order_by(*order).limit(_RANKED + 1).cte("candidates")
    newest = candidates.c.changed_at.desc(), candidates.c.id.desc()
    ranked = select(candidates).order_by(*newest).limit(_RANKED).cte("ranked")
    score = _score(ranked.c.vector, ranked.c.names, fuzzy)
    page = select(ranked.c.kind, ranked.c.record_id, ranked.c.ref, ranked.c.title, ranked.c.body)
    page = page.add_columns(score.label("score"))
    if resuming:
        after = tuple_(
            bindparam("after_score", type_=Numeric()), bindparam("after_ref", type_=Text())
        )
        page = page.where(tuple_(score, ranked.c.ref) < after)
    shown = page.order_by(score.desc(), ranked.c.ref.desc()).limit(_LIMIT).subquery("page")
    oldest_first = ranked.c.changed_at, ranked.c.id
    last = select(*oldest_first).order_by(*oldest_first).limit(1).subquery("last")
    # One row at least, so that the count comes back with an empty page too.
    matched = select(func.count().label("matched")).select_from(candidates).subquery("matched")
    return (
        select(
            matched.c.matched,
            last.c.changed_at.label("last_changed_at"),
            last.c.id.label("last_id"),
            shown.c.kind,
            shown.c.record_id,
            shown.c.ref,
            shown.c.title,
            shown.c.score,
            _headline(shown.c.body).label("snippet"),
        )
        .select_from(matched.outerjoin(last, true()).outerjoin(shown, true()))
        .order_by(shown.c.score.desc(), shown.c.ref.desc())
    )


@cache
def beyond_statement(fuzzy: bool, kinds: bool, include_retracted: bool) -> Select[Any]:
    """Matches beyond the ranked ones, most recently changed first, after
    (`after_changed_at`, `after_document`)."""
    after = tuple_(
        bindparam("after_changed_at", type_=DateTime(timezone=True)),
        bindparam("after_document", type_=BigInteger()),
    )
    where = _where(fuzzy, kinds, include_retracted)
    where.append(tuple_(SearchDocument.changed_at, SearchDocument.id) < after)
    rows = select(*_SHOWN).where(*where).order_by(*_NEWEST_FIRST).limit(_LIMIT).subquery("beyond")
    return select(
        rows.c.id,
        rows.c.changed_at,
        rows.c.kind,
        rows.c.record_id,
        rows.c.title,
        _score(rows.c.vector, rows.c.names, fuzzy).label("score"),
        _headline(rows.c.body).label("snippet"),
    ).order_by(rows.c.changed_at.desc(), rows.c.id.desc())
