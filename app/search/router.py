from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.db.engine import SessionDep
from app.kit.citing import Citer
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.pagination import Window, fingerprint
from app.kit.schemas import PLURAL, SINGULAR
from app.search.query import Found, Search, SearchTerms, position_of
from app.search.schemas import SearchPage, SearchQuery
from app.views.serving import page_response

router = APIRouter(prefix="/v1", tags=["search"])


@dataclass(slots=True)
class _Shown:
    """One result as its JSON (the fields of `SearchResult`, in its order)."""

    json: str

    @classmethod
    def of(cls, found: Found, citer: Citer) -> _Shown:
        result = {
            "type": SINGULAR[found.kind],
            "id": found.record_id,
            "title": found.title,
            "snippet": found.snippet,
            "score": float(found.score),
            "url": citer.permalink(found.kind, found.record_id),
        }
        return cls(json.dumps(result, ensure_ascii=False, separators=(",", ":")))


@router.get(
    "/search",
    operation_id="search",
    summary="Search every kind of record",
    **access(None),
    response_model=SearchPage,
    responses=problem_responses(400, 422),
)
async def search(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[SearchQuery, Query()],
) -> Response:
    """Every type of record at once, best matches first, with highlighted snippets.

    Full-text search (English stemming, web-search syntax) over what this client is shown of
    each record, and names across romanisations and small typos. The most recently changed
    matches, up to a bound, are ranked by relevance; when more match, the rest follow them,
    most recently changed first.
    """
    tier = viewer.principal.tier
    bound = fingerprint(query.fingerprint_fields() | {"tier": tier})
    after = None
    if query.cursor:  # an empty cursor is the first page, as if none were given
        after = cursors.decode(query.cursor, bound, position_of)
    kinds = tuple(PLURAL[t] for t in query.type)
    asked = Search(SearchTerms(query.q), tier, kinds, query.include_retracted)
    results = await asked.page(session, query.limit, after)
    next_cursor = None
    if results.more:
        next_cursor = cursors.encode(bound, *results.found[-1].position.cursor_key())
    window = Window(results.found, next_cursor, results.total)
    shown = [_Shown.of(result, citer) for result in results.found]
    return page_response(request, response, window, shown, query.limit, SearchPage)
