"""The export operations of a list: one route per format, `/v1/claims.csv` beside
`/v1/claims`, each answering with one media type (what SDK generators need to type it).

No `from __future__ import annotations` here: the endpoints are built per list at run time,
and FastAPI reads their parameter types from the live annotations.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import access
from app.exports.exporter import ExporterDep, ExportFormat, ListExport
from app.kit.errors import problem_responses
from app.kit.params import ListQuery


def add_export_routes(
    router: APIRouter, export: ListExport[Any, Any], query_model: type[ListQuery]
) -> None:
    """A `GET {list}.{suffix}` for each format of `export` besides the JSON page, taking the
    list's parameters."""
    for name, spec in export.formats.items():
        _add_export_route(router, export, query_model, name, spec)


def _add_export_route(
    router: APIRouter,
    export: ListExport[Any, Any],
    query_model: type[ListQuery],
    name: str,
    spec: ExportFormat,
) -> None:
    async def export_records(
        query: Annotated[query_model, Query()],  # type: ignore[valid-type]
        exporter: ExporterDep,
    ) -> Response:
        return await exporter.respond(export, query, name)

    router.add_api_route(
        spec.path_suffix,
        export_records,
        methods=["GET"],
        operation_id=f"export_{export.name}_{name.replace('-', '_')}",
        summary=f"Export the matching {export.name} as {spec.label}",
        description=f"Every one of the {export.name} the list pages through with the same "
        f"filters, search and sort, from `cursor` on, in one streamed {spec.label} file (an "
        "attachment). `limit`, `count` and `facet` do not apply.",
        response_class=Response,
        responses={
            200: {
                "description": f"Every matching record, as {spec.label}.",
                "content": {spec.media_type: {"schema": spec.schema}},
                "headers": {
                    "Content-Disposition": {
                        "description": "`attachment`, with a file name of the records and the day.",
                        "schema": {"type": "string"},
                    }
                },
            },
            **problem_responses(400, 422),
        },
        **access(None),
    )
