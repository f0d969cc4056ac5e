"""ETags and conditional requests.

A record's ETag names its version and the view the client is shown of it (the access tier):
a coarsened copy and a full copy of one version are different representations, so a cache
holding the anonymous copy never revalidates it for a client entitled to more.
"""

from __future__ import annotations

from fastapi import Request, Response


class NotModifiedError(Exception):
    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def etag_of(version: int, view: str) -> str:
    return f'"{version}-{view}"'


def matches(header: str | None, tag: str, *, strong: bool) -> bool:
    """Whether a list of entity tags names `tag`. Strong comparison (If-Match, RFC 9110
    13.1.1) never matches a weak tag; weak comparison (If-None-Match) ignores `W/`."""
    if header is None:
        return False
    tags = {t.strip() for t in header.split(",")}
    if not strong:
        tags = {t.removeprefix("W/") for t in tags}
    return "*" in tags or tag in tags


def conditional_get(request: Request, response: Response, version: int, view: str) -> None:
    """Set the ETag; a 304 when If-None-Match already names it. The body differs with the
    client's access level, hence Vary."""
    tag = etag_of(version, view)
    response.headers["ETag"] = tag
    response.headers["Vary"] = "Authorization"
    if matches(request.headers.get("if-none-match"), tag, strong=False):
        raise NotModifiedError(tag)
