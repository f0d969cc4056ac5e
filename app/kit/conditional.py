"""ETags and conditional requests.

A record's ETag names its version, the view the client is shown of it (the access tier) and a
digest of that view's stored content: a coarsened copy and a full copy of one version are
different representations, so a cache holding the anonymous copy never revalidates it for a
client entitled to more; and a view rendered again because of another record (its publisher's
new name, a count over its group) is a new representation of the same version.
"""

from __future__ import annotations

import hashlib

from fastapi import Request, Response


class NotModifiedError(Exception):
    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def etag_of(version: int, view: str, content: str) -> str:
    digest = hashlib.blake2b(content.encode(), digest_size=6).hexdigest()
    return f'"{version}-{view}-{digest}"'


def version_tag(version: int, view: str) -> str:
    """The ETag without its digest: what a writer sends as If-Match to name the version it
    changes, however its view was rendered since (see `app.changes.service.check_version`)."""
    return f'"{version}-{view}"'


def any_version(header: str) -> bool:
    """Whether a precondition header is `*`: whatever representation is current."""
    return "*" in {t.strip() for t in header.split(",")}


def matches(header: str | None, tag: str, *, strong: bool) -> bool:
    """Whether a list of entity tags names `tag`. Strong comparison (If-Match, RFC 9110
    13.1.1) never matches a weak tag; weak comparison (If-None-Match) ignores `W/`."""
    if header is None:
        return False
    tags = {t.strip() for t in header.split(",")}
    if not strong:
        tags = {t.removeprefix("W/") for t in tags}
    return any_version(header) or tag in tags


def conditional_get(request: Request, response: Response, tag: str) -> None:
    """Set the ETag; a 304 when If-None-Match already names it. The body differs with the
    client's access level, hence Vary."""
    response.headers["ETag"] = tag
    response.headers["Vary"] = "Authorization"
    if matches(request.headers.get("if-none-match"), tag, strong=False):
        raise NotModifiedError(tag)
