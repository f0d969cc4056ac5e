"""What each piece of the multi-machine set-up costs a request.

Starts a PostgreSQL 15 primary with a streaming replica, a PgBouncer (transaction mode) in front
of the primary and a Redis (tests/servers.py), writes `--records` organizations, then reads
through the app in-process, one request at a time, for each set-up:

- primary:          DATABASE_URL only (the baseline)
- replica:          DATABASE_REPLICA_URL set, reads served by the replica
- read-after-write: the same, for a client whose write the replica has replayed already
- pgbouncer:        DATABASE_URL through PgBouncer, DATABASE_PGBOUNCER=true
- redis limits:     the baseline with RATE_LIMIT_STORAGE on Redis

and prints the median and 95th percentile latency of a list page and of a record.

    .venv/bin/python -m bench.deployment [--requests 1000] [--records 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence

import httpx
from fastapi import FastAPI

from app.auth.scopes import Scope
from app.main import create_app
from tests.conftest import app_settings
from tests.outages import prepare_database, write_key
from tests.servers import PgBouncer, RedisServer, ReplicatedPostgres

DATABASE = "testimony"
ROUNDS = 10


async def timed(client: httpx.AsyncClient, paths: Sequence[str], requests: int) -> list[float]:
    seconds = []
    for number in range(requests):
        started = time.perf_counter()
        answer = await client.get(paths[number % len(paths)])
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    return seconds


def summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms   p95 {p95 * 1000:6.2f} ms"


class Setup:
    """An app and a client of it, with the latencies measured so far."""

    def __init__(self, name: str, app: FastAPI, headers: dict[str, str]) -> None:
        self.name = name
        self.app = app
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers
        )
        self.pages: list[float] = []
        self.records: list[float] = []

    async def start(self) -> None:
        if self.name == "read-after-write":
            answer = await self.client.post(
                "/v1/organizations",
                json={"id": "bench-written", "name": "Written", "kind": "other"},
            )
            assert answer.status_code == 201, answer.text
            await asyncio.sleep(0.2)  # replayed by now: the client's reads may leave the primary
        await timed(self.client, ["/v1/organizations?limit=20"], 20)  # warm pools and caches

    async def round(self, requests: int, ids: Sequence[str]) -> None:
        self.pages += await timed(self.client, ["/v1/organizations?limit=20"], requests)
        paths = [f"/v1/organizations/{i}" for i in ids]
        self.records += await timed(self.client, paths, requests)

    async def close(self) -> None:
        await self.client.aclose()
        await self.app.state.engine.dispose()
        if self.app.state.replica:
            await self.app.state.replica.engine.dispose()

    def report(self) -> str:
        served = self.app.state.replica.served if self.app.state.replica else ""
        return (
            f"{self.name:17} list {summary(self.pages)}   record {summary(self.records)}   {served}"
        )


async def main(requests: int, records: int) -> None:
    pair = await asyncio.to_thread(ReplicatedPostgres)
    redis = await asyncio.to_thread(RedisServer)
    bouncer = None
    try:
        primary = pair.primary.url(DATABASE)
        await prepare_database(primary)
        bouncer = await asyncio.to_thread(PgBouncer, primary, DATABASE, 5)
        key = await write_key(primary, Scope.write)
        headers = {"Authorization": f"Bearer {key}"}
        ids = [f"bench-{n:04}" for n in range(records)]
        writer = create_app(app_settings(primary))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=writer), base_url="http://bench", headers=headers
        ) as client:
            for record in ids:
                body = {"id": record, "name": f"Organization {record}", "kind": "other"}
                assert (await client.post("/v1/organizations", json=body)).status_code == 201
        await writer.state.engine.dispose()
        await asyncio.to_thread(pair.wait_replayed)
        replica = pair.replica.url(DATABASE).render_as_string()
        setups = {
            "primary": app_settings(primary),
            "replica": app_settings(primary, database_replica_url=replica),
            "read-after-write": app_settings(primary, database_replica_url=replica),
            "pgbouncer": app_settings(bouncer.url(), database_pgbouncer=True),
            "redis limits": app_settings(primary, rate_limit_storage=redis.url),
        }
        print(f"{requests} sequential requests of each kind per set-up, {records} organizations")
        runs = [Setup(name, create_app(settings), headers) for name, settings in setups.items()]
        try:
            for run in runs:
                await run.start()
            # Rounds in turn, so that what else the machine does weighs on every set-up alike.
            for _ in range(ROUNDS):
                for run in runs:
                    await run.round(requests // ROUNDS, ids)
            for run in runs:
                print(run.report())
        finally:
            for run in runs:
                await run.close()
    finally:
        if bouncer is not None:
            bouncer.close()
        redis.close()
        pair.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--records", type=int, default=200)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.records))
