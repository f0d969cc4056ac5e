from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from app.auth.dependencies import Viewer, ViewerDep, access
from app.changes.routes import RecordRoutes, add_record_routes, update_schema
from app.changes.service import RecordKind
from app.db.engine import SessionDep
from app.exports.exporter import ExporterDep, ListExport
from app.exports.routes import add_export_routes
from app.kit.citing import Citer
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.sources import repository
from app.sources.citation_formats import CSL_ITEM_SCHEMA, MEDIA_TYPES, negotiate, render
from app.sources.exports import SOURCE_FORMATS, SourceListFormat, SourceListFormatDep
from app.sources.models import Source as SourceRow
from app.sources.schemas import CitationFormat, Source, SourceCreate, SourcePage, SourceQuery
from app.views.serving import page_response, served

router = APIRouter(prefix="/v1/sources", tags=["sources"])


EXPORT = ListExport(
    "sources", Source, repository.RECORDS, repository.source_conditions, SOURCE_FORMATS
)


@router.get(
    "",
    operation_id="list_sources",
    summary="Page through sources",
    **access(None),
    response_model=SourcePage,
    responses=problem_responses(400, 422),
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


add_export_routes(router, EXPORT, SourceQuery)


@router.get(
    "/{source_id}/text",
    operation_id="get_source_text",
    summary="Read a source's archived text",
    **access(None),
    response_class=Response,
    responses={
        200: {
            "description": "The archived copy, UTF-8. Quote locators count code points in it.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "headers": {
                "ETag": {
                    "description": "The text's SHA-256, as the source's `archive_sha256`.",
                    "schema": {"type": "string"},
                },
                "Repr-Digest": {
                    "description": "The text's SHA-256 (RFC 9530).",
                    "schema": {"type": "string"},
                },
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


# Each citation format is an operation of its own, with one media type: `citation` answers
# CSL-JSON, `citation.bib` BibTeX and so on. `citation` still takes `format` and Accept (left
# out of the document) for the clients that ask that way.
CITATION_PATHS = {
    CitationFormat.bibtex: ("bib", "BibTeX", "One BibTeX entry, keyed by the source's id."),
    CitationFormat.ris: ("ris", "RIS", "One RIS record, `TY` to `ER`."),
    CitationFormat.text: ("txt", "a formatted reference", "One formatted reference."),
}


@router.get(
    "/{source_id}/citation",
    operation_id="get_source_citation",
    summary="Cite a source as CSL-JSON",
    **access(None),
    response_class=Response,
    responses={
        200: {
            "description": "The source as one CSL-JSON item, for reference managers and "
            "citation processors.",
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
            },
        },
        **problem_responses(404),
    },
)
async def get_source_citation(
    source_id: str,
    session: SessionDep,
    citer: CiterDep,
    viewer: ViewerDep,
    format: Annotated[CitationFormat | None, Query(include_in_schema=False)] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """A source as a reference-manager entry in CSL-JSON; `citation.bib`, `citation.ris` and
    `citation.txt` give it as BibTeX, RIS or a formatted line."""
    return await _citation(session, source_id, citer, viewer, format or negotiate(accept))


async def _citation(
    session: AsyncSession,
    source_id: str,
    citer: Citer,
    viewer: Viewer,
    citation_format: CitationFormat,
) -> Response:
    view = await repository.RECORDS.get_view(session, source_id, viewer.principal.tier)
    (source,) = (shown.model for shown in served([view], Source, citer, viewer))
    return Response(render(source, citation_format), media_type=MEDIA_TYPES[citation_format])


def _add_citation_route(citation_format: CitationFormat) -> None:
    extension, label, description = CITATION_PATHS[citation_format]

    async def cite_source(
        source_id: str, session: SessionDep, citer: CiterDep, viewer: ViewerDep
    ) -> Response:
        return await _citation(session, source_id, citer, viewer, citation_format)

    router.add_api_route(
        f"/{{source_id}}/citation.{extension}",
        cite_source,
        methods=["GET"],
        operation_id=f"get_source_citation_{citation_format.value.replace('-', '_')}",
        summary=f"Cite a source as {label}",
        description=f"The source as {label}: {description[0].lower()}{description[1:]}",
        response_class=Response,
        responses={
            200: {
                "description": description,
                "content": {
                    MEDIA_TYPES[citation_format]: {
                        "schema": {"type": "string", "description": description}
                    }
                },
            },
            **problem_responses(404),
        },
        **access(None),
    )


for _format in CITATION_PATHS:
    _add_citation_route(_format)


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
