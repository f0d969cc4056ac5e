"""Limits on what a request may be, each answered as a problem document before routing.

A URL over `MAX_URL_BYTES` is a 414, headers over `MAX_HEADER_BYTES` together a 431, a body over
the body limit a 413 and a JSON document nested deeper than `MAX_JSON_DEPTH` a 422: a request
that can never succeed is told so, and never reaches the parser or the database. Routes that
stream and limit their own bodies (the NDJSON import) are left to do so.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from itertools import accumulate
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.errors import FieldError, ProblemError, problem_response

MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_JSON_DEPTH = 32
# How `testimony serve` runs uvicorn. h11 buffers at most SERVER_MAX_HEAD_BYTES of a request
# line and headers (httptools buffers headers without bound) before it refuses the request
# itself, with a plain-text 400, and closes; that is well above the limits here, so that an
# over-long URL or over-large headers get this app's 414 or 431 problem document.
SERVER_MAX_HEAD_BYTES = 64 * 1024
SERVER_OPTIONS: dict[str, Any] = {
    "http": "h11",
    "h11_max_incomplete_event_size": SERVER_MAX_HEAD_BYTES,
}

# A JSON string, escapes and all: brackets inside strings are not nesting.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [0] * 256
for _opening, _closing in (b"[]", b"{}"):
    _STEP[_opening], _STEP[_closing] = 1, -1


def too_deep(document: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON document nests arrays and objects deeper than `limit`, found without
    parsing it (the parser recurses once per level), at the speed of a byte scan."""
    if isinstance(document, str):
        document = document.encode("utf-8", errors="surrogatepass")
    brackets = _STRING.sub(b"", document).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def too_deep_message(limit: int = MAX_JSON_DEPTH) -> str:
    return f"nested deeper than {limit} levels of arrays and objects"


def _is_json(content_type: str | None) -> bool:
    """The media types FastAPI parses as JSON."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    main, _, subtype = media_type.partition("/")
    return main == "application" and (subtype == "json" or subtype.endswith("+json"))


class RequestLimits:
    """ASGI middleware: refuse an over-long URL, over-large headers or body, or a JSON body
    nested too deep, with a problem document.

    The body of every other route is read here, up to the limit, and handed on as read; a
    route in `self_limited` reads and limits its own.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, self_limited: Collection[str] = ()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.self_limited = frozenset(self_limited)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await _answer(scope, receive, send, refusal)
            return
        headers = Headers(scope=scope)
        if scope["path"] in self.self_limited or not _has_body(headers):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _answer(scope, receive, send, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _answer(scope, receive, send, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _is_json(headers.get("content-type")) and too_deep(body):
            await _answer(scope, receive, send, _too_deep_body())
            return
        await self.app(scope, _replay(body, receive), send)

    def _refusal(self, scope: Scope) -> ProblemError | None:
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        if len(path) + (len(query) + 1 if query else 0) > MAX_URL_BYTES:
            return ProblemError(
                414,
                "uri-too-long",
                f"The URL is longer than {MAX_URL_BYTES} bytes; send fewer or shorter parameters.",
            )
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > MAX_HEADER_BYTES:
            return ProblemError(
                431,
                "headers-too-large",
                f"The request's headers are larger than {MAX_HEADER_BYTES} bytes together.",
            )
        return None

    def _too_large(self) -> ProblemError:
        return ProblemError(
            413, "too-large", f"A request body may be at most {self.max_body_bytes} bytes."
        )


def _too_deep_body() -> ProblemError:
    return ProblemError(
        422,
        "too-deep",
        f"The JSON body is {too_deep_message()}.",
        errors=[FieldError(location="body", name="body", message=too_deep_message())],
    )


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands on the body already read, then whatever comes next (a
    disconnect, which streamed answers listen for)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _answer(scope: Scope, receive: Receive, send: Send, error: ProblemError) -> None:
    # The instance names the path, cut short: an over-long one is not echoed back whole.
    path = scope["path"] if len(scope["path"]) <= 200 else scope["path"][:200] + "…"
    request = Request({**scope, "path": path, "query_string": b""})
    await problem_response(request, error)(scope, receive, send)
