"""Reads served by a streaming replica: a real primary and replica pair, made by initdb and
pg_basebackup on free ports. Replay on the replica is paused where a test needs the replica
behind the primary, so nothing depends on how fast it replays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.auth.scopes import Scope
from app.db.replica import WRITTEN_COOKIE, Replica
from app.main import create_app
from tests.conftest import app_settings
from tests.outages import prepare_database, write_key
from tests.servers import POSTGRES_BIN, ReplicatedPostgres

pytestmark = pytest.mark.skipif(
    not (POSTGRES_BIN / "pg_basebackup").exists(),
    reason=f"PostgreSQL 15 server binaries are not in {POSTGRES_BIN} (Debian postgresql-15)",
)

MAX_LAG = 3.0


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicatedPostgres]:
    servers = ReplicatedPostgres()
    yield servers
    servers.close()


@pytest.fixture(scope="module")
async def app(pair: ReplicatedPostgres) -> AsyncIterator[FastAPI]:
    await prepare_database(pair.primary.url("testimony"))
    app = create_app(
        app_settings(
            pair.primary.url("testimony"),
            database_replica_url=pair.replica.url("testimony").render_as_string(),
            database_replica_max_lag=MAX_LAG,
        )
    )
    await asyncio.to_thread(pair.wait_replayed)
    yield app
    await app.state.engine.dispose()
    await replica_of(app).engine.dispose()


async def warm_up(app: FastAPI, seconds: float = 10.0) -> None:
    """Until a read is served by the replica: the process has found it caught up (until it
    has, after a start or a lag, reads go to the primary)."""
    replica = replica_of(app)
    deadline = time.monotonic() + seconds
    async with client_of(app) as client:
        while True:
            served = replica.served.get("replica", 0)
            assert (await client.get("/v1/organizations")).status_code == 200
            if replica.served.get("replica", 0) > served:
                return
            assert time.monotonic() < deadline, f"no read served by the replica: {replica.served}"
            await asyncio.sleep(0.2)


def replica_of(app: FastAPI) -> Replica:
    replica: Replica = app.state.replica
    return replica


@pytest.fixture(scope="module")
async def writer(pair: ReplicatedPostgres, app: FastAPI) -> dict[str, str]:
    key = await write_key(pair.primary.url("testimony"), Scope.write)
    # The key must be on the replica too: it is looked up where the read is served.
    await asyncio.to_thread(pair.wait_replayed)
    return {"Authorization": f"Bearer {key}"}


def client_of(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client of its own: its own cookies."""
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def create_organization(client: httpx.AsyncClient, name: str) -> str:
    answer = await client.post(
        "/v1/organizations", json={"id": name, "name": name, "kind": "other"}
    )
    assert answer.status_code == 201, answer.text
    assert WRITTEN_COOKIE in answer.cookies
    return f"/v1/organizations/{name}"


async def test_reads_are_served_by_the_replica_and_a_writer_reads_its_write(
    app: FastAPI, pair: ReplicatedPostgres, writer: dict[str, str]
) -> None:
    replica = replica_of(app)
    await warm_up(app)
    pair.pause_replay()
    try:
        async with client_of(app, writer) as writing, client_of(app) as other:
            path = await create_organization(writing, "written-while-paused")
            served_before = replica.served.get("replica", 0)
            # Another client reads from the replica, which has not replayed the write yet.
            assert (await other.get(path)).status_code == 404
            assert replica.served["replica"] == served_before + 1
            # The writer sees its write at once: its read goes to the primary.
            mine = await writing.get(path)
            assert mine.status_code == 200, mine.text
            cookie = writing.cookies[WRITTEN_COOKIE]
        # The key is remembered by the process that served the write (no cookie sent) ...
        async with client_of(app, writer) as same_key_without_cookie:
            assert (await same_key_without_cookie.get(path)).status_code == 200
        # ... and the cookie is honoured by any process (no key sent).
        async with client_of(app) as cookie_only:
            cookie_only.cookies.set(WRITTEN_COOKIE, cookie)
            assert (await cookie_only.get(path)).status_code == 200
        assert replica.served["primary: own write not replayed"] >= 3
    finally:
        pair.resume_replay()
    await asyncio.to_thread(pair.wait_replayed)
    async with client_of(app, writer) as writing:
        served_before = replica.served["replica"]
        assert (await writing.get(path)).status_code == 200
        assert replica.served["replica"] == served_before + 1  # replayed: the replica serves
        # The change feed's horizon is read from the replica's own snapshot.
        changes = await writing.get("/v1/changes", params={"limit": 100})
        assert changes.status_code == 200, changes.text
        assert "written-while-paused" in {change["record_id"] for change in changes.json()["data"]}


