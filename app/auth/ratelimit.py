"""Request rate limits per API key and per anonymous client address (the `limits` library).

Every answer carries the two header fields of the IETF draft (draft-ietf-httpapi-ratelimit-
headers), as structured fields: `RateLimit-Policy: "anonymous";q=120;w=60` names the policy
that applies, its quota and window in seconds; `RateLimit: "anonymous";r=117;t=42` what is
left of the quota and the seconds until it is whole again. A client over its limit gets a 429
problem with Retry-After. Counters live in the storage named by RATE_LIMIT_STORAGE: memory (per
process) by default, or a shared store such as Redis for several workers.
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.scopes import Principal
from app.kit.errors import ProblemError
from app.settings import Settings


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        storage = storage_from_string(settings.rate_limit_storage)
        self._limiter = MovingWindowRateLimiter(storage)
        self._anonymous = parse(settings.rate_limit_anonymous)
        self._keyed = parse(settings.rate_limit_key)

    def _policy_for(self, principal: Principal) -> tuple[str, RateLimitItem]:
        return ("key", self._keyed) if principal.key_id else ("anonymous", self._anonymous)

    async def check(self, principal: Principal, request: Request) -> None:
        # Logged with the request (app.observability.requests): who asked, never the key.
        request.state.key_id = principal.key_id
        policy, limit = self._policy_for(principal)
        identity = principal.rate_limit_identity
        allowed = await self._limiter.hit(limit, identity)
        stats = await self._limiter.get_window_stats(limit, identity)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        headers = {
            "RateLimit-Policy": f'"{policy}";q={limit.amount};w={limit.get_expiry()}',
            "RateLimit": f'"{policy}";r={stats.remaining};t={reset}',
        }
        if not allowed:
            raise ProblemError(
                429,
                "rate-limited",
                f"More than {limit.amount} requests in {limit.get_expiry()} seconds; "
                f"retry in {max(reset, 1)} seconds.",
                headers=headers | {"Retry-After": str(max(reset, 1))},
            )
        # Added to the answer by RateLimitHeaders, whatever kind of response the route makes.
        request.state.rate_limit_headers = headers


class RateLimitHeaders:
    """ASGI middleware that puts a request's rate-limit headers on its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get("rate_limit_headers")
                if extra:
                    headers = MutableHeaders(scope=message)
                    for name, value in extra.items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
