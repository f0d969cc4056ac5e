from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.db.engine import SessionDep
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.pagination import page_envelope
from app.sources import repository
from app.sources.citation_formats import MEDIA_TYPES, negotiate, render
from app.sources.presenters import present_source
from app.sources.schemas import CitationFormat, Source, SourcePage, SourceQuery

router = APIRouter(prefix="/v1/sources", tags=["sources"])


@router.get("", operation_id="list_sources", **access(None), responses=problem_responses(400, 422))
async def list_sources(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[SourceQuery, Query()],
) -> SourcePage:
    """Sources: news reports, NGO and government reports, state media, defectors' accounts."""
    window = await repository.list_sources(session, query, cursors, viewer.principal)
    data = [present_source(source, citer) for source in window.rows]
    return SourcePage.model_validate(page_envelope(request, response, window, data, query.limit))


@router.get(
    "/{source_id}", operation_id="get_source", **access(None), responses=problem_responses(404)
)
async def get_source(source_id: str, session: SessionDep, citer: CiterDep) -> Source:
    """One source, with the sources it relays and those that relay it."""
    return present_source(await repository.get_source(session, source_id), citer)


@router.get(
    "/{source_id}/text",
    operation_id="get_source_text",
    **access(None),
    response_class=Response,
    responses={
        200: {
            "description": "The archived copy, UTF-8. Quote locators count code points in it.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **problem_responses(404),
    },
)
async def get_source_text(source_id: str, session: SessionDep) -> Response:
    """The archived text of a source, against which every quote's locator can be checked."""
    text, sha256 = await repository.get_archived_text(session, source_id)
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"ETag": f'"{sha256}"', "Repr-Digest": f"sha-256=:{_base64(sha256)}:"},
    )


def _base64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@router.get(
    "/{source_id}/citation",
    operation_id="get_source_citation",
    **access(None),
    response_class=Response,
    responses={
        200: {
            "description": "The citation in the requested format.",
            "content": {
                media_type: {"schema": {"type": "string"}} for media_type in MEDIA_TYPES.values()
            },
        },
        **problem_responses(404, 422),
    },
)
async def get_source_citation(
    source_id: str,
    session: SessionDep,
    format: Annotated[
        CitationFormat | None,
        Query(description="csl-json, bibtex, ris or text; or ask through the Accept header."),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """A source as a reference-manager entry (CSL-JSON, BibTeX, RIS) or a formatted line."""
    source = await repository.get_source(session, source_id)
    citation_format = format or negotiate(accept)
    media_type = MEDIA_TYPES[citation_format]
    return Response(render(source, citation_format), media_type=media_type)
