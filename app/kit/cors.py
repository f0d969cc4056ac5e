"""Cross-origin reads from browsers (CORS_ORIGINS, CORS_METHODS).

By default any page may read (GET, HEAD) with or without a key; the key is sent as a bearer
header, never as a cookie, so no credentials mode is needed. Writes are not opened to other
origins unless CORS_METHODS lists them.
"""

from __future__ import annotations

from typing import Any

# Request headers a page may send beyond the CORS-safelisted ones.
ALLOWED_HEADERS = ["Authorization", "If-None-Match", "If-Match", "Idempotency-Key", "X-Request-ID"]
# Response headers a page may read.
EXPOSED_HEADERS = [
    "ETag",
    "Link",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "X-Request-ID",
    "Content-Disposition",
]
PREFLIGHT_MAX_AGE = 600


def _listed(setting: str) -> list[str]:
    return [item.strip() for item in setting.split(",") if item.strip()]


def cors_options(origins: str, methods: str) -> dict[str, Any]:
    """Keyword arguments of Starlette's CORSMiddleware."""
    return {
        "allow_origins": _listed(origins),
        "allow_methods": [method.upper() for method in _listed(methods)],
        "allow_headers": ALLOWED_HEADERS,
        "expose_headers": EXPOSED_HEADERS,
        "allow_credentials": False,
        "max_age": PREFLIGHT_MAX_AGE,
    }
