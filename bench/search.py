"""How fast are search, `q` on a list, facets and statistics on 100,000 rows?

Fills a scratch database with generated claims and facilities and their search documents
(the same fill as tests/test_search_plans.py), then times requests through the app
in-process: the median of repeated runs of each.

    .venv/bin/python -m bench.search [--rows 100000] [--runs 20]

It uses the embedded server (a `testimony_bench` database) or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
from sqlalchemy import text

from app.db import migrations
from app.db.engine import make_engine
from app.main import create_app
from app.settings import Settings
from bench.pagination import bench_url
from tests.conftest import recreate_database
from tests.test_search_plans import FILL

REQUESTS = [
    "/v1/search?q=volunteered",
    "/v1/search?q=Kaechon",
    "/v1/search?q=Gaecheon",
    "/v1/search?q=%22were%20counted%22&limit=50",
    "/v1/claims?q=volunteered",
    "/v1/facilities?q=Kaech%27on",
    "/v1/claims?facility=gen-facility-7&facet=metric&facet=unit",
    "/v1/facilities?facet=province&facet=facility_type&limit=1",
    "/v1/claims?facet=metric&limit=1",
    "/v1/stats",
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    url = bench_url()
    started = time.perf_counter()
    await recreate_database(url)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = make_engine(url, pooled=False)
    async with engine.begin() as connection:
        for statement in FILL.split(";\n"):
            await connection.execute(text(statement), {"rows": args.rows})
    await engine.dispose()
    print(f"filled {args.rows} claims and facilities in {time.perf_counter() - started:.1f} s")

    settings = Settings(
        database_url=url.render_as_string(hide_password=False),
        rate_limit_anonymous="100000000/minute",  # measuring the queries, not the limiter
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        print(f"{'request':<64}{'median (ms)':>12}")
        for path in REQUESTS:
            timings = []
            for _ in range(args.runs):
                begun = time.perf_counter()
                response = await client.get(path)
                timings.append(time.perf_counter() - begun)
                response.raise_for_status()
            print(f"{path:<64}{statistics.median(timings) * 1000:>12.1f}")
    await app.state.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
