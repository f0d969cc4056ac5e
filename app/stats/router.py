from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth.dependencies import ViewerDep, access
from app.db.engine import SessionDep
from app.kit.errors import problem_responses
from app.stats.repository import corpus_stats
from app.stats.schemas import Stats

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get(
    "/stats",
    operation_id="get_stats",
    summary="Count the records of the database",
    **access(None),
    responses=problem_responses(400),
)
async def get_stats(request: Request, session: SessionDep, viewer: ViewerDep) -> Stats:
    """Claims by metric and unit, facilities by province and type, testimonies by decade
    and labour type."""
    threshold: int = request.app.state.settings.small_cell_threshold
    return await corpus_stats(session, viewer.principal, threshold)
