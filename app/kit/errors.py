"""RFC 9457 problem details for every error, translated in one place.

No SQL text, stack trace or internal identifier ever reaches a client: database errors are
mapped to a status and a plain sentence, anything unexpected to a bare 500.

A database that cannot be reached or used (refused or missing socket, timeouts, shutdown,
too many connections, a read-only standby, a connection lost mid-query, no free pooled
connection) is a 503 with Retry-After, whatever shape the driver gives the failure: the
exception is classified by walking what it wraps (`orig`, `__cause__`), never by the route.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http import HTTPStatus
from types import TracebackType
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
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
    headers = dict(error.headers or {})
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        # Set on every answer as it leaves, but a 500 leaves from outside the middleware.
        headers["X-Request-ID"] = request_id
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=headers,
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
        if "GET" in methods:
            methods.add("HEAD")  # app.kit.head answers it for every GET
        headers["Allow"] = ", ".join(sorted(methods))
    return problem_response(request, ProblemError(status, code, detail, headers=headers))


# Seconds a client is asked to wait before retrying a request the database could not answer:
# a restarted server is back within about that long.
RETRY_AFTER_SECONDS = 2

# SQLSTATE classes and codes that say the database cannot answer now, not that the request
# is wrong: connection exceptions (08: refused, lost, "connection does not exist"),
# insufficient resources (53: too many connections, out of memory, disk full), operator
# intervention (57: admin or crash shutdown 57P01/57P02, "cannot connect now" while starting
# or stopping 57P03, statement timeout 57014); a read-only standby (25006); and conflicts
# that a retry resolves (serialization failure, deadlock, lock timeout).
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_STATES = frozenset({"25006", "40001", "40P01", "55P03"})
# Modules whose frames show that an OSError came from talking to the database (a missing
# socket is FileNotFoundError, a closed port ConnectionRefusedError, a connect timeout
# TimeoutError), rather than from anything else the server does.
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def _linked(error: BaseException) -> Iterator[BaseException]:
    """`error` and every exception it wraps: SQLAlchemy's `orig`, `raise ... from` causes and
    the members of exception groups."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for inner in (getattr(current, "orig", None), current.__cause__):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) else None


def _from_driver(traceback: TracebackType | None) -> bool:
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.split(".")[0] in _DRIVER_MODULES:
            return True
        traceback = traceback.tb_next
    return False


def _unavailable_reason(error: BaseException) -> str | None:
    """Why the database could not answer, when `error` (or one it wraps) says so."""
    for linked in _linked(error):
        state = _sqlstate(linked)
        if state is not None and (
            state.startswith(_UNAVAILABLE_CLASSES) or state in _UNAVAILABLE_STATES
        ):
            return f"SQLSTATE {state}"
        if isinstance(linked, PoolTimeoutError):
            return "no pooled connection came free in time"
        if isinstance(linked, DBAPIError) and linked.connection_invalidated:
            return "the connection was lost"
        if isinstance(linked, asyncpg.InterfaceError) and not isinstance(linked, ValueError):
            # "connection is closed", "... was closed in the middle of operation"; the
            # ValueErrors among them are the request's or the configuration's.
            return "the connection was lost"
        if isinstance(linked, OSError) and _from_driver(linked.__traceback__):
            return type(linked).__name__
    return None


def _unsendable(error: BaseException) -> bool:
    """asyncpg's client-side DataError: a query argument it cannot encode."""
    return (
        isinstance(error, asyncpg.InterfaceError)
        and isinstance(error, ValueError)
        and not isinstance(error, asyncpg.ClientConfigurationError)
    )


def _is_invalid_data(error: BaseException) -> bool:
    """A value the database refused (class 22: out of range, malformed, division by zero),
    or one the driver could not send as the column's type."""
    for linked in _linked(error):
        state = _sqlstate(linked)
        if state is not None and state.startswith("22"):
            return True
        if isinstance(linked, DataError) or _unsendable(linked):
            return True
    return False


def database_problem(error: BaseException) -> ProblemError | None:
    """What to answer for a failure of the database, or None when `error` is not one.

    Unreachable or unusable: 503 with Retry-After. Data the database refused: 422. Any other
    database error: 503 without Retry-After (retrying the same request will not help)."""
    reason = _unavailable_reason(error)
    if reason is not None:
        return ProblemError(
            503,
            "database-unavailable",
            f"The database cannot answer at the moment; retry in {RETRY_AFTER_SECONDS} seconds.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if _is_invalid_data(error):
        return ProblemError(422, "invalid-data", "A value is out of range or malformed.")
    if any(isinstance(linked, DBAPIError) for linked in _linked(error)):
        return ProblemError(503, "database-error", "The database could not answer the request.")
    return None


def database_unavailable(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached or used at the moment."""
    return _unavailable_reason(error) is not None


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
    """Every exception that may be a database failure: driver and SQLAlchemy errors, OSError
    and exception groups. Answered here, in the exception middleware, so the connection to the
    client stays usable (an error left to the server-error middleware closes it)."""
    problem = database_problem(error)
    if problem is None:
        return await _on_unexpected(request, error)
    reason = _unavailable_reason(error)
    if reason is not None:
        # One line per request, no traceback: an outage makes many of them.
        logger.warning("database unavailable on %s: %s", request.url.path, reason)
    elif problem.status == 503:
        logger.error("database error on %s", request.url.path, exc_info=error)
    return problem_response(request, problem)


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    problem = database_problem(error)
    if problem is not None:
        logger.warning("database failure on %s: %s", request.url.path, type(error).__name__)
        return problem_response(request, problem)
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
    for failure in (
        SQLAlchemyError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,  # a missing socket, a refused connection, a connect timeout
        ExceptionGroup,
    ):
        app.add_exception_handler(failure, _on_database)
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
