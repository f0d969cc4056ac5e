"""Single claims POSTed into one large subject group, timed through the app in process.

Fills a new database (bench/scale.py, every `--every`th claim in the large group: 20,000
claims hold a group of 10,000 by default), renders it with `testimony views rebuild`, then
POSTs `--posts` claims one after another into that group through the ASGI app and prints
p50 and p99, after `--warmup` POSTs left untimed (the pool's connections preparing their
statements). `--profile FILE` writes a cProfile of the timed POSTs.

    python -m bench.posts                                  # create, fill, time, drop
    python -m bench.posts --database posts_bench --keep    # keep it for the next run
    python -m bench.posts --database posts_bench --reuse   # time it again as it is
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.main import create_app
from app.settings import Settings
from bench.compare import (
    CURSOR_SECRET,
    Run,
    admin,
    database_exists,
    fill,
    group_claim,
    group_quote,
    loadavg,
    machine,
)
from bench.scale import Scale


async def time_posts(
    dsn: str, count: int, tag: str, profile: Path | None, warmup: int = 0
) -> list[float]:
    """Seconds of each POST after the first `warmup`, made one after another through the
    app in process."""
    app = create_app(
        Settings(
            database_url=dsn,
            cursor_secret=CURSOR_SECRET,
            rate_limit_anonymous="1000000000/minute",
            rate_limit_key="1000000000/minute",
        )
    )
    async with AsyncSession(app.state.engine) as session, session.begin():
        _, key = await create_key(session, f"bench {tag}", [Scope.write])
    quoted, _size = await group_quote(dsn)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    timings: list[float] = []
    profiler = cProfile.Profile() if profile else None
    try:
        async with (
            app.router.lifespan_context(app),  # started as a served process starts
            httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=headers, timeout=60
            ) as client,
        ):
            for n in range(warmup + count):
                record = group_claim(tag, n, quoted)
                timed = n >= warmup
                if profiler and timed:
                    profiler.enable()
                started = time.perf_counter()
                response = await client.post("/v1/claims", json=record)
                if timed:
                    timings.append(time.perf_counter() - started)
                if profiler and timed:
                    profiler.disable()
                if response.status_code != 201:
                    sys.exit(f"POST failed: {response.status_code} {response.text[:500]}")
    finally:
        await app.state.engine.dispose()
    if profiler and profile:
        profiler.dump_stats(profile)
    return timings


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--group", type=int, default=10_000, help="Claims in the large group.")
    parser.add_argument("--every", type=int, default=2, help="One claim in this many is in it.")
    parser.add_argument("--posts", type=int, default=200, help="Single POSTs to time.")
    parser.add_argument("--warmup", type=int, default=5, help="POSTs before, untimed.")
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", help="Database name; default a new posts_<time>.")
    parser.add_argument("--reuse", action="store_true", help="Time --database as it is.")
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    parser.add_argument("--profile", type=Path, help="Write a cProfile of the POSTs here.")
    args = parser.parse_args()
    if args.reuse and not args.database:
        parser.error("--reuse needs --database")
    return args


async def main() -> None:
    args = arguments()
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = args.database or f"posts_{tag}"
    server_url = args.server_url.rstrip("/")
    dsn = f"{server_url}/{name}"
    scale = Scale(args.group * args.every, group_every=args.every)
    run = Run(machine=machine(), scale=scale.counts())
    env = os.environ | {"DATABASE_URL": dsn, "CURSOR_SECRET": CURSOR_SECRET}
    exists = await database_exists(server_url, name)
    if exists and not args.reuse:
        sys.exit(f"database {name} exists: pass --reuse to time it as it is, or another name")
    if args.reuse and not exists:
        sys.exit(f"database {name} does not exist")
    created = not args.reuse
    try:
        if created:
            await admin(server_url, f'CREATE DATABASE "{name}"')
            await fill(dsn, scale, env, run)
        _, size = await group_quote(dsn)
        timings = await time_posts(dsn, args.posts, tag, args.profile, args.warmup)
    finally:
        if created and not args.keep:
            await admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    print(
        f"{args.posts} POSTs (after {args.warmup}) into a subject group of {size} claims "
        f"({name}, load "
        f"{' '.join(loadavg())}): p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
