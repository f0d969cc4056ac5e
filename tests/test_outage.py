"""A database outage under load: the API answers 503 with Retry-After, fast, never another 5xx
nor a reset connection; it is ready again soon after the restart without being restarted
itself; and no acknowledged write is lost.

The API is served by `testimony serve` in a process of its own on a loopback port, on an
embedded PostgreSQL of its own in a temporary folder (tests/outages.py), so stopping that
server disturbs nobody else's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from tests import CHECKOUT, factories
from tests.outages import (
    TESTIMONY,
    Load,
    ScratchPostgres,
    ServedApi,
    existing,
    prepare_database,
    report,
    run_outage,
    status_class,
    write_key,
)

# The API's deadlines in these tests: no request may take longer than their sum, plus a margin.
STATEMENT_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
POOL_TIMEOUT = 2.0
DEADLINE = STATEMENT_TIMEOUT + CONNECT_TIMEOUT + POOL_TIMEOUT
MARGIN = 5.0


@asynccontextmanager
async def admin(postgres: ScratchPostgres) -> AsyncIterator[AsyncConnection]:
    """A connection of the test's own to the scratch database, in a transaction committed
    when the block ends."""
    engine = create_async_engine(postgres.url(), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            yield connection
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def postgres() -> AsyncIterator[ScratchPostgres]:
    server = await asyncio.to_thread(ScratchPostgres)
    try:
        await prepare_database(server.url())
        yield server
    finally:
        await asyncio.to_thread(server.close)


@pytest.fixture(scope="module")
async def api(postgres: ScratchPostgres) -> AsyncIterator[ServedApi]:
    served = ServedApi(
        postgres.url(),
        postgres.folder,
        database_statement_timeout=STATEMENT_TIMEOUT,
        database_connect_timeout=CONNECT_TIMEOUT,
        database_pool_timeout=POOL_TIMEOUT,
    )
    try:
        await served.wait_ready()
        yield served
    finally:
        served.terminate()


async def test_an_outage_is_503s_and_loses_no_acknowledged_write(
    postgres: ScratchPostgres, api: ServedApi
) -> None:
    # Nine clients, as when the defect was seen: readers, writers and an exporter.
    load = Load(
        api.base_url,
        await write_key(postgres.url()),
        readers=4,
        writers=4,
        exporters=1,
        timeout=DEADLINE + MARGIN,
        max_requests=20_000,
    )
    running = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(2.0)
        outage = await run_outage(load, postgres, api.base_url, down=3.0, recovery_limit=10.0)
        await asyncio.sleep(2.0)
    finally:
        load.stop()
        await asyncio.wait_for(running, DEADLINE + MARGIN)

    answers = load.answers
    print()
    print("\n".join(report(answers)))
    print(
        f"database stop {outage.stopping:.2f} s, restart {outage.starting:.2f} s, "
        f"ready {outage.recovery:.2f} s after the restart"
    )
    by_class = Counter(status_class(a) for a in answers)
    during = Counter(status_class(a) for a in answers if a.phase == "during")

    # The outage happened and was answered with 503s.
    assert during["503"] > 0, during
    assert outage.ready_while_down.status_code == 503
    assert outage.ready_while_down.headers["content-type"] == "application/problem+json"
    assert "retry-after" in outage.ready_while_down.headers
    # Nothing but 503s among the server errors, each a problem document with Retry-After.
    assert by_class["other 5xx"] == 0, [a for a in answers if status_class(a) == "other 5xx"]
    assert [a for a in answers if a.status == 503 and a.failure] == []
    # Every request had an HTTP answer: no connection reset, no timeout. (An export's 200
    # cannot turn into a 503; broken off, its body is incomplete, which the client sees.)
    assert [a for a in answers if a.status is None] == []
    assert all(a.kind == "export" for a in answers if a.cut)
    # No request waited past the deadline.
    slowest = max(answers, key=lambda a: a.seconds)
    assert slowest.seconds < DEADLINE + MARGIN, slowest
    # Nothing else went wrong: reads and writes answer 200 and 201, or 503.
    assert {a.status for a in answers} <= {200, 201, 503}, Counter(a.status for a in answers)

    # Ready again without restarting the API, which answers as before.
    assert outage.recovery < 10.0
    after = [a for a in answers if a.phase == "after" and a.status in (200, 201)]
    assert {a.kind for a in after} >= {"read", "write"}
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/v1/organizations?limit=1")).status_code == 200

    # Every acknowledged write is there.
    found = await existing(postgres.url(), "organizations", load.acknowledged)
    print(
        f"writes acknowledged {len(load.acknowledged)}, found {len(found)}; "
        f"unacknowledged {len(load.unacknowledged)}, of which stored "
        f"{len(await existing(postgres.url(), 'organizations', load.unacknowledged))}"
    )
    assert load.acknowledged
    assert set(load.acknowledged) == found


async def test_an_export_that_loses_the_database_is_broken_off(
    postgres: ScratchPostgres, api: ServedApi
) -> None:
    # Enough organizations that the export is still streaming when its connection is lost.
    async with admin(postgres) as connection:
        await connection.execute(
            text(
                "INSERT INTO organizations (id, name, kind) SELECT 'bulk-' || n, 'Bulk ' || n, "
                "'other' FROM generate_series(1, 40000) AS n"
            )
        )
        await factories.render_missing(connection)
    received = bytearray()
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=api.base_url, timeout=DEADLINE + MARGIN) as client:
        async with client.stream("GET", "/v1/organizations?format=ndjson") as response:
            assert response.status_code == 200
            chunks = response.aiter_bytes()
            received += await anext(chunks)
            # Every connection of the API is lost, the export's snapshot among them.
            async with admin(postgres) as connection:
                terminated = await connection.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                    )
                )
            assert terminated

            async def rest() -> None:
                async for chunk in chunks:
                    received.extend(chunk)

            with pytest.raises(httpx.RemoteProtocolError):
                await rest()
        seconds = time.perf_counter() - started
        # The next request gets a fresh connection.
        assert (await client.get("/readyz")).status_code == 200

    # Broken off promptly, after whole records: the client knows the file is incomplete.
    assert seconds < DEADLINE
    lines = bytes(received).splitlines()
    assert 0 < len(lines) < 40000
    assert received.endswith(b"\n")
    assert all(json.loads(line)["id"] for line in lines)
    assert "was cut after" in api.tail(200)


def import_lines(prefix: str, count: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "type": "organization",
                "record": {"id": f"{prefix}-{n}", "name": f"Imported {n}", "kind": "other"},
            }
        ).encode()
        + b"\n"
        for n in range(count)
    ]


async def test_sigterm_lets_a_request_in_flight_finish(postgres: ScratchPostgres) -> None:
    served = ServedApi(postgres.url(), postgres.folder, database_statement_timeout=10)
    await served.wait_ready()
    try:
        key = await write_key(postgres.url())
        lines = import_lines("graceful", 20)
        half_sent, go_on = asyncio.Event(), asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            for line in lines[:10]:
                yield line
            half_sent.set()
            await go_on.wait()
            for line in lines[10:]:
                yield line

        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
            request = asyncio.create_task(
                client.post(
                    "/v1/import",
                    content=body(),
                    headers={
                        "Authorization": f"Bearer {key}",
                        "Content-Type": "application/x-ndjson",
                    },
                )
            )
            await asyncio.wait_for(half_sent.wait(), 10)
            await asyncio.sleep(0.2)
            served.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            assert served.process.poll() is None  # waiting for the request in flight
            go_on.set()
            response = await asyncio.wait_for(request, 30)
        assert response.status_code == 200, response.text
        assert response.json()["created"] == {"organizations": 20}
        assert await asyncio.to_thread(served.process.wait, 30) == -signal.SIGTERM
        ids = [f"graceful-{n}" for n in range(20)]
        assert await existing(postgres.url(), "organizations", ids) == set(ids)

    finally:
        served.terminate()


async def test_an_import_cancelled_by_shutdown_leaves_nothing_half_written(
    postgres: ScratchPostgres,
) -> None:
    served = ServedApi(
        postgres.url(), postgres.folder, database_statement_timeout=30, graceful_shutdown_seconds=1
    )
    await served.wait_ready()
    try:
        key = await write_key(postgres.url())
        ids = [f"cancelled-{n}" for n in range(50)]
        async with admin(postgres) as lock:
            # The import's records are written, then it waits on this lock to index them: still
            # waiting when the shutdown's grace period ends, it is cancelled mid-transaction.
            await lock.execute(text("LOCK TABLE search_documents IN ACCESS EXCLUSIVE MODE"))
            async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
                request = asyncio.create_task(
                    client.post(
                        "/v1/import",
                        content=b"".join(import_lines("cancelled", 50)),
                        headers={
                            "Authorization": f"Bearer {key}",
                            "Content-Type": "application/x-ndjson",
                        },
                    )
                )
                for _ in range(200):
                    # A transaction that has written (it has an xid) and waits for the lock. (A
                    # transaction sees one snapshot of the statistics: a new one each time.)
                    async with admin(postgres) as watch:
                        waiting = await watch.scalar(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                "'Lock' AND backend_xid IS NOT NULL"
                            )
                        )
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                assert waiting
                started = time.perf_counter()
                served.process.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(served.process.wait, 20) == -signal.SIGTERM
                stopped = time.perf_counter() - started
                # Cancelled after the grace period: the client hears so, and may retry.
                answer = await request
            await lock.rollback()
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"].isdigit()
        assert stopped < 10
        assert await existing(postgres.url(), "organizations", ids) == set()
        # No transaction of the stopped server's is left open.
        async with admin(postgres) as connection:
            left = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND (backend_xid IS NOT NULL OR state LIKE 'idle in transaction%')"
                )
            )
        assert left == 0
    finally:
        served.terminate()


async def test_testimony_import_stopped_by_sigterm_leaves_nothing(
    postgres: ScratchPostgres,
) -> None:
    ids = [f"cli-import-{n}" for n in range(6000)]
    path = postgres.folder / "import.ndjson"
    path.write_bytes(b"".join(import_lines("cli-import", len(ids))))
    env = os.environ | {
        "DATABASE_URL": postgres.url().render_as_string(hide_password=False),
        "PYTHONPATH": str(CHECKOUT),
    }
    process = await asyncio.create_subprocess_exec(
        *TESTIMONY,
        "import",
        str(path),
        cwd=CHECKOUT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            # Stopped once it has written some of the records.
            async with admin(postgres) as watch:
                writing = await watch.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                        "AND backend_xid IS NOT NULL"
                    )
                )
            if writing or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert writing
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == -signal.SIGTERM
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert await existing(postgres.url(), "organizations", ids) == set()