async def test_a_disclosure_read_from_the_replica_is_audited_on_the_primary(
    app: FastAPI, pair: ReplicatedPostgres
) -> None:
    replica = replica_of(app)
    key = await write_key(pair.primary.url("testimony"), Scope.write, Scope.read_restricted)
    async with client_of(app, {"Authorization": f"Bearer {key}"}) as reader:
        created = await reader.post(
            "/v1/sources",
            json={
                "id": "restricted-report",
                "title": "Restricted report",
                "source_type": "ngo_report",
                "protection_level": "restricted",
                "protection_reason": "names a witness's village",
            },
        )
        assert created.status_code == 201, created.text
        await asyncio.to_thread(pair.wait_replayed)
        audited = "SELECT count(*) FROM audit_events WHERE action = 'read_restricted'"
        before = int(pair.primary.psql(audited, "testimony"))
        served_before = replica.served["replica"]
        shown = await reader.get("/v1/sources/restricted-report")
        assert shown.status_code == 200, shown.text
        assert replica.served["replica"] == served_before + 1
    assert int(pair.primary.psql(audited, "testimony")) == before + 1


async def test_a_replica_lagging_beyond_the_bound_is_left_for_the_primary(
    app: FastAPI, pair: ReplicatedPostgres, writer: dict[str, str]
) -> None:
    replica = replica_of(app)
    await warm_up(app)
    pair.pause_replay()
    try:
        async with client_of(app, writer) as writing, client_of(app) as other:
            path = await create_organization(writing, "written-before-the-lag")
            assert (await other.get(path)).status_code == 404  # the replica, behind
            # Replay stays paused: once the replica is MAX_LAG behind, reads leave it.
            deadline = time.monotonic() + MAX_LAG + 10
            while (await other.get(path)).status_code == 404:
                assert time.monotonic() < deadline, "reads stayed on a lagging replica"
                await asyncio.sleep(0.2)
        assert replica.served["primary: replica lagging"] >= 1
    finally:
        pair.resume_replay()
    await asyncio.to_thread(pair.wait_replayed)


async def test_reads_go_to_the_primary_when_the_replica_is_down(
    app: FastAPI, pair: ReplicatedPostgres, writer: dict[str, str]
) -> None:
    replica = replica_of(app)
    async with client_of(app, writer) as writing:
        path = await create_organization(writing, "written-before-the-outage")
    await asyncio.to_thread(pair.wait_replayed)
    await warm_up(app)
    async with client_of(app) as reading:
        await asyncio.to_thread(pair.replica.stop)
        served = replica.served["replica"]
        answers = [await reading.get(path), await reading.get("/v1/organizations")]
        assert [answer.status_code for answer in answers] == [200, 200]
        assert answers[1].json()["data"]
        export = await reading.get("/v1/organizations", params={"format": "ndjson"})
        assert export.status_code == 200
        assert "written-before-the-outage" in export.text
        # Noticed by the first read that fails to connect, or else by the next probe.
        deadline = time.monotonic() + 5
        while not replica.served.get("primary: replica unreachable"):
            assert time.monotonic() < deadline, f"the outage went unnoticed: {replica.served}"
            assert (await reading.get(path)).status_code == 200
            await asyncio.sleep(0.2)
    assert replica.served["replica"] == served
