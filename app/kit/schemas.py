"""Building blocks shared by the domain schemas."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SLUG = re.compile(SLUG_PATTERN)


def is_slug(value: str) -> bool:
    return len(value) <= 120 and _SLUG.match(value) is not None


Slug = Annotated[
    str,
    StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=120),
    Field(
        description="Stable, URL-safe identifier: lower-case letters, digits and single hyphens. "
        "It is part of the record's permalink and never changes.",
        examples=["kcna-orphans-volunteer-2021-05"],
    ),
]

NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RecordStatus(StrEnum):
    active = "active"
    retracted = "retracted"
    unsupported = "unsupported"


# What PostgreSQL cannot hold in a text or JSON value: NUL, and (not being characters at all)
# lone UTF-16 surrogates, which a JSON `\ud800` escape yields.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """Why the database cannot store this text, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character"
    return f"contains a lone surrogate (U+{ord(found.group()):04X}), which is not a character"


def _unstorable_in(value: Any) -> str | None:
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            problem = _unstorable_in(item)
            if problem:
                return problem if isinstance(value, set | frozenset) else f"item {i} {problem}"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _unstorable_in(key) or _unstorable_in(item)
            if problem:
                return f"{key!r}: {problem}"
    # Nested models check their own fields; other values (numbers, URLs, dates) hold no text
    # of their own.
    return None


class StrictModel(BaseModel):
    """Input models reject unknown fields so a typo never silently drops data, and text the
    database cannot store (a 422 naming the field, rather than an error from the database)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = _unstorable_in(value)
        if problem:
            raise PydanticCustomError("unstorable_text", problem)
        return value


# (field, kind of record as its plural, id): a link from one record's input to another.
Reference = tuple[str, str, str]
SINGULAR = {
    "organizations": "organization",
    "sources": "source",
    "facilities": "facility",
    "testimonies": "testimony",
    "claims": "claim",
}
PLURAL = {singular: plural for plural, singular in SINGULAR.items()}


class RecordIn(StrictModel):
    """Input of a record with a public id."""

    id: Slug

    def references(self) -> list[Reference]:
        """The records this one links to, each of which must exist."""
        return []


class Locator(StrictModel):
    """Where a quote stands in its source's archived text.

    Offsets count Unicode code points; the end is exclusive.
    """

    char_start: int = Field(ge=0, description="Offset of the quote's first character.")
    char_end: int = Field(gt=0, description="Offset just past the quote's last character.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.char_end <= self.char_start:
            raise ValueError("char_end must be greater than char_start")
        return self


class QuoteIn(StrictModel):
    """A verbatim quote from a source, with where it stands."""

    source: Slug
    quote: NonEmptyText = Field(description="The words exactly as the source prints them.")
    locator: Locator | None = None
    relayed_from: Slug | None = Field(
        default=None,
        description="The relayed source whose statement this passage reports; one of the "
        "source's `relays` (the KCNA report a BBC sentence quotes).",
    )


class CiteAs(BaseModel):
    """How to cite this record of the database."""

    permalink: str = Field(description="Stable URL of the record.")
    text: str = Field(description="Plain-text citation, with the access date.")
    accessed: date


def enum_value(member: StrEnum | None) -> str | None:
    """An enum member as JSON: its value (serialising a member itself costs more)."""
    return None if member is None else member.value


class RecordRef(BaseModel):
    """A link to another record: its id and a human-readable name."""

    id: str
    name: str


class PeriodOut(BaseModel):
    """When the events happened, each end as precisely as it is known."""

    start: str | None = Field(description="ISO 8601 date of reduced precision, or null.")
    end: str | None = Field(description="ISO 8601 date of reduced precision, or null.")


def quote_references(field: str, quotes: Sequence[QuoteIn]) -> list[Reference]:
    links: list[Reference] = []
    for i, quote in enumerate(quotes):
        links.append((f"{field}.{i}.source", "sources", quote.source))
        if quote.relayed_from:
            links.append((f"{field}.{i}.relayed_from", "sources", quote.relayed_from))
    return links


class RecordState(BaseModel):
    """Where a record stands: its version (the ETag) and whether it still holds.

    A retracted record keeps answering at its permalink, with the reason and date, so old
    citations resolve; an unsupported claim or excerpt rests on a retracted record.
    """

    status: RecordStatus
    reason: str | None
    changed_at: datetime | None
    version: int


class QuoteMismatchError(ValueError):
    """A quote that does not stand in its source as given; `field` names it in the input."""

    def __init__(self, message: str, field: str = "quote") -> None:
        super().__init__(message)
        self.field = field


def rests_on_retracted(kind: str, record_id: str, reason: str) -> str:
    """Why a claim or excerpt is unsupported."""
    return f"Rests on the retracted {kind} {record_id!r}: {reason}"
