"""Keyset pagination with signed, opaque cursors.

A page is read as `WHERE (sort_key, id) > (last_sort_key, last_id) ORDER BY sort_key, id
LIMIT n + 1`: a row-value comparison that an index on (sort_key, id) answers directly, so page
1,000 costs what page 1 costs, and rows inserted while a client walks the pages never make it
see a row twice or miss one. Sort keys are non-null expressions (see `undated_last`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer
from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.kit.errors import ProblemError
from app.kit.facets import FacetGroup

T = TypeVar("T")
SortExpression = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class SortKey:
    """One sort a list endpoint allows: the SQL key in each direction and how to read the key
    back from a cursor."""

    ascending: SortExpression
    parse: Callable[[Any], Any]
    descending: SortExpression | None = None

    def expression(self, descending: bool) -> SortExpression:
        if descending and self.descending is not None:
            return self.descending
        return self.ascending


def parse_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value


def parse_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("expected an integer")
    return value


def parse_date(value: Any) -> date:
    return date.fromisoformat(parse_text(value))


def parse_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(parse_text(value))


def parse_decimal(value: Any) -> Decimal:
    return Decimal(parse_text(value))


def _to_json(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class PageInfo(BaseModel):
    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    total: int | str | None = Field(
        default=None,
        description="Only with count=true: how many records match. Counts of testimonies "
        "below the small-cell threshold read like '<5' for clients without read:restricted.",
    )

    @model_serializer(mode="wrap")
    def _total_only_when_counted(self, serialize: SerializerFunctionWrapHandler) -> Any:
        data = serialize(self)
        if self.total is None:
            data.pop("total", None)
        return data


class PageLinks(BaseModel):
    self: str
    next: str | None


class Page(BaseModel, Generic[T]):
    data: list[T]
    page: PageInfo
    links: PageLinks
    facets: dict[str, list[FacetGroup]] | None = Field(
        default=None,
        description="Only with `facet=`: for each asked field, how many matching records fall "
        "in each of its groups, under every filter but the field's own; `key` null is the "
        "group where the field is unknown.",
    )

    @model_serializer(mode="wrap")
    def _facets_only_when_asked(self, serialize: SerializerFunctionWrapHandler) -> Any:
        data = serialize(self)
        if self.facets is None:
            data.pop("facets", None)
        return data


class Cursors:
    """Seals cursors: encrypted, so that a shared link shows nothing of the rows it points
    past (a protected record's id or date), and authenticated, so that a tampered or foreign
    cursor is refused. The keystream is HMAC-SHA256 in counter mode over a random nonce;
    the tag is an HMAC over nonce and ciphertext (encrypt-then-MAC)."""

    _NONCE = 12
    _TAG = 16

    def __init__(self, secret: str) -> None:
        root = secret.encode()
        self._encryption_key = hmac.new(root, b"cursor-encryption", hashlib.sha256).digest()
        self._mac_key = hmac.new(root, b"cursor-authentication", hashlib.sha256).digest()

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        blocks = (
            hmac.new(
                self._encryption_key, nonce + counter.to_bytes(4, "big"), hashlib.sha256
            ).digest()
            for counter in range((length + 31) // 32)
        )
        return b"".join(blocks)[:length]

    def _tag(self, sealed: bytes) -> bytes:
        return hmac.new(self._mac_key, sealed, hashlib.sha256).digest()[: self._TAG]

    def encode(self, fingerprint: str, sort_value: Any, last_id: str | int) -> str:
        payload = json.dumps(
            {"f": fingerprint, "k": [_to_json(sort_value), last_id]}, separators=(",", ":")
        ).encode()
        nonce = secrets.token_bytes(self._NONCE)
        sealed = nonce + bytes(
            a ^ b for a, b in zip(payload, self._keystream(nonce, len(payload)), strict=True)
        )
        return base64.urlsafe_b64encode(sealed + self._tag(sealed)).decode().rstrip("=")

    def decode(self, cursor: str, fingerprint: str, key: SortKey) -> tuple[Any, str | int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise _invalid_cursor("it is not a cursor this API issued") from None
        sealed, tag = raw[: -self._TAG], raw[-self._TAG :]
        if len(sealed) <= self._NONCE or not hmac.compare_digest(tag, self._tag(sealed)):
            raise _invalid_cursor("it is not a cursor this API issued")
        nonce, ciphertext = sealed[: self._NONCE], sealed[self._NONCE :]
        stream = self._keystream(nonce, len(ciphertext))
        data = json.loads(bytes(a ^ b for a, b in zip(ciphertext, stream, strict=True)))
        if data.get("f") != fingerprint:
            raise _invalid_cursor(
                "it was issued for another sort, other filters or another access level"
            )
        try:
            sort_value, last_id = data["k"]
            if not isinstance(last_id, str | int) or isinstance(last_id, bool):
                raise ValueError("not an id")
            return key.parse(sort_value), last_id
        except (KeyError, TypeError, ValueError):
            raise _invalid_cursor("it is not a cursor this API issued") from None


def _invalid_cursor(reason: str) -> ProblemError:
    return ProblemError(
        400,
        "invalid-cursor",
        f"The cursor cannot be used here: {reason}. "
        "Start again without a cursor, or follow the `next` link as given.",
    )


def fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Window(Generic[T]):
    rows: list[T]
    next_cursor: str | None
    total: int | str | None = None
    facets: dict[str, list[FacetGroup]] | None = None
    # Each row's sort key, for lists that show it (a search's score).
    sort_values: list[Any] = field(default_factory=list)


async def fetch_page(
    session: AsyncSession,
    statement: Select[Any],
    *,
    id_column: InstrumentedAttribute[Any],
    key: SortKey,
    descending: bool,
    limit: int,
    cursor: str | None,
    fingerprint_fields: dict[str, Any],
    cursors: Cursors,
) -> Window[Any]:
    """Run `statement` (selecting one entity) for one page after `cursor`."""
    sort_expression = key.expression(descending)
    bound = fingerprint(fingerprint_fields)
    if cursor:  # an empty cursor is the first page, as if none were given
        last_value, last_id = cursors.decode(cursor, bound, key)
        row_key = tuple_(sort_expression, id_column)
        after = tuple_(last_value, last_id)
        statement = statement.where(row_key < after if descending else row_key > after)
    order = (
        (sort_expression.desc(), id_column.desc())
        if descending
        else (sort_expression.asc(), id_column.asc())
    )
    statement = statement.add_columns(sort_expression).order_by(*order).limit(limit + 1)
    results = (await session.execute(statement)).all()
    rows = [result[0] for result in results[:limit]]
    sort_values = [result[-1] for result in results[:limit]]
    next_cursor = None
    if len(results) > limit:
        last = results[limit - 1]
        next_cursor = cursors.encode(bound, last[-1], getattr(last[0], id_column.key))
    return Window(rows, next_cursor, sort_values=sort_values)


def page_envelope(
    request: Request, response: Response, window: Window[Any], data: list[Any], limit: int
) -> dict[str, Any]:
    """The list envelope, with the next page also in an RFC 8288 Link header."""
    self_url = str(request.url)
    next_url = None
    if window.next_cursor is not None:
        next_url = str(request.url.include_query_params(cursor=window.next_cursor))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return {
        "data": data,
        "page": {"limit": limit, "next_cursor": window.next_cursor, "total": window.total},
        "links": {"self": self_url, "next": next_url},
        "facets": window.facets,
    }
