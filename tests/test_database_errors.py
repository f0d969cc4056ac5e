"""Database failures are classified in one place (app.kit.errors.database_problem): a
database that cannot be reached or used is a 503 with Retry-After, whatever shape the driver
gives the failure; refused data stays a 422."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import make_engine
from app.kit.errors import ProblemError, database_problem
from app.main import create_app
from tests.conftest import app_settings


async def failure(url: URL | str, statement: str = "SELECT 1", **options: float) -> Exception:
    engine = make_engine(make_url(url) if isinstance(url, str) else url, pooled=False, **options)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    except Exception as error:
        return error
    finally:
        await engine.dispose()
    raise AssertionError(f"{statement} did not fail")


def assert_unavailable(problem: ProblemError | None) -> None:
    assert problem is not None
    assert problem.status == 503
    assert problem.code == "database-unavailable"
    assert (problem.headers or {})["Retry-After"].isdigit()


MISSING_SOCKET = "postgresql+asyncpg://postgres@/testimony?host=/nonexistent-socket-dir"
REFUSED_PORT = "postgresql+asyncpg://postgres@127.0.0.1:1/testimony"


async def test_a_missing_socket_is_unavailable() -> None:
    error = await failure(MISSING_SOCKET)
    assert isinstance(error, FileNotFoundError)
    assert_unavailable(database_problem(error))


async def test_a_refused_connection_is_unavailable() -> None:
    error = await failure(REFUSED_PORT)
    assert isinstance(error, ConnectionRefusedError)
    assert_unavailable(database_problem(error))


async def test_a_statement_timeout_is_unavailable(database_url: URL) -> None:
    error = await failure(database_url, "SELECT pg_sleep(2)", statement_timeout=0.1)
    assert isinstance(error, DBAPIError)
    assert_unavailable(database_problem(error))


async def test_no_free_pooled_connection_is_unavailable(database_url: URL) -> None:
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with engine.connect():
            with pytest.raises(PoolTimeoutError) as raised:
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()
    assert_unavailable(database_problem(raised.value))


async def test_a_connection_lost_mid_query_is_unavailable(database_url: URL) -> None:
    engine = make_engine(database_url, pooled=False)
    try:
        async with engine.connect() as victim, engine.connect() as killer:
            pid = await victim.scalar(text("SELECT pg_backend_pid()"))
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as raised:
                await victim.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert_unavailable(database_problem(raised.value))


@pytest.mark.parametrize(
    "state",
    [
        asyncpg.exceptions.AdminShutdownError,  # 57P01
        asyncpg.exceptions.CannotConnectNowError,  # 57P03
        asyncpg.exceptions.TooManyConnectionsError,  # 53300
        asyncpg.exceptions.ReadOnlySQLTransactionError,  # 25006
        asyncpg.exceptions.ConnectionDoesNotExistError,  # 08003
        asyncpg.exceptions.SerializationError,  # 40001
    ],
)
def test_sqlstates_of_an_unavailable_database(state: type[Exception]) -> None:
    wrapped = DBAPIError("SELECT 1", {}, state("the server says no"))
    assert_unavailable(database_problem(wrapped))
    assert_unavailable(database_problem(state("unwrapped")))
    assert_unavailable(database_problem(ExceptionGroup("grouped", [wrapped])))


def test_a_closed_connection_is_unavailable() -> None:
    closed = asyncpg.InterfaceError("cannot perform operation: connection is closed")
    assert_unavailable(database_problem(DBAPIError("SELECT 1", {}, closed)))


async def test_refused_data_is_422(database_url: URL) -> None:
    for statement in ("SELECT 1/0", "SELECT 'many'::int", "SELECT 100000::smallint"):
        problem = database_problem(await failure(database_url, statement))
        assert problem is not None
        assert (problem.status, problem.code) == (422, "invalid-data"), statement


async def test_other_database_errors_are_503_without_retry_after(database_url: URL) -> None:
    problem = database_problem(await failure(database_url, "SELECT no_such_column"))
    assert problem is not None
    assert (problem.status, problem.code, problem.headers) == (503, "database-error", None)


def test_an_oserror_of_anything_but_the_database_is_not_a_database_failure() -> None:
    with pytest.raises(FileNotFoundError) as raised:
        open("/nonexistent-file-of-the-tests")  # noqa: SIM115
    assert database_problem(raised.value) is None


@pytest.mark.parametrize("url", [MISSING_SOCKET, REFUSED_PORT])
async def test_every_route_answers_503_with_retry_after_when_the_database_is_down(
    url: str,
) -> None:
    app = create_app(app_settings(make_url(url)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path in ("/v1/organizations", "/v1/claims/some-claim", "/v1/search?q=mine", "/readyz"):
            response = await client.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"].isdigit()
            assert "asyncpg" not in response.text.lower()
        response = await client.post(
            "/v1/organizations",
            json={"id": "org-x", "name": "X", "kind": "other"},
            # Well formed: looking it up needs the database.
            headers={"Authorization": f"Bearer tk_abcdefghijkl_{'s' * 43}"},
        )
        assert response.status_code == 503
