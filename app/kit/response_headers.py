"""Headers a request decided on, put on its answer whatever kind of response the route makes
(a model, a stream, a problem)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Given what the request left in its state, adds its headers to the answer's.
HeadersFromState = Callable[[dict[str, Any], MutableHeaders], None]


class StateHeaders:
    """ASGI middleware: when the answer starts, `add` puts headers from the request's state."""

    def __init__(self, app: ASGIApp, add: HeadersFromState) -> None:
        self.app = app
        self.add = add

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.add(scope.get("state", {}), MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)
