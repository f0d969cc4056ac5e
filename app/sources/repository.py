"""Every query of the sources domain."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Integer, Select, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer
from sqlalchemy.sql.base import ExecutableOption

from app.auth.dependencies import Viewer
from app.auth.scopes import Principal
from app.changes.service import RestsOn
from app.db.base import EvidenceRecord
from app.kit.errors import ProblemError
from app.kit.facets import Facet
from app.kit.pagination import Cursors, SortKey, Window, parse_date, parse_datetime, parse_text
from app.kit.partial_dates import DatePrecision, PartialDate
from app.kit.schemas import QuoteMismatchError, RecordIn, RecordStatus
from app.organizations.models import Organization
from app.reading.listing import Records, any_of, held, one_of
from app.sources.models import Source, SourceRelay, published_ascending, published_descending
from app.sources.quotes import (
    QuotedSource,
    locator_of,
    quoting_models,
    verify_quote,
    with_locators,
)
from app.sources.quoting import Quoted
from app.sources.schemas import SourceCreate, SourceQuery
from app.sources.spans import Span, spans_of

Input = TypeVar("Input", bound=RecordIn)

SORT_KEYS = {
    "published_on": SortKey(published_ascending, parse_date, descending=published_descending),
    "title": SortKey(Source.title, parse_text),
    "id": SortKey(Source.id, parse_text),
    "updated_at": SortKey(Source.updated_at, parse_datetime),
}


def visible_sources(principal: Principal) -> ColumnElement[bool] | None:
    """Sources this client may learn exist."""
    if not principal.hidden_levels:
        return None
    return Source.protection_level.not_in(principal.hidden_levels)


RECORDS = Records(
    Source,
    "source",
    SORT_KEYS,
    loads=(
        selectinload(Source.publisher),
        selectinload(Source.relays).selectinload(Source.publisher),
        selectinload(Source.relayed_by).selectinload(Source.publisher),
    ),
    facets={
        "source_type": Facet(Source.source_type, always_known=True),
        "language": Facet(Source.language, label=str, always_known=True),
        "publisher": Facet(Source.publisher_id, named_by=Organization),
        "published_year": Facet(
            func.cast(func.extract("year", Source.published_on), Integer), label=str
        ),
    },
    visible=visible_sources,
)


async def list_sources(
    session: AsyncSession, query: SourceQuery, cursors: Cursors, principal: Principal
) -> Window[Any]:
    return await RECORDS.page(session, source_conditions, query, query.sort, cursors, principal)


def shown_sources(ids: Iterable[str], principal: Principal) -> Select[str]:
    """Those of these sources this client is shown in full: the only ones it may find
    records by."""
    return select(Source.id).where(
        Source.id.in_(list(ids)), Source.protection_level.in_(principal.full_levels)
    )


def source_conditions(query: SourceQuery, principal: Principal) -> list[ColumnElement[bool] | None]:
    conditions = [
        any_of(Source.publisher_id, query.publisher),
        any_of(Source.source_type, query.source_type),
        any_of(Source.language, query.language),
    ]
    # A partial date matches when any day it may denote is in range.
    if query.published_from is not None:
        conditions.append(Source.published_until >= query.published_from)
    if query.published_to is not None:
        conditions.append(Source.published_on <= query.published_to)
    if query.relays:
        relaying = select(SourceRelay.relaying_source_id).where(
            SourceRelay.relayed_source_id.in_(query.relays)
        )
        conditions.append(Source.id.in_(relaying))
    return conditions


async def get_source(
    session: AsyncSession, source_id: str, principal: Principal, *, fresh: bool = False
) -> Source:
    return await RECORDS.get(session, source_id, visible_sources(principal), fresh=fresh)


async def get_archived_text(
    session: AsyncSession, source_id: str, viewer: Viewer
) -> tuple[str, str, tuple[Span, ...]]:
    """A source's archived text, its SHA-256 and the spans of it that are not part of the
    document, for clients shown the source in full; 404 when there is no archived copy (or
    the client may not learn the source exists)."""
    source = await get_source(session, source_id, viewer.principal)
    if not viewer.shows_in_full(source.protection_level, f"sources/{source.id}"):
        raise ProblemError(
            403, "forbidden", "The archived text of a protected source needs read:restricted."
        )
    if not viewer.reads_archived_texts():
        raise ProblemError(403, "forbidden", viewer.archived_text_refusal())
    if source.archive_sha256 is None:
        raise ProblemError(404, "not-found", f"The source {source_id!r} has no archived text.")
    text = await session.scalar(select(Source.archived_text).where(Source.id == source_id))
    return text or "", source.archive_sha256, spans_of(source.excluded_spans)


async def sources_by_id(session: AsyncSession, ids: Iterable[str]) -> dict[str, Source]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(Source).where(one_of(Source.id, wanted)).options(selectinload(Source.publisher))
    )
    return {source.id: source for source in rows}


def source_input(row: Source) -> SourceCreate:
    """Needs `relays` and `archived_text` loaded."""
    return SourceCreate(
        id=row.id,
        title=row.title,
        title_supplied=row.title_supplied,
        publisher=row.publisher_id,
        authors=row.authors,
        source_type=row.source_type,
        published=PartialDate.from_columns(row.published_on, row.published_precision),
        url=row.url,
        language=row.language,
        accessed_on=row.accessed_on,
        archived_text=row.archived_text,
        archive_sha256=row.archive_sha256,
        excluded_spans=row.excluded_spans,
        relays=[s.id for s in row.relays],
        notes=row.notes,
        protection_level=row.protection_level,
        protection_reason=row.protection_reason,
    )


def save_source(
    session: AsyncSession, data: SourceCreate, row: Source | None, relayed: list[Source]
) -> Source:
    """`relayed` are the rows of `data.relays`, in that order."""
    row = row or Source(id=data.id)
    row.title, row.publisher_id, row.authors = data.title, data.publisher, data.authors
    row.title_supplied = data.title_supplied
    row.source_type = data.source_type
    row.published_on = data.published.first_day if data.published else None
    row.published_until = data.published.last_day if data.published else None
    row.published_precision = data.published.precision if data.published else DatePrecision.unknown
    row.url = str(data.url) if data.url else None
    row.language, row.accessed_on, row.notes = data.language, data.accessed_on, data.notes
    row.archived_text, row.archive_sha256 = data.archived_text, data.archive_sha256
    row.excluded_spans = [span.model_dump() for span in data.excluded_spans]
    row.relays = relayed
    row.protection_level, row.protection_reason = data.protection_level, data.protection_reason
    session.add(row)
    return row


async def quoted_sources(session: AsyncSession, ids: Iterable[str]) -> dict[str, QuotedSource]:
    """What quotes from these sources are checked against."""
    wanted = set(ids)
    rows = list(held(session, Source, wanted, "archived_text", "relays").values())
    missing = wanted - {row.id for row in rows}
    if missing:
        rows += await session.scalars(
            select(Source)
            .where(one_of(Source.id, missing))
            .options(undefer(Source.archived_text), selectinload(Source.relays))
        )
    return {source.id: quoted_source(source) for source in rows}


def quoted_source(source: Source) -> QuotedSource:
    """Needs `archived_text` and `relays` loaded."""
    retracted = source.status is RecordStatus.retracted
    return QuotedSource(
        source.archived_text,
        frozenset(r.id for r in source.relays),
        (source.status_reason or "retracted") if retracted else None,
        spans_of(source.excluded_spans),
    )


async def write_source(session: AsyncSession, data: SourceCreate, row: Source) -> Source:
    relayed = await sources_by_id(session, data.relays)
    saved = save_source(session, data, row, [relayed[r] for r in data.relays])
    if inspect(saved).has_identity:  # a new source: nothing quotes it yet
        await check_dependent_quotes(session, saved)
    return saved


async def check_dependent_quotes(session: AsyncSession, source: Source) -> None:
    """Every quote taken from the source must still stand in its (new) archived text, outside
    the spans it marks as not part of the document, and every passage said to report a
    relayed source must still name one of its relays.

    The error says neither the quote nor whose it is: the writer may not be allowed to read
    the record that quotes the source."""
    relays = {r.id for r in source.relays}
    excluded = spans_of(source.excluded_spans)
    for model in quoting_models():
        quotes = await session.scalars(select(model).where(model.source_id == source.id))
        for quoted in quotes:
            try:
                verify_quote(quoted.quote, locator_of(quoted), source.archived_text)
            except QuoteMismatchError:
                raise QuoteMismatchError(
                    "a quote that another record takes from this source does not stand in "
                    "the new archived text as it was located",
                    "archived_text",
                ) from None
            try:
                verify_quote(quoted.quote, locator_of(quoted), source.archived_text, excluded)
            except QuoteMismatchError:
                raise QuoteMismatchError(
                    "a quote that another record takes from this source falls in a span "
                    "marked as not part of the document",
                    "excluded_spans",
                ) from None
            if quoted.relayed_from_id is not None and quoted.relayed_from_id not in relays:
                raise QuoteMismatchError(
                    "a quote that another record takes from this source reports a source no "
                    "longer among its relays",
                    "relays",
                )


def source_patch_base(data: SourceCreate) -> dict[str, Any]:
    """A source's fields, without the digest of its text: a PATCH of the text renews it."""
    fields = data.model_dump()
    if fields["archived_text"] is not None:
        fields["archive_sha256"] = None
    return fields


