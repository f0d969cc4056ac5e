from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import PrincipalDep, ViewerDep, access
from app.auth.scopes import Scope
from app.changes.feed import ChangePage, ChangeQuery, read_changes
from app.changes.imports import IMPORT_JSON_SCHEMA, ImportReport, run_import
from app.changes.routes import write_context
from app.db.engine import SessionDep
from app.kit.deps import CursorsDep
from app.kit.errors import ProblemError, problem_responses
from app.kit.pagination import page_envelope

router = APIRouter(prefix="/v1", tags=["changes"])

# What generated clients may send for the NDJSON body as well.
NDJSON_TYPES = {"application/x-ndjson", "application/jsonl", "application/octet-stream"}
JSON_TYPE = "application/json"


@router.get(
    "/changes", operation_id="list_changes", summary="Follow the feed of changes", **access(None)
)
async def list_changes(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    viewer: ViewerDep,
    query: Annotated[ChangeQuery, Query()],
) -> ChangePage:
    """Every creation, update and retraction in commit order, for mirroring: follow
    `page.next_cursor` (as `after`) and you see each change once, never twice."""
    window, data = await read_changes(session, query, cursors, viewer.principal)
    body = page_envelope(request, response, window, data, query.limit)
    body["links"]["next"] = str(request.url.include_query_params(after=window.next_cursor))
    response.headers["Link"] = f'<{body["links"]["next"]}>; rel="next"'
    return ChangePage.model_validate(body)


@router.post(
    "/import",
    operation_id="import_records",
    summary="Import many records at once",
    **access(
        Scope.write,
        record_data=False,
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": 'The records, each as {"type": "claim", "record": {...}}: one '
                'per line of NDJSON, or in a JSON body, {"records": [...]} or the array alone '
                "(where a record's line is its position in the array, from 1).",
                "content": {
                    "application/json": {"schema": IMPORT_JSON_SCHEMA},
                    "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
                },
            }
        },
    ),
    responses=problem_responses(409, 413, 415, 422),
)
async def import_records(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    dry_run: Annotated[bool, Query(description="Validate everything, write nothing.")] = False,
) -> ImportReport:
    """Create or update many records at once, all or nothing, each as a single create or
    update would be, with its checks and answers. Errors name the line and field."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in NDJSON_TYPES | {JSON_TYPE}:
        raise ProblemError(
            415, "unsupported-media-type", "Send application/x-ndjson or application/json."
        )
    limit = request.app.state.settings.import_max_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        raise _too_large(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    context = write_context(request, principal, batch=True)
    as_json = media_type == JSON_TYPE
    report, _ = await run_import(session, bytes(raw), context, dry_run=dry_run, as_json=as_json)
    return report


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, "too-large", f"An import may be at most {limit} bytes.")
