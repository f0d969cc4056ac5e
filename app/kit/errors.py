"""RFC 9457 problem details for every error, translated in one place.

No SQL text, stack trace or internal identifier ever reaches a client: database errors are
mapped to a status and a plain sentence, anything unexpected to a bare 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.kit.conditional import NotModifiedError
from app.kit.routes import api_routes

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "urn:testimony-api:problem:"


class FieldError(BaseModel):
    location: str = Field(description="Where the bad value was: query, path, header or body.")
    name: str = Field(description="The parameter or field, dotted for nested body fields.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(description="URI reference that identifies the problem type.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise from anywhere to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers


def not_found(kind: str, record_id: str) -> ProblemError:
    shown = record_id if len(record_id) <= 120 else record_id[:120] + "…"
    return ProblemError(404, "not-found", f"No {kind} has the id {shown!r}.")


def _printable(text: str) -> str:
    """The text with any lone surrogate (from a JSON `\\ud800` escape in a field name the
    client sent) spelled out, so that the problem can be encoded as UTF-8."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def problem_response(request: Request, error: ProblemError) -> JSONResponse:
    body = Problem(
        type=PROBLEM_BASE + error.code,
        title=error.title,
        status=error.status,
        detail=_printable(error.detail),
        instance=request.url.path,
        errors=[
            FieldError(location=e.location, name=_printable(e.name), message=_printable(e.message))
            for e in error.errors
        ]
        if error.errors is not None
        else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


def _field_errors(raw: list[Any]) -> list[FieldError]:
    errors = []
    for item in raw:
        location, *path = [str(part) for part in item.get("loc", ())] or ["body"]
        if location != "body":
            # A repeated parameter's position is noise to a client: name the parameter.
            path = path[:1]
        errors.append(
            FieldError(location=location, name=".".join(path) or location, message=item["msg"])
        )
    return errors


async def _on_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    return problem_response(request, error)


async def _on_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = _field_errors(list(error.errors()))
    names = ", ".join(sorted({f"{e.location} parameter {e.name!r}" for e in errors}))
    return problem_response(
        request,
        ProblemError(422, "validation-error", f"Invalid value for {names}.", errors=errors),
    )


async def _on_http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(status).description
    code = {404: "not-found", 405: "method-not-allowed"}.get(status, "http-error")
    headers = dict(getattr(error, "headers", None) or {})
    if status == 405:
        # Routes of one path are separate; Allow must name the methods of all of them.
        methods = {
            method
            for api in api_routes(request.app)
            if api.route.path_regex.match(request.url.path)
            for method in api.methods
        }
        headers["Allow"] = ", ".join(sorted(methods))
    return problem_response(request, ProblemError(status, code, detail, headers=headers))


async def _on_integrity(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, IntegrityError)
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    logger.info("integrity error %s on %s", sqlstate, request.url.path)
    if sqlstate == "23505":
        return problem_response(
            request, ProblemError(409, "conflict", "A record with the same identifier exists.")
        )
    return problem_response(
        request,
        ProblemError(422, "constraint-violation", "The data breaks a rule of the database."),
    )


async def _on_database(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, DataError):
        return problem_response(
            request, ProblemError(422, "invalid-data", "A value is out of range or malformed.")
        )
    logger.exception("database error on %s", request.url.path, exc_info=error)
    return problem_response(
        request, ProblemError(503, "database-error", "The database could not answer the request.")
    )


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.url.path, exc_info=error)
    return problem_response(
        request, ProblemError(500, "internal-error", "The server failed to answer the request.")
    )


async def _on_not_modified(request: Request, error: Exception) -> Response:
    assert isinstance(error, NotModifiedError)
    return Response(status_code=304, headers={"ETag": error.etag, "Vary": "Authorization"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NotModifiedError, _on_not_modified)
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(DBAPIError, _on_database)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem+json answers."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
