"""A real PostgreSQL for every test: the embedded server, or TEST_DATABASE_URL when set.

The test database is created afresh for each run and built by the Alembic migrations. Each
test runs inside a transaction that is rolled back, and talks to the app over HTTP.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.db import migrations
from app.db.embedded import embedded_server_url
from app.db.engine import (
    async_url,
    get_session,
    make_engine,
    run_before_commit,
    run_whatever_happens,
)
from app.exports.exporter import StreamSessions, get_stream_sessions
from app.main import create_app
from app.models import Base
from app.rendering.indexing import index_pending
from app.settings import Settings, get_settings

TEST_DATABASE = "testimony_test"


def resolve_test_database_url() -> URL:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return async_url(configured)
    return embedded_server_url(get_settings().data_dir, TEST_DATABASE)


async def recreate_database(url: URL, *, create: bool = True) -> None:
    admin = create_async_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as connection:
            name = connection.dialect.identifier_preparer.quote(url.database or "")
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            if create:
                await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()


async def drop_database(url: URL) -> None:
    await recreate_database(url, create=False)


@pytest.fixture(scope="session")
async def database_url() -> URL:
    url = resolve_test_database_url()
    await recreate_database(url)
    await asyncio.to_thread(migrations.upgrade, url)
    return url


@pytest.fixture(scope="session")
async def engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


def app_settings(database_url: URL, **overrides: object) -> Settings:
    """Settings for an app on the test database; rate limits out of the way unless a test
    sets them, and a cursor secret of its own (none is written in the data folder)."""
    values: dict[str, object] = {
        "database_url": database_url.render_as_string(hide_password=False),
        "cursor_secret": "tests-cursor-secret",
        "rate_limit_anonymous": "1000000/minute",
        "rate_limit_key": "1000000/minute",
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def app(database_url: URL) -> FastAPI:
    return create_app(app_settings(database_url))


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@dataclass(frozen=True)
class SavepointSessions:
    """What a streamed export reads and audits through, on the test's session: it sees the
    test's records, and its audit events are undone with them."""

    session: AsyncSession

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        await index_pending(self.session)  # the test's writes, rendered as their commit would
        yield self.session

    @asynccontextmanager
    async def audit(self) -> AsyncIterator[AsyncSession]:
        async with self.session.begin_nested():
            yield self.session
            # The test's own writes share the session: index them, as their commit would.
            await index_pending(self.session)


@pytest.fixture
async def client(app: FastAPI, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async def test_session(request: Request) -> AsyncIterator[AsyncSession]:
        # What the test wrote before the request stands as if committed: searchable too.
        await index_pending(session)
        # Each request in a savepoint, undone when it fails, as its own transaction would be.
        savepoint = await session.begin_nested()
        try:
            yield session
            await run_before_commit(request, session)
            await savepoint.commit()
        except BaseException:
            await savepoint.rollback()
            # What is recorded whatever happens (an audited refusal), as after a rollback.
            async with session.begin_nested():
                await run_whatever_happens(request, session)
            raise

    app.dependency_overrides[get_session] = test_session

    def test_stream_sessions() -> StreamSessions:
        return SavepointSessions(session)

    app.dependency_overrides[get_stream_sessions] = test_stream_sessions
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    app.dependency_overrides.clear()


@pytest.fixture
async def committed(
    database_url: URL, engine: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]]:
    """An app that commits, with a writer's and a reader's headers; the database is emptied
    afterwards."""
    app: FastAPI = create_app(app_settings(database_url))
    async with AsyncSession(engine) as session, session.begin():
        _, writer = await create_key(session, "writer", [Scope.write, Scope.read_confidential])
        _, reader = await create_key(session, "reader", [Scope.read_confidential])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield (
                client,
                {"Authorization": f"Bearer {writer}"},
                {"Authorization": f"Bearer {reader}"},
            )
    finally:
        await app.state.engine.dispose()
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
