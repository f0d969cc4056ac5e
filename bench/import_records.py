"""How long does a bulk import of 100,000 records take?

Writes an NDJSON file of generated records (organizations, sources with archived texts, and
claims quoting them), then imports it into a scratch database the way `testimony import`
does: validated, checked against the sources, written with revisions and search documents in
one transaction, each record through the code of a single create.

    .venv/bin/python -m bench.import_records [--records 100000]

It uses the embedded server (a `testimony_bench` database) or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

# Declares every kind of record to the import and the rendering of views.
import app.kinds  # noqa: F401
from app.changes.imports import command_line, run_import
from app.db import migrations
from app.db.engine import make_engine
from app.rendering.indexing import index_pending
from bench.pagination import bench_url
from tests.conftest import recreate_database


def generate(path: Path, records: int) -> None:
    organizations = max(1, records // 100)
    sources = max(1, records // 10)
    claims = records - organizations - sources
    with path.open("w", encoding="utf-8") as out:
        for n in range(organizations):
            record = {"id": f"org-{n}", "name": f"Organization {n}", "kind": "ngo"}
            out.write(json.dumps({"type": "organization", "record": record}) + "\n")
        for n in range(sources):
            text = f"Report {n}: the source says {n % 997} people were forced to work."
            record = {
                "id": f"source-{n}",
                "title": f"Report {n}",
                "publisher": f"org-{n % organizations}",
                "source_type": "ngo_report",
                "archived_text": text,
            }
            out.write(json.dumps({"type": "source", "record": record}) + "\n")
        for n in range(claims):
            source = n % sources
            record = {
                "id": f"claim-{n}",
                "statement": f"Report {source} alleges {source % 997} people were forced to work.",
                "metric": "persons_count",
                "value": source % 997,
                "unit": "persons",
                "claimant_organization": f"org-{source % organizations}",
                "source": f"source-{source}",
                "quote": f"{source % 997} people were forced to work",
            }
            out.write(json.dumps({"type": "claim", "record": record}) + "\n")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    url = bench_url()
    await recreate_database(url)
    await asyncio.to_thread(migrations.upgrade, url)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.ndjson"
        generate(path, args.records)
        raw = path.read_bytes()
        print(f"{args.records} records, {len(raw) / 1e6:.1f} MB of NDJSON")
        engine = make_engine(url, pooled=False)
        started = time.perf_counter()
        async with async_sessionmaker(engine)() as session, session.begin():
            report, _ = await run_import(session, raw, command_line("import"), dry_run=False)
            await index_pending(session)
        elapsed = time.perf_counter() - started
        await engine.dispose()
    print(f"created {report.created}")
    print(f"imported in {elapsed:.1f} s ({args.records / elapsed:,.0f} records/s)")


if __name__ == "__main__":
    asyncio.run(main())
