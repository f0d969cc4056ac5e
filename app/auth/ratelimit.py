"""Request rate limits per API key and per anonymous client address (the `limits` library).

Every answer carries the two header fields of the IETF draft (draft-ietf-httpapi-ratelimit-
headers), as structured fields: `RateLimit-Policy: "anonymous";q=120;w=60` names the policy
that applies, its quota and window in seconds; `RateLimit: "anonymous";r=117;t=42` what is
left of the quota and the seconds until it is whole again. A client over its limit gets a 429
problem with Retry-After. Counters live in the storage named by RATE_LIMIT_STORAGE: memory (per
process) by default, or a shared store such as Redis for several workers and machines.

While the storage cannot be reached, requests are let through without a limit (fail open)
and a warning is logged: an outage of the counters should not become an outage of the API.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import anyio
from fastapi import Request
from limits import RateLimitItem, WindowStats, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.datastructures import MutableHeaders

from app.auth.scopes import Principal
from app.kit.errors import ProblemError
from app.settings import Settings

logger = logging.getLogger(__name__)

# Seconds one request waits for the counters; past it the storage counts as unreachable.
STORAGE_TIMEOUT = 1.0
# Seconds requests go unlimited after the storage failed, before it is tried again: a storage
# that is down costs one timeout per interval, not one per request.
STORAGE_RETRY_SECONDS = 5.0


def async_storage_uri(uri: str) -> str:
    """The asyncio variant of a `limits` storage URI: the limiter awaits its storage, and
    `redis://` names the synchronous client."""
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._storage_uri = async_storage_uri(settings.rate_limit_storage)
        storage = storage_from_string(self._storage_uri, wrap_exceptions=True)
        self._limiter = MovingWindowRateLimiter(storage)
        self._anonymous = parse(settings.rate_limit_anonymous)
        self._keyed = parse(settings.rate_limit_key)
        self._unreachable_until = 0.0

    def _policy_for(self, principal: Principal) -> tuple[str, RateLimitItem]:
        return ("key", self._keyed) if principal.key_id else ("anonymous", self._anonymous)

    async def _count(self, limit: RateLimitItem, identity: str) -> tuple[bool, WindowStats] | None:
        """Count the hit: whether it is allowed and the window after it, or None while the
        storage is unreachable."""
        if time.monotonic() < self._unreachable_until:
            return None
        try:
            with anyio.fail_after(STORAGE_TIMEOUT):
                allowed = await self._limiter.hit(limit, identity)
                return allowed, await self._limiter.get_window_stats(limit, identity)
        except (StorageError, TimeoutError) as error:
            self._unreachable_until = time.monotonic() + STORAGE_RETRY_SECONDS
            logger.warning(
                "rate limits not enforced for %.0f s: the counters at %s cannot be reached (%s)",
                STORAGE_RETRY_SECONDS,
                self._storage_uri.split("@")[-1],  # no password in the log
                getattr(error, "storage_error", error) or type(error).__name__,
            )
            return None

    async def check(self, principal: Principal, request: Request) -> None:
        # Logged with the request (app.observability.requests): who asked, never the key.
        request.state.key_id = principal.key_id
        policy, limit = self._policy_for(principal)
        counted = await self._count(limit, principal.rate_limit_identity)
        if counted is None:
            return
        allowed, stats = counted
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
        # Added to the answer by `rate_limit_headers`, whatever kind of response the route makes.
        request.state.rate_limit_headers = headers


def rate_limit_headers(state: dict[str, Any], headers: MutableHeaders) -> None:
    """The request's rate-limit headers, for `StateHeaders`."""
    for name, value in state.get("rate_limit_headers", {}).items():
        headers[name] = value
