from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.changes.routes import RecordRoutes, add_record_routes, update_schema
from app.changes.service import RecordKind
from app.claims import repository
from app.claims.figures import LIVE_FIGURE
from app.claims.models import Claim as ClaimRow
from app.claims.presenters import present_related
from app.claims.schemas import Claim, ClaimCreate, ClaimPage, ClaimQuery, RelatedClaims
from app.db.engine import SessionDep
from app.exports.exporter import (
    EXPORT_FORMATS,
    ExporterDep,
    ListExport,
    ListFormat,
    ListFormatDep,
)
from app.exports.routes import add_export_routes
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.params import DEFAULT_LIMIT, MAX_LIMIT
from app.sources.citations import QuoteLevels
from app.sources.repository import with_found_locators
from app.views.serving import json_response, page_response, served

router = APIRouter(prefix="/v1/claims", tags=["claims"])


EXPORT = ListExport(
    "claims",
    Claim,
    repository.RECORDS,
    repository.claim_conditions,
    EXPORT_FORMATS,
    live=(LIVE_FIGURE,),
)


@router.get(
    "",
    operation_id="list_claims",
    summary="Page through claims",
    **access(None),
    response_model=ClaimPage,
    responses=problem_responses(400, 422),
)
async def list_claims(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[ClaimQuery, Query()],
    format: ListFormatDep,
    exporter: ExporterDep,
) -> ClaimPage | Response:
    """Quantitative claims: every number with its unit, uncertainty, claimant and quote."""
    if format is not ListFormat.json:
        return await exporter.respond(EXPORT, query, format)
    window = await repository.list_claims(session, query, cursors, viewer.principal)
    views = served(window.rows, Claim, citer, viewer)
    return page_response(request, response, window, views, query.limit, ClaimPage)


add_export_routes(router, EXPORT, ClaimQuery)


@router.get(
    "/{claim_id}/related",
    operation_id="list_related_claims",
    summary="Find the claims that agree or conflict with a claim",
    **access(None),
    response_model=RelatedClaims,
    responses=problem_responses(404),
)
async def list_related_claims(
    claim_id: Annotated[str, Path()],
    response: Response,
    session: SessionDep,
    citer: CiterDep,
    viewer: ViewerDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="At most this many of each relation.")
    ] = DEFAULT_LIMIT,
) -> Response:
    """Claims of the same fact, metric, unit and subjects over an overlapping period, split
    into those that agree with this one and those that conflict with it, by id."""
    claim = await repository.get_claim(session, claim_id, viewer.principal)
    return json_response(response, await present_related(session, claim, citer, viewer, limit))


add_record_routes(
    router,
    RecordRoutes(
        kind=RecordKind(
            plural="claims",
            model=ClaimRow,
            create_schema=ClaimCreate,
            update_schema=update_schema(ClaimCreate, "ClaimUpdate"),
            loads=repository.RECORDS.loads,
            as_input=repository.claim_input,
            new=lambda data: ClaimRow(id=data.id),
            write=repository.write_claim,
            visible=repository.visible_claims,
            level=repository.claim_level,
            patch_base=repository.claim_patch_base,
            as_stored=with_found_locators,
            quote_levels=QuoteLevels.load,
            rests_on=repository.CLAIMS_REST_ON,
        ),
        out_schema=Claim,
        get=repository.get_claim,
        records=repository.RECORDS,
    ),
)
