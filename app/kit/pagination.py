"""Keyset pagination with sealed, opaque cursors.

A page is read as `WHERE (sort_key, id) > (last_sort_key, last_id) ORDER BY sort_key, id
LIMIT n + 1`: a row-value comparison that an index on (sort_key, id) answers directly, so page
1,000 costs what page 1 costs, and rows inserted while a client walks the pages never make it
see a row twice or miss one. Sort keys are non-null expressions (see `undated_last`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Request, Response
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer
from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.kit.errors import ProblemError
from app.kit.facets import FacetGroup

T = TypeVar("T")
P = TypeVar("P")
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

    def position(self, sort_value: Any, last_id: str | int) -> tuple[Any, str | int]:
        """A cursor's sort value and id read back."""
        return self.parse(sort_value), last_id


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
    """Seals cursors with AES-GCM: encrypted, so that a shared link shows nothing of the rows it
    points past (a protected record's id or date), and authenticated, so that a tampered or
    foreign cursor is refused.

    A cursor is the URL-safe base64, unpadded, of a random 96-bit nonce followed by the
    ciphertext and its 128-bit tag. The plaintext holds the fingerprint of what the cursor was
    issued for (sort, filters, access tier) and the last row's sort key and id. Each secret gives
    its AES-256 key through HKDF-SHA256. The first secret seals; every one opens, so that a
    secret can be replaced while clients still hold cursors sealed with the one before.
    """

    _NONCE = 12
    _TAG = 16
    _INFO = b"testimony-api pagination cursor v1"
    _ALPHABET = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, secret: str, *previous: str) -> None:
        self._keys = [AESGCM(_derive_key(value, self._INFO)) for value in (secret, *previous)]

    def encode(self, fingerprint: str, sort_value: Any, last_id: str | int) -> str:
        payload = json.dumps(
            {"f": fingerprint, "k": [_to_json(sort_value), last_id]}, separators=(",", ":")
        ).encode()
        nonce = os.urandom(self._NONCE)
        return _base64(nonce + self._keys[0].encrypt(nonce, payload, None))

    def decode(self, cursor: str, fingerprint: str, parse: Callable[[Any, str | int], P]) -> P:
        """The position a cursor holds, read back by `parse` from its sort value and id (a
        ValueError from it means the cursor is not one this list issued)."""
        data = self._open(cursor)
        if data is None:
            raise _invalid_cursor("it is not a cursor this API issued")
        if data.get("f") != fingerprint:
            raise _invalid_cursor(
                "it was issued for another sort, other filters or another access level"
            )
        try:
            sort_value, last_id = data["k"]
            if not isinstance(last_id, str | int) or isinstance(last_id, bool):
                raise ValueError("not an id")
            return parse(sort_value, last_id)
        except (KeyError, TypeError, ValueError):
            raise _invalid_cursor("it is not a cursor this API issued") from None

    def _open(self, cursor: str) -> dict[str, Any] | None:
        """The cursor's content, or None when no secret opens it."""
        if not self._ALPHABET.fullmatch(cursor):
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            return None
        # One spelling per cursor: unused low bits of the last character must be zero.
        if len(raw) <= self._NONCE + self._TAG or _base64(raw) != cursor:
            return None
        nonce, sealed = raw[: self._NONCE], raw[self._NONCE :]
        for aes in self._keys:
            try:
                payload = aes.decrypt(nonce, sealed, None)
            except InvalidTag:
                continue
            try:
                data = json.loads(payload)
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
        return None


def _derive_key(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def _base64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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


def in_order(
    statement: Select[Any],
    *,
    id_column: InstrumentedAttribute[Any],
    key: SortKey,
    descending: bool,
    cursor: str | None,
    fingerprint_fields: dict[str, Any],
    cursors: Cursors,
) -> Select[Any]:
    """`statement` in the list's order from after `cursor`, its sort key and id added as its
    last two columns: the rows its pages are cut from."""
    sort_expression = key.expression(descending)
    if cursor:  # an empty cursor is the first page, as if none were given
        bound = fingerprint(fingerprint_fields)
        last_value, last_id = cursors.decode(cursor, bound, key.position)
        row_key = tuple_(sort_expression, id_column)
        after = tuple_(last_value, last_id)
        statement = statement.where(row_key < after if descending else row_key > after)
    order = (
        (sort_expression.desc(), id_column.desc())
        if descending
        else (sort_expression.asc(), id_column.asc())
    )
    return statement.add_columns(sort_expression, id_column).order_by(*order)


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
    """Run `statement` (selecting one entity, or columns) for one page after `cursor`."""
    width = len(statement.column_descriptions)
    statement = in_order(
        statement,
        id_column=id_column,
        key=key,
        descending=descending,
        cursor=cursor,
        fingerprint_fields=fingerprint_fields,
        cursors=cursors,
    )
    results = (await session.execute(statement.limit(limit + 1))).all()
    # One entity selected: its objects; several columns: the rows themselves.
    rows = [result[0] if width == 1 else result for result in results[:limit]]
    sort_values = [result[-2] for result in results[:limit]]
    next_cursor = None
    if len(results) > limit:
        last = results[limit - 1]
        next_cursor = cursors.encode(fingerprint(fingerprint_fields), last[-2], last[-1])
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
