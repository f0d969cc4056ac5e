"""HEAD on every GET route, answered once for all of them.

A HEAD request is routed as the GET of the same URL and answered with that GET's status and
headers, and no body (RFC 9110 9.3.2). The OpenAPI document keeps listing GET only. A streamed
body (an export) is not made past its first part: the app is stopped there.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware that answers HEAD as GET without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # In place: whatever wraps this sees what routing found (the route template).
        scope["method"] = "GET"
        ended = False
        with anyio.CancelScope() as answering:

            async def headers_only(message: Message) -> None:
                nonlocal ended
                if message["type"] != "http.response.body":
                    await send(message)
                    return
                if ended:
                    return
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                if message.get("more_body", False):
                    answering.cancel()  # the rest would not be sent either

            await self.app(scope, receive, headers_only)
