from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.changes.routes import RecordRoutes, add_record_routes, update_schema
from app.changes.service import RecordKind
from app.db.engine import SessionDep
from app.exports.exporter import ExporterDep, ListExport
from app.exports.routes import add_export_routes
from app.facilities import repository
from app.facilities.exports import FACILITY_FORMATS, FacilityListFormat, FacilityListFormatDep
from app.facilities.models import Facility as FacilityRow
from app.facilities.models import FacilityMention
from app.facilities.schemas import Facility, FacilityCreate, FacilityPage, FacilityQuery
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.sources.citations import QuoteLevels
from app.sources.repository import quotes_resting_on_sources, with_found_locators
from app.views.serving import page_response, served

router = APIRouter(prefix="/v1/facilities", tags=["facilities"])


EXPORT = ListExport(
    "facilities",
    Facility,
    repository.RECORDS,
    repository.facility_conditions,
    FACILITY_FORMATS,
    live=(repository.LIVE_FIGURE,),
)


@router.get(
    "",
    operation_id="list_facilities",
    summary="Page through facilities",
    **access(None),
    response_model=FacilityPage,
    responses=problem_responses(400, 422),
)
async def list_facilities(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[FacilityQuery, Query()],
    format: FacilityListFormatDep,
    exporter: ExporterDep,
) -> FacilityPage | Response:
    """Mines, camps, factories, farms and other places of forced labour."""
    if format is not FacilityListFormat.json:
        return await exporter.respond(EXPORT, query, format)
    window = await repository.list_facilities(session, query, cursors, viewer.principal)
    views = served(window.rows, Facility, citer, viewer)
    return page_response(request, response, window, views, query.limit, FacilityPage)


add_export_routes(router, EXPORT, FacilityQuery)


add_record_routes(
    router,
    RecordRoutes(
        kind=RecordKind(
            plural="facilities",
            model=FacilityRow,
            create_schema=FacilityCreate,
            update_schema=update_schema(FacilityCreate, "FacilityUpdate"),
            loads=repository.RECORDS.loads,
            as_input=repository.facility_input,
            new=lambda data: FacilityRow(id=data.id, aliases=[], mentions=[]),
            write=repository.write_facility,
            visible=lambda _principal: None,
            as_stored=with_found_locators,
            quote_levels=QuoteLevels.load,
            rests_on=(
                quotes_resting_on_sources(
                    FacilityRow,
                    FacilityMention,
                    FacilityMention.facility_id,
                    FacilityRow.mentions,
                    repository.RECORDS.loads,
                ),
            ),
        ),
        out_schema=Facility,
        get=repository.get_facility,
        records=repository.RECORDS,
    ),
)
