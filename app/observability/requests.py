"""Every request gets an id, a log line and its place in the metrics.

The id is the client's `X-Request-ID` when that is a sane token (at most 128 characters of
letters, digits and `-_.:+/=`), a new uuid4 otherwise; it is on every answer, errors
included, and on every log record written while the request runs. The log line names the
route template, never the path or query string: ids and search terms stay out of the logs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.metrics import observe_request

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:+/=]{1,128}")
UNMATCHED = "unmatched"

access_logger = logging.getLogger("testimony.access")
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_from(headers: Headers) -> str:
    offered = headers.get(REQUEST_ID_HEADER, "")
    return offered if SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (`/v1/claims/{claim_id}`), a mount's path with
    `{path}`, or `unmatched`: a label that a client cannot multiply by inventing paths."""
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str):
        return template
    mounted = str(scope.get("root_path", root_path))
    if "endpoint" in scope and mounted != root_path:
        return mounted.removeprefix(root_path) + "/{path}"
    return UNMATCHED


class ObservedRequests:
    """ASGI middleware, outermost: assigns the request id, and when the answer is over writes
    its log line and records its metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]  # before HEAD is answered as GET further in
        root_path = scope.get("root_path", "")
        rid = request_id_from(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id.set(rid)
        status = 500  # no answer started: an error escaped, which the server answers so

        async def identified_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, identified_send)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope, root_path)
            observe_request(method, route, status, seconds)
            access_logger.info(
                "%s %s %s %.1f ms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "key_id": scope["state"].get("key_id"),
                },
            )
        # Not reached when an error escapes: the id stays on the server's log of it.
        request_id.reset(token)
