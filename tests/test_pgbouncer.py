"""The API through PgBouncer in transaction mode (DATABASE_PGBOUNCER=true): writes, reads,
lists, an import and a search, with clients sharing fewer server connections than the app's
pool holds. The database is one of its own on the test server, migrated through PgBouncer."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.auth.scopes import Scope
from app.db import migrations
from app.main import create_app
from app.settings import get_settings
from tests.conftest import app_settings, drop_database, recreate_database
from tests.outages import write_key
from tests.servers import PgBouncer, missing
from tests.test_import import NDJSON, RECORDS, ndjson

pytestmark = pytest.mark.skipif(
    missing("pgbouncer") is not None,
    reason="pgbouncer is not installed (apt-get install pgbouncer)",
)


@pytest.fixture(scope="module")
async def database(database_url: URL) -> AsyncIterator[URL]:
    """A database of its own: what the test writes is committed, and must not meet the
    suite's rolled-back tests."""
    url = database_url.set(database=f"{database_url.database}_pgbouncer")
    await recreate_database(url)
    yield url
    await drop_database(url)


@pytest.fixture(scope="module")
def pgbouncer(database: URL) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(database, database.database or "")
    yield bouncer
    bouncer.close()


@pytest.fixture(scope="module")
async def app(pgbouncer: PgBouncer, database: URL) -> AsyncIterator[FastAPI]:
    # Migrations go through PgBouncer too, as a deployment's would.
    os.environ["DATABASE_PGBOUNCER"] = "true"
    get_settings.cache_clear()
    try:
        await asyncio.to_thread(migrations.upgrade, pgbouncer.url())
    finally:
        del os.environ["DATABASE_PGBOUNCER"]
        get_settings.cache_clear()
    app = create_app(app_settings(pgbouncer.url(), database_pgbouncer=True))
    yield app
    await app.state.engine.dispose()


@pytest.fixture(scope="module")
async def writer(database: URL) -> dict[str, str]:
    key = await write_key(database, Scope.write)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_a_round_of_writes_and_reads(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/organizations",
        json={"id": "bouncer-org", "name": "Through PgBouncer", "kind": "other"},
        headers=writer,
    )
    assert created.status_code == 201, created.text
    assert (await client.get("/v1/organizations/bouncer-org")).json()["name"] == (
        "Through PgBouncer"
    )
    imported = await client.post("/v1/import", content=ndjson(*RECORDS), headers=writer | NDJSON)
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == {"organizations": 1, "sources": 1, "claims": 1}
    # Many requests at once over two server connections: statements prepared by one client
    # must never be looked for, or collide, on a connection another client used.
    paths = ["/v1/organizations", "/v1/claims", "/v1/sources/report", "/v1/claims/orphans"] * 5
    answers = await asyncio.gather(*(client.get(path) for path in paths))
    assert [answer.status_code for answer in answers] == [200] * len(paths)
    listed = {record["id"] for record in answers[0].json()["data"]}
    assert {"bouncer-org", "kcna"} <= listed
    found = await client.get("/v1/search", params={"q": "orphans"})
    assert found.status_code == 200, found.text
    assert "orphans" in {hit["id"] for hit in found.json()["data"]}


async def test_the_statement_timeout_holds_in_every_transaction(app: FastAPI) -> None:
    timeouts = set()
    for _ in range(4):  # whichever server connection each transaction gets
        async with app.state.sessionmaker() as session:
            timeouts.add(await session.scalar(text("SHOW statement_timeout")))
    assert timeouts == {"15s"}
