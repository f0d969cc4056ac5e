"""ETags and conditional GET: a record's ETag is its version."""

from __future__ import annotations

from fastapi import Request, Response


class NotModifiedError(Exception):
    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def etag_of(version: int) -> str:
    return f'"{version}"'


def matches(header: str | None, tag: str) -> bool:
    if header is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or tag in tags


def conditional_get(request: Request, response: Response, version: int) -> None:
    """Set the ETag; a 304 when If-None-Match already names it. The body differs with the
    client's access level, hence Vary."""
    tag = etag_of(version)
    response.headers["ETag"] = tag
    response.headers["Vary"] = "Authorization"
    if matches(request.headers.get("if-none-match"), tag):
        raise NotModifiedError(tag)
