"""Rate limits counted in Redis: one budget for a client across several API processes, and
requests let through (with a logged warning) while Redis is down."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.outages import ServedApi
from tests.servers import RedisServer, missing

pytestmark = pytest.mark.skipif(
    missing("redis-server") is not None,
    reason="redis-server is not installed (Debian package redis-server)",
)

BUDGET = 4


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
async def apis(database_url: URL, redis: RedisServer) -> AsyncIterator[list[ServedApi]]:
    folder = Path(tempfile.mkdtemp(prefix="testimony-shared-limits-"))
    served = [
        ServedApi(
            database_url,
            folder,
            # Spelled as the synchronous client's URL: the app takes the async one.
            rate_limit_storage=redis.url,
            rate_limit_anonymous=f"{BUDGET}/minute",
        )
        for _ in range(2)
    ]
    try:
        for api in served:
            await api.wait_ready()
        yield served
    finally:
        for api in served:
            api.terminate()
        shutil.rmtree(folder, ignore_errors=True)


async def test_one_budget_across_processes(apis: list[ServedApi]) -> None:
    first, second = apis
    async with (
        httpx.AsyncClient(base_url=first.base_url) as one,
        httpx.AsyncClient(base_url=second.base_url) as other,
    ):
        spent = [await one.get("/v1/organizations") for _ in range(BUDGET)]
        assert [answer.status_code for answer in spent] == [200] * BUDGET
        assert ";r=0;" in spent[-1].headers["ratelimit"]
        refused = await other.get("/v1/organizations")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1


async def test_requests_go_through_unlimited_while_redis_is_down(
    apis: list[ServedApi], redis: RedisServer
) -> None:
    first, _ = apis
    redis.stop()
    try:
        async with httpx.AsyncClient(base_url=first.base_url) as client:
            started = time.monotonic()
            answers = [await client.get("/v1/organizations") for _ in range(BUDGET + 2)]
            took = time.monotonic() - started
    finally:
        redis.start()
    # Even though this address used its budget in the test before: nothing is counted.
    assert [answer.status_code for answer in answers] == [200] * (BUDGET + 2)
    assert "ratelimit-limit" not in answers[0].headers
    # One failed attempt, then Redis is left alone for a while: no per-request timeouts.
    assert took < 5
    assert "rate limits not enforced" in first.log.read_text()
