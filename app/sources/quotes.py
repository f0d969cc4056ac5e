"""Quotes must stand verbatim in their source's archived text, at their locator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

from app.kit.schemas import Locator, QuoteIn, QuoteMismatchError, rests_on_retracted
from app.sources.quoting import Quoted
from app.sources.spans import Span, overlapping

Quoting = TypeVar("Quoting", bound=type[Quoted])

# The mapped models whose rows quote sources. Each kind declares its own where it maps them
# (`quotes_sources`): sources lie below the kinds that quote them and cannot name them.
_QUOTING: list[type[Quoted]] = []


def quotes_sources(model: Quoting) -> Quoting:
    """Declares that the rows of `model` quote sources: a source's new text, spans and relays
    are checked against them (`app.sources.repository.check_dependent_quotes`)."""
    _QUOTING.append(model)
    return model


def quoting_models() -> tuple[type[Quoted], ...]:
    """The models declared by `quotes_sources`, by name: one order, whichever kind was
    imported first."""
    return tuple(sorted(_QUOTING, key=lambda model: model.__name__))


def verify_quote(
    quote: str,
    locator: Locator | None,
    archived_text: str | None,
    excluded: Sequence[Span] = (),
) -> Locator | None:
    """The locator of `quote` in `archived_text`, checked, or found when not given.

    Without an archived text nothing can be checked and the locator is kept as given. A
    quote that occurs more than once needs an explicit locator. A quote may not be taken from
    a span the source marks as not part of the document (`excluded`): found without a
    locator, such an occurrence does not count.
    """
    if archived_text is None:
        return locator
    if locator is not None:
        found = archived_text[locator.char_start : locator.char_end]
        if found != quote:
            raise QuoteMismatchError(
                f"the text at {locator.char_start}-{locator.char_end} is {found[:60]!r}, "
                f"not the quote {quote[:60]!r}"
            )
        _outside(quote, locator.char_start, locator.char_end, excluded)
        return locator
    starts, start = [], archived_text.find(quote)
    while start >= 0:
        starts.append(start)
        start = archived_text.find(quote, start + 1)
    if not starts:
        raise QuoteMismatchError(f"the quote {quote[:60]!r} is not in the source's archived text")
    kept = [s for s in starts if overlapping(excluded, s, s + len(quote)) is None]
    if not kept:
        _outside(quote, starts[0], starts[0] + len(quote), excluded)
    if len(kept) > 1:
        raise QuoteMismatchError(f"the quote {quote[:60]!r} occurs twice or more; give its locator")
    return Locator(char_start=kept[0], char_end=kept[0] + len(quote))


def _outside(quote: str, start: int, end: int, excluded: Sequence[Span]) -> None:
    span = overlapping(excluded, start, end)
    if span is not None:
        raise QuoteMismatchError(
            f"the quote {quote[:60]!r} at {start}-{end} falls in the span {span[0]}-{span[1]}, "
            "which the source marks as not part of the document"
        )


class QuotedSource(NamedTuple):
    """What a quote is checked against: its source's archived text and relays, why the source
    was retracted, if it was, and the spans of its text that are not part of the document."""

    archived_text: str | None
    relays: frozenset[str]
    retraction: str | None = None
    excluded: tuple[Span, ...] = ()


SOURCE_RETRACTED = "Rests on the retracted source"


def support(quote: QuoteIn, sources: Mapping[str, QuotedSource]) -> str | None:
    """Why a quote is unsupported (its source, or the source it reports, is retracted), or
    None when it stands."""
    for source_id in (quote.source, quote.relayed_from):
        source = sources.get(source_id) if source_id else None
        if source is not None and source.retraction is not None:
            return rests_on_retracted("source", source_id or "", source.retraction)
    return None


def quote_columns(
    data: QuoteIn, sources: Mapping[str, QuotedSource], field: str = ""
) -> dict[str, Any]:
    """Columns of a `Quoted` row, checked against the source it quotes. `field` is where the
    quote stands in its record's input (`excerpts.2.`), for error messages."""
    source = sources.get(data.source, QuotedSource(None, frozenset()))
    try:
        locator = verify_quote(data.quote, data.locator, source.archived_text, source.excluded)
    except QuoteMismatchError as error:
        raise QuoteMismatchError(str(error), f"{field}quote") from None
    if data.relayed_from is not None and data.relayed_from not in source.relays:
        raise QuoteMismatchError(
            f"relayed_from {data.relayed_from!r} is not among the relays of {data.source!r}",
            f"{field}relayed_from",
        )
    return {
        "source_id": data.source,
        "quote": data.quote,
        "char_start": locator.char_start if locator else None,
        "char_end": locator.char_end if locator else None,
        "relayed_from_id": data.relayed_from,
    }


def quote_input(row: Quoted) -> QuoteIn:
    return QuoteIn(
        source=row.source_id,
        quote=row.quote,
        locator=locator_of(row),
        relayed_from=row.relayed_from_id,
    )


def locator_json(row: Quoted) -> dict[str, int] | None:
    """The quote's locator, as its `Locator` serialises."""
    if row.char_start is None or row.char_end is None:
        return None
    return {"char_start": row.char_start, "char_end": row.char_end}


def locator_of(row: Quoted) -> Locator | None:
    if row.char_start is None or row.char_end is None:
        return None
    return Locator(char_start=row.char_start, char_end=row.char_end)


Located = TypeVar("Located", bound=BaseModel)


def with_locators(record: Located, sources: Mapping[str, QuotedSource]) -> Located:
    """The record with every quote's locator filled in from its source's archived text, so
    that a record sent without locators compares equal to the one stored with them."""
    updates: dict[str, Any] = {}
    for name in type(record).model_fields:
        value = getattr(record, name)
        if isinstance(value, list) and value and isinstance(value[0], QuoteIn):
            updates[name] = [with_locators(quote, sources) for quote in value]
    quote, source = getattr(record, "quote", None), getattr(record, "source", None)
    if isinstance(quote, str) and isinstance(source, str) and record.locator is None:  # type: ignore[attr-defined]
        quoted = sources.get(source, QuotedSource(None, frozenset()))
        updates["locator"] = verify_quote(quote, None, quoted.archived_text, quoted.excluded)
    return record.model_copy(update=updates) if updates else record
