from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.orm import undefer

from app.auth.dependencies import ViewerDep, access
from app.changes.routes import RecordRoutes, add_record_routes, update_schema
from app.changes.service import RecordKind
from app.db.engine import SessionDep
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.exports import ExporterDep, ListExport, export_responses
from app.sources import repository
from app.sources.citation_formats import CSL_ITEM_SCHEMA, MEDIA_TYPES, negotiate, render
from app.sources.exports import SOURCE_FORMATS, SourceListFormat, SourceListFormatDep
from app.sources.models import Source as SourceRow
from app.sources.schemas import CitationFormat, Source, SourceCreate, SourcePage, SourceQuery
from app.views.serving import page_response, served

router = APIRouter(prefix="/v1/sources", tags=["sources"])


EXPORT = ListExport("sources", Source, repository.list_sources, SOURCE_FORMATS)


@router.get(
    "",
    operation_id="list_sources",
    **access(None),
    response_model=SourcePage,
    responses=problem_responses(400, 422) | export_responses(SOURCE_FORMATS),
)
async def list_sources(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[SourceQuery, Query()],
    format: SourceListFormatDep,
    exporter: ExporterDep,
) -> SourcePage | Response:
    """Sources: news reports, NGO and government reports, state media, defectors' accounts."""
    if format is not SourceListFormat.json:
        return await exporter.respond(EXPORT, query, format)
    window = await repository.list_sources(session, query, cursors, viewer.principal)
    views = served(window.rows, Source, citer, viewer)
    return page_response(request, response, window, views, query.limit, SourcePage)


@router.get(
    "/{source_id}/text",
    operation_id="get_source_text",
    **access(None),
    response_class=Response,
    responses={
        200: {
            "description": "The archived copy, UTF-8. Quote locators count code points in it.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "headers": {
                "Excluded-Spans": {
                    "description": "The spans of the text that are not part of the document "
                    "(injected links, boilerplate), as `start-end` code-point offsets, end "
                    "exclusive, comma-separated, in text order; absent when there are none. "
                    "Their reasons are the source's `excluded_spans`.",
                    "schema": {"type": "string", "example": "507-817, 1367-1672"},
                },
                "Link": {
                    "description": 'The source record, `rel="describedby"`: its '
                    "`archive_sha256` and `excluded_spans`.",
                    "schema": {"type": "string"},
                },
            },
        },
        **problem_responses(403, 404),
    },
)
async def get_source_text(source_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    """The archived text of a source, byte for byte, against which every quote's locator can
    be checked; a protected source's only for clients cleared for its level. The text is a
    third party's: it is served for verification, by default only to clients with an API key
    (the server's SOURCE_TEXT_ACCESS: public, keys or restricted), while the records' quotes
    are served to everyone. The spans of it that are not part of the document are named in
    the `Excluded-Spans` header."""
    text, sha256, excluded = await repository.get_archived_text(session, source_id, viewer)
    headers = {
        "ETag": f'"{sha256}"',
        # Who is served the text depends on the key (SOURCE_TEXT_ACCESS).
        "Vary": "Authorization",
        "Repr-Digest": f"sha-256=:{_base64(sha256)}:",
        # The id is a slug (the source was found by it): nothing in it needs escaping.
        "Link": f'</v1/sources/{source_id}>; rel="describedby"; type="application/json"',
    }
    if excluded:
        headers["Excluded-Spans"] = ", ".join(f"{start}-{end}" for start, end in excluded)
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


def _base64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@router.get(
    "/{source_id}/citation",
    operation_id="get_source_citation",
    **access(None),
    response_class=Response,
    responses={
        200: {
            "description": "The citation in the requested format; CSL-JSON unless `format` or "
            "Accept asks for another.",
            "content": {
                MEDIA_TYPES[CitationFormat.csl_json]: {
                    "schema": {
                        "type": "array",
                        "description": "The source as one CSL-JSON item, in an array.",
                        "items": CSL_ITEM_SCHEMA,
                        "minItems": 1,
                        "maxItems": 1,
                    }
                },
                MEDIA_TYPES[CitationFormat.bibtex]: {
                    "schema": {"type": "string", "description": "One BibTeX entry."}
                },
                MEDIA_TYPES[CitationFormat.ris]: {
                    "schema": {"type": "string", "description": "One RIS record, `TY` to `ER`."}
                },
                MEDIA_TYPES[CitationFormat.text]: {
                    "schema": {"type": "string", "description": "One formatted reference."}
                },
            },
        },
        **problem_responses(404, 422),
    },
)
async def get_source_citation(
    source_id: str,
    session: SessionDep,
    citer: CiterDep,
    viewer: ViewerDep,
    format: Annotated[
        CitationFormat | None,
        Query(description="csl-json, bibtex, ris or text; or ask through the Accept header."),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """A source as a reference-manager entry (CSL-JSON, BibTeX, RIS) or a formatted line."""
    view = await repository.RECORDS.get_view(session, source_id, viewer.principal.tier)
    (source,) = (shown.model for shown in served([view], Source, citer, viewer))
    citation_format = format or negotiate(accept)
    media_type = MEDIA_TYPES[citation_format]
    return Response(render(source, citation_format), media_type=media_type)


add_record_routes(
    router,
    RecordRoutes(
        kind=RecordKind(
            plural="sources",
            model=SourceRow,
            create_schema=SourceCreate,
            update_schema=update_schema(SourceCreate, "SourceUpdate"),
            loads=(*repository.RECORDS.loads, undefer(SourceRow.archived_text)),
            as_input=repository.source_input,
            patch_base=repository.source_patch_base,
            new=lambda data: SourceRow(id=data.id, relays=[]),
            write=repository.write_source,
            visible=repository.visible_sources,
            level=lambda row: row.protection_level,
            archived_fields=frozenset({"archived_text"}),
        ),
        out_schema=Source,
        get=repository.get_source,
        records=repository.RECORDS,
    ),
)
