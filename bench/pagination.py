"""Does page 1,000 cost what page 1 costs?

Fills a scratch database with generated claims (100,000 by default), walks /v1/claims page by
page through the app in-process, and prints the latency of the first and the last pages for
each sort. Keyset pagination should show no growth with depth.

    .venv/bin/python -m bench.pagination [--rows 100000] [--pages 1000] [--limit 50]

It uses the embedded server (a `testimony_bench` database) or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import httpx
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.db import migrations
from app.db.embedded import embedded_server_url
from app.db.engine import async_url, make_engine
from app.main import create_app
from app.settings import Settings, get_settings
from tests.conftest import recreate_database

FILL = """
INSERT INTO organizations (id, name, kind) VALUES ('bench-org', 'Bench', 'other');
INSERT INTO sources (id, title, source_type) VALUES ('bench-source', 'Bench', 'other');
INSERT INTO claims (id, statement, metric, value, value_min, value_max, unit, approximation,
                    period_start, period_start_precision, period_end, period_end_precision,
                    claimant_organization_id, stance, source_id, quote)
SELECT 'claim-' || lpad(n::text, 7, '0'), 'Generated claim.', 'persons_count',
       (n * 7919) % 100000, (n * 7919) % 100000, (n * 7919) % 100000, 'persons', 'exact',
       DATE '1950-01-01' + (n % 25000), 'day', DATE '1950-01-01' + (n % 25000), 'day',
       'bench-org', 'asserts', 'bench-source', 'generated'
FROM generate_series(1, :rows) AS n;
ANALYZE;
"""


def bench_url() -> URL:
    configured = os.environ.get("BENCH_DATABASE_URL")
    if configured:
        return async_url(configured)
    return embedded_server_url(get_settings().data_dir, "testimony_bench")


async def prepare(url: URL, rows: int) -> None:
    await recreate_database(url)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = make_engine(url, pooled=False)
    async with engine.begin() as connection:
        for statement in FILL.split(";"):
            if statement.strip():
                await connection.execute(text(statement), {"rows": rows})
    await engine.dispose()


async def walk(client: httpx.AsyncClient, sort: str, pages: int, limit: int) -> list[float]:
    timings: list[float] = []
    url: str | None = f"/v1/claims?limit={limit}&sort={sort}"
    while url and len(timings) < pages:
        started = time.perf_counter()
        response = await client.get(url)
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
        url = response.json()["links"]["next"]
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args()

    url = bench_url()
    started = time.perf_counter()
    await prepare(url, args.rows)
    print(f"filled {args.rows} claims in {time.perf_counter() - started:.1f} s")

    settings = Settings(
        database_url=url.render_as_string(hide_password=False),
        rate_limit_anonymous="100000000/minute",  # measuring the queries, not the limiter
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        print(f"{'sort':<14}{'pages':>7}{'first 10 (ms)':>16}{'last 10 (ms)':>15}")
        for sort in ("id", "value", "-period_start", "updated_at"):
            timings = await walk(client, sort, args.pages, args.limit)
            first = statistics.median(timings[:10]) * 1000
            last = statistics.median(timings[-10:]) * 1000
            print(f"{sort:<14}{len(timings):>7}{first:>16.1f}{last:>15.1f}")
    await app.state.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