async def with_found_locators(session: AsyncSession, data: Input) -> Input:
    """The input with the locators a write would find for its quotes in their sources'
    archived texts, so that a record sent without them compares equal to the one stored."""
    cited = {target for _, kind, target in data.references() if kind == "sources"}
    if not cited:
        return data
    try:
        return with_locators(data, await quoted_sources(session, cited))
    except QuoteMismatchError:
        return data  # the write names it


def quotes_resting_on_sources(
    model: type[EvidenceRecord],
    quote_model: type[Quoted],
    owner: Any,
    quotes: Any,
    loads: tuple[ExecutableOption, ...],
) -> RestsOn:
    """Records whose quotes (`quote_model`, naming their record by `owner`, reached by the
    relationship `quotes`) come from, or report, a source: each quote of a retracted source
    loses its support."""

    def resting(source_id: str) -> Select[Any]:
        cites = (quote_model.source_id == source_id) | (quote_model.relayed_from_id == source_id)
        return (
            select(model)
            .options(*loads)
            .where(model.id.in_(select(owner).where(cites)))
            .with_for_update(of=model)
        )

    def unsupport(record: Any, source_id: str, why: str) -> None:
        for quote in getattr(record, quotes.key):
            if source_id in quote.quoted_ids():
                quote.status, quote.status_reason = RecordStatus.unsupported, why

    return RestsOn("sources", resting, unsupport)
