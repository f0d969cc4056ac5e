from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.db.engine import SessionDep
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.listing import PLURAL
from app.kit.pagination import SortKey, fetch_page, page_envelope, parse_decimal
from app.kit.schemas import SINGULAR
from app.search.models import SearchDocument
from app.search.query import SearchTerms, ranked, snippets
from app.search.schemas import ResultType, SearchPage, SearchQuery, SearchResult

router = APIRouter(prefix="/v1", tags=["search"])


@router.get(
    "/search",
    operation_id="search",
    summary="Search every kind of record",
    **access(None),
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
) -> SearchPage:
    """Every type of record at once, best matches first, with highlighted snippets.

    Full-text search (English stemming, web-search syntax) over what this client is shown of
    each record, and names across romanisations and small typos.
    """
    terms, tier = SearchTerms(query.q), viewer.principal.tier
    statement, score = ranked(terms, tier, [PLURAL[t] for t in query.type], query.include_retracted)
    window = await fetch_page(
        session,
        statement,
        id_column=SearchDocument.ref,
        key=SortKey(score, parse_decimal),
        descending=True,
        limit=query.limit,
        cursor=query.cursor,
        fingerprint_fields=query.fingerprint_fields() | {"tier": tier},
        cursors=cursors,
    )
    documents: list[SearchDocument] = window.rows
    cut = await snippets(session, terms, tier, [d.ref for d in documents])
    data = [
        SearchResult(
            type=ResultType(SINGULAR[document.kind]),
            id=document.record_id,
            title=document.title,
            snippet=cut[document.ref],
            score=float(score),
            url=citer.permalink(document.kind, document.record_id),
        )
        for document, score in zip(documents, window.sort_values, strict=True)
    ]
    return SearchPage.model_validate(page_envelope(request, response, window, data, query.limit))
