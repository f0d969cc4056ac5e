"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

from app.db.engine import SessionDep
from app.kit.errors import RETRY_AFTER_SECONDS, ProblemError, database_problem, problem_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    schema_revision: str


@router.get("/healthz", operation_id="get_health", summary="Check that the server is up")
async def get_health() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="get_readiness",
    summary="Check that the server can answer from the database",
    responses=problem_responses(503),
)
async def get_readiness(request: Request, session: SessionDep) -> Readiness:
    """The database answers and its schema is at the revision this code expects. Not ready
    while the database is unreachable; ready again once it is back (no restart needed: broken
    pooled connections are replaced)."""
    expected: str | None = request.app.state.head_revision
    try:
        current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as error:
        if database_problem(error) is None:
            raise
        raise ProblemError(
            503,
            "not-ready",
            "The database is not reachable or not migrated.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    if current != expected:
        raise ProblemError(
            503, "not-ready", f"The database schema is at {current}, the code expects {expected}."
        )
    return Readiness(status="ready", schema_revision=current)
