"""The requests being answered, so that stopping waits for them.

On SIGTERM the server lets requests in flight finish for GRACEFUL_SHUTDOWN_SECONDS, then
cancels those still running. A cancelled request rolls its transaction back (see
app.db.engine.get_session) and, when its answer had not started, answers 503 with Retry-After
rather than the server's bare 500. The app's shutdown waits for them to get that far before
it closes its database connections.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

import anyio
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.errors import PROBLEM_BASE, PROBLEM_JSON, RETRY_AFTER_SECONDS, Problem


class InFlight:
    """How many requests are being answered."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drained(self, seconds: float) -> bool:
        """Wait until no request is being answered, for at most `seconds`."""
        with anyio.move_on_after(seconds):
            await self._idle.wait()
            return True
        return False


class RequestsInFlight:
    """ASGI middleware: counts the requests in `in_flight`, and answers a request cancelled
    before its answer started (the server is stopping) with a 503 problem."""

    def __init__(self, app: ASGIApp, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self.in_flight.enter()
        try:
            await self.app(scope, receive, watching_send)
        except asyncio.CancelledError:
            if not started:
                await _stopped(scope, receive, send)
            raise
        finally:
            self.in_flight.leave()


async def _stopped(scope: Scope, receive: Receive, send: Send) -> None:
    body = Problem(
        type=PROBLEM_BASE + "shutting-down",
        title=HTTPStatus(503).phrase,
        status=503,
        detail=f"The server stopped before it could answer; retry in {RETRY_AFTER_SECONDS} "
        "seconds.",
        instance=scope.get("path"),
    )
    response = JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"},
    )
    await response(scope, receive, send)
