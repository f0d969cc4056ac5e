"""Does the API ride out a database restart under sustained load?

Serves the API (`testimony serve`, a real uvicorn server on a loopback port) on an embedded
PostgreSQL of its own in a temporary folder, filled with generated claims; runs 16 clients
(readers of lists and of records whose creation was acknowledged, writers creating
organizations, an exporter downloading them as NDJSON) for `--seconds`; stops the database in
the middle for `--outage` seconds and starts it again. Prints the answers by status class and
the p50/p99 latency before, during and after the outage, and checks afterwards that every
acknowledged write is there (exit status 1 when one is missing, or when an answer was a 5xx
other than 503 or no answer at all).

    .venv/bin/python -m bench.soak [--seconds 180] [--outage 10] [--clients 16]

It always uses its own server (it stops it), never BENCH_DATABASE_URL nor the embedded server
of the data folder.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from bench.pagination import prepare
from tests.outages import (
    Load,
    ScratchPostgres,
    ServedApi,
    existing,
    report,
    run_outage,
    status_class,
    timeline,
    write_key,
)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0, help="Whole run.")
    parser.add_argument("--outage", type=float, default=10.0, help="Seconds the database is down.")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--exporters", type=int, default=1)
    parser.add_argument("--rows", type=int, default=5000, help="Generated claims to read.")
    parser.add_argument("--window", type=float, default=20.0, help="Seconds per timeline row.")
    args = parser.parse_args()
    readers = args.clients - args.writers - args.exporters
    if readers < 1 or args.outage >= args.seconds:
        parser.error("needs at least one reader, and an outage shorter than the run")

    postgres = await asyncio.to_thread(ScratchPostgres)
    try:
        url = postgres.url()
        started = time.perf_counter()
        await prepare(url, args.rows)
        print(f"filled {args.rows} claims in {time.perf_counter() - started:.1f} s")
        api = ServedApi(url, postgres.folder)
        try:
            await api.wait_ready()
            load = Load(
                api.base_url,
                await write_key(url),
                readers=readers,
                writers=args.writers,
                exporters=args.exporters,
                timeout=60.0,
                read_paths=("/v1/claims?limit=20&sort=value", "/v1/organizations?limit=20"),
                prefix="soak",
            )
            print(
                f"{args.clients} clients ({readers} readers, {args.writers} writers, "
                f"{args.exporters} exporters) for {args.seconds:.0f} s, the database down for "
                f"{args.outage:.0f} s in the middle"
            )
            running = asyncio.create_task(load.run())
            try:
                await asyncio.sleep((args.seconds - args.outage) / 2)
                outage = await run_outage(
                    load, postgres, api.base_url, down=args.outage, recovery_limit=60.0
                )
                await asyncio.sleep(max(0.0, (args.seconds - args.outage) / 2 - outage.recovery))
            finally:
                load.stop()
                await running
        finally:
            api.terminate()
        for line in report(load.answers):
            print(line)
        for line in timeline(load.answers, args.window):
            print(line)
        print(
            f"database stop {outage.stopping:.2f} s, restart {outage.starting:.2f} s, "
            f"/readyz ready {outage.recovery:.2f} s after the restart "
            f"(while down: {outage.ready_while_down.status_code})"
        )
        by_kind = Counter((a.kind, status_class(a)) for a in load.answers)
        print(
            "by client: "
            + ", ".join(
                f"{kind} {name}: {count}" for (kind, name), count in sorted(by_kind.items())
            )
        )
        found = await existing(url, "organizations", load.acknowledged)
        stored = await existing(url, "organizations", load.unacknowledged)
        print(
            f"writes acknowledged {len(load.acknowledged)}, found afterwards {len(found)}; "
            f"not acknowledged {len(load.unacknowledged)}, of which stored {len(stored)}"
        )
        classes = Counter(status_class(a) for a in load.answers)
        lookups_lost = sum(1 for a in load.answers if a.kind == "lookup" and a.status == 404)
        bad_503 = sum(1 for a in load.answers if a.status == 503 and a.failure)
        failed = (
            len(found) != len(load.acknowledged)
            or classes["other 5xx"]
            or classes["no answer"]
            or lookups_lost
            or bad_503
        )
        print("FAILED" if failed else "OK: every acknowledged write is there, no 5xx but 503")
        return 1 if failed else 0
    finally:
        await asyncio.to_thread(postgres.close)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
