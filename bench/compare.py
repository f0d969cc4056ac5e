"""The API side by side with two floors, on the same claims at scale.

In one run:

1. fills a new database by set-based SQL (bench/scale.py: a million claims by default, and
   testimonies, facilities, sources and organizations in proportion), after migrating it
   with `testimony db upgrade`, then builds derived data with the project's own command
   (`testimony views rebuild`: stored views and search documents, from one rendering);
2. serves three peers, each its own process on its own port: the project (`testimony
   serve`), Datasette over a SQLite copy of the same claims, and bench/minimal_app.py (the
   project's page SQL behind a bare ASGI app);
3. drives them with wrk (16 connections, interleaved: every peer on one work, then every
   peer on the next) on seven works: page 1, a filtered page, a page at 90% depth, a search
   for a rare word and for a word in a tenth of the claims, statistics, and a facet;
4. measures bulk work against PostgreSQL's COPY: the CSV and NDJSON exports of every claim,
   an import of a tenth as many claims as the corpus holds, single POSTs into a subject
   group of 1% of the claims, and the derived data's rebuild;
5. prints both tables (markdown) with the machine, its load and the date, and writes them
   as JSON to `--output`.

    python -m bench.compare --claims 20000 --duration 3 --skip exports   # five minutes
    python -m bench.compare --claims 20000 --duration 3                  # fifteen
    python -m bench.compare --output bench-1m.json                       # a million claims
    python -m bench.compare --reuse --database NAME --skip load --skip posts --skip import
                                                        # the exports of a database as it is

Most of a small run is the fill and the rendering of every record.

It needs wrk (Debian: `apt-get install -y wrk`) and the `bench` extra (`pip install -e
'.[bench]'`). The database is created on `--server-url` and dropped at the end unless
`--keep`; `--reuse` measures an existing one as it is (no fill).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx

from app.claims.schemas import ClaimQuery
from app.kit.pagination import Cursors, fingerprint
from bench.exports import download, free_port, memory_kib, reset_peak
from bench.minimal_app import claims_where, compiled
from bench.scale import COMMON_WORD, GROUP_FACILITY, GROUP_FACT, RARE_WORD, Scale, fill_sql
from bench.sqlite_copy import copy_claims

CHECKOUT = Path(__file__).resolve().parent.parent  # the project's checkout

LUA = Path(__file__).with_name("wrk_report.lua")
PEERS = ("project", "datasette", "minimal")
BULK = ("exports", "posts", "import")
# `--skip load`: no wrk works (nor the peers and the SQLite copy they need), only bulk ones.
LOAD = "load"
PAGE = 50
# Filtered page: persons counted between these bounds (range overlap, as the API filters).
METRIC, VALUE_MIN, VALUE_MAX = "persons_count", 1000, 5000
CURSOR_SECRET = "bench-compare-cursor-secret"  # the project's server seals with it, so can we


@dataclass(frozen=True)
class Work:
    name: str
    label: str
    paths: dict[str, str | None]  # peer -> path and query; None: the peer has no equivalent


@dataclass
class Peer:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


@dataclass
class Run:
    """What one run measured, as printed and as written to --output."""

    machine: dict[str, Any]
    scale: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    load: list[dict[str, Any]] = field(default_factory=list)
    bulk: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


PEER_NOTES = (
    "project: `testimony serve`, one worker, as configured by default (h11, one JSON log "
    "line per request), rate limits raised out of the way",
    "Datasette: `datasette serve --immutable` over the SQLite copy, indexes on the filtered "
    "columns and FTS5 on statement and quote; `_nocount=1` (the API counts only when asked), "
    "facet suggestions off; its `_search` filters without ranking",
    "minimal: bench/minimal_app.py, the project's compiled SQL, PostgreSQL building the JSON, "
    "rows as stored (no presenter, no coarsening)",
    "wrk runs on the same machine as the peers and PostgreSQL",
)


# --- the machine ------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    memory = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "memory_gib": round(int(memory) / 2**20, 1),
        "loadavg_start": loadavg(),
        "python": platform.python_version(),
    }


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def check_tools() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: install it with `apt-get install -y wrk` (Debian), then rerun")
    try:
        import datasette  # noqa: F401
    except ImportError:
        sys.exit("Datasette is missing: install the bench extra, `pip install -e '.[bench]'`")
    if not _testimony().exists():
        sys.exit(f"no `testimony` command beside {sys.executable}: `pip install -e '.[bench]'`")


def _testimony() -> Path:
    return Path(sys.executable).with_name("testimony")


# --- the database -----------------------------------------------------------------------


def testimony(env: dict[str, str], *arguments: str) -> tuple[float, str]:
    """Run a `testimony` command; its seconds and standard output."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(_testimony()), *arguments],
        env=env,
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"testimony {' '.join(arguments)} failed:\n{done.stderr[-4000:]}")
    return time.perf_counter() - started, done.stdout


async def database_exists(server_url: str, name: str) -> bool:
    connection = await asyncpg.connect(f"{server_url}/postgres")
    try:
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        return found is not None
    finally:
        await connection.close()


async def admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(f"{server_url}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def fill(dsn: str, scale: Scale, env: dict[str, str], run: Run) -> None:
    run.timings["migrate"], _ = testimony(env, "db", "upgrade")
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with connection.transaction():
            await connection.execute(fill_sql(scale))
        await connection.execute("ANALYZE")
        run.timings["fill_sql"] = time.perf_counter() - started
        print(f"filled {scale.counts()} in {run.timings['fill_sql']:.1f} s", flush=True)
        # One rendering makes both the stored views and the search documents.
        run.timings["views_rebuild"], _ = testimony(env, "views", "rebuild")
        print(f"testimony views rebuild: {run.timings['views_rebuild']:.1f} s", flush=True)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def stored_counts(dsn: str) -> dict[str, int]:
    """The records a reused database holds, which its scale is reported as."""
    connection = await asyncpg.connect(dsn)
    try:
        return {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")
            for table in Scale(1000).counts()
        }
    finally:
        await connection.close()


async def depth_target(dsn: str) -> str:
    """The id after which the page at 90% of the claims an anonymous client lists starts."""
    where = " AND ".join(f"({compiled(condition)})" for condition in claims_where(ClaimQuery()))
    connection = await asyncpg.connect(dsn)
    try:
        total = await connection.fetchval(f"SELECT count(*) FROM claims WHERE {where}")
        found: str = await connection.fetchval(
            f"SELECT id FROM claims WHERE {where} ORDER BY id OFFSET $1 LIMIT 1",
            int(total * 0.9),
        )
        return found
    finally:
        await connection.close()


def sealed_cursor(after: str) -> str:
    """A real cursor of `/v1/claims?limit=50` (id sort) for the page after `after`, sealed
    the way the server seals its own: for the same filters and the anonymous tier."""
    query = ClaimQuery.model_validate({"limit": PAGE})
    bound = fingerprint(query.fingerprint_fields() | {"tier": "public"})
    return Cursors(CURSOR_SECRET).encode(bound, after, after)


# --- the peers --------------------------------------------------------------------------


def works(after: str) -> list[Work]:
    limit = {"limit": PAGE}
    filtered = {"metric": METRIC, "value_min": VALUE_MIN, "value_max": VALUE_MAX}
    table = "/bench/claims.json"
    # Datasette counts the matching rows on every page unless told not to; the API counts
    # only when asked, so it is told not to.
    size = {"_size": PAGE, "_nocount": 1}

    def q(path: str, **params: Any) -> str:
        return f"{path}?{urlencode(params)}"

    return [
        Work(
            "page_1",
            "claims, page 1",
            {
                "project": q("/v1/claims", **limit),
                "datasette": q(table, **size),
                "minimal": q("/v1/claims", **limit),
            },
        ),
        Work(
            "filtered",
            f"filtered page ({METRIC}, {VALUE_MIN}-{VALUE_MAX})",
            {
                "project": q("/v1/claims", **limit, **filtered),
                # Datasette's column filters leave out the open (NULL) bounds the API counts in.
                "datasette": q(
                    table,
                    **size,
                    metric=METRIC,
                    value_max__gte=VALUE_MIN,
                    value_min__lte=VALUE_MAX,
                ),
                "minimal": q("/v1/claims", **limit, **filtered),
            },
        ),
        Work(
            "depth_90",
            "page at 90% depth",
            {
                "project": q("/v1/claims", **limit, cursor=sealed_cursor(after)),
                "datasette": q(table, **size, _next=after),
                "minimal": q("/v1/claims", **limit, after=after),
            },
        ),
        Work(
            "search_rare",
            f"search a rare word ({RARE_WORD})",
            {
                "project": q("/v1/search", q=RARE_WORD, **limit),
                "datasette": q(table, **size, _search=RARE_WORD),
                "minimal": q("/v1/search", q=RARE_WORD, **limit),
            },
        ),
        Work(
            "search_common",
            f"search a word in 10% ({COMMON_WORD})",
            {
                "project": q("/v1/search", q=COMMON_WORD, **limit),
                "datasette": q(table, **size, _search=COMMON_WORD),
                "minimal": q("/v1/search", q=COMMON_WORD, **limit),
            },
        ),
        Work(
            "stats",
            "/v1/stats",
            {"project": "/v1/stats", "datasette": None, "minimal": "/v1/stats"},
        ),
        Work(
            "facets",
            "claims faceted by metric",
            {
                "project": q("/v1/claims", **limit, facet="metric"),
                "datasette": q(table, **size, _facet="metric"),
                "minimal": q("/v1/claims", **limit, facet="metric"),
            },
        ),
    ]


def start(name: str, argv: Sequence[str], env: dict[str, str], port: int, logs: Path) -> Peer:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=CHECKOUT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped whole
        )
    return Peer(name, process, f"http://127.0.0.1:{port}", log)


def stop(peer: Peer) -> None:
    if peer.process.poll() is not None:
        return
    os.killpg(peer.process.pid, signal.SIGTERM)
    try:
        peer.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(peer.process.pid, signal.SIGKILL)
        peer.process.wait()


def wait_ready(peer: Peer, path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if peer.process.poll() is not None:
            raise RuntimeError(f"{peer.name} exited:\n{peer.log.read_text()[-3000:]}")
        try:
            if httpx.get(peer.base_url + path, timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{peer.name} not ready after {timeout:.0f} s")


def serve_project(env: dict[str, str], logs: Path) -> Peer:
    port = free_port()
    project = start("project", [str(_testimony()), "serve", "--port", str(port)], env, port, logs)
    wait_ready(project, "/readyz")
    return project


def serve(dsn: str, sqlite: Path, env: dict[str, str], logs: Path) -> dict[str, Peer]:
    datasette_port, minimal_port = free_port(), free_port()
    peers = {
        "project": serve_project(env, logs),
        "datasette": start(
            "datasette",
            [
                *(sys.executable, "-m", "datasette", "serve", "--immutable", str(sqlite)),
                *("--host", "127.0.0.1", "--port", str(datasette_port)),
                # Queries over a million rows may take longer than its default second; its
                # facet suggestions (extra queries on every table page) are off, as a
                # publisher of a large table would set them.
                *("--setting", "sql_time_limit_ms", "60000"),
                *("--setting", "facet_time_limit_ms", "60000"),
                *("--setting", "suggest_facets", "off"),
            ],
            env,
            datasette_port,
            logs,
        ),
        "minimal": start(
            "minimal",
            [
                *(sys.executable, "-m", "bench.minimal_app", "--port", str(minimal_port)),
                *("--database-url", dsn),
            ],
            env,
            minimal_port,
            logs,
        ),
    }
    wait_ready(peers["datasette"], "/-/versions.json")
    wait_ready(peers["minimal"], f"/v1/claims?limit={PAGE}")
    return peers


def rows_of(peer: str, body: Any) -> int:
    return len(body["rows"] if peer == "datasette" else body["data"])


def sanity(peers: dict[str, Peer], all_works: list[Work]) -> None:
    """Every URL answers 200 with rows before it is loaded (and so is warmed up)."""
    for work in all_works:
        counts = []
        for name, path in work.paths.items():
            if path is None:
                counts.append(f"{name} -")
                continue
            response = httpx.get(peers[name].base_url + path, timeout=120)
            if response.status_code != 200:
                raise RuntimeError(f"{name} {path}: {response.status_code} {response.text[:500]}")
            body = response.json()
            counts.append(f"{name} {rows_of(name, body) if work.name != 'stats' else 'ok'}")
        print(f"  {work.name:<14} rows: {', '.join(counts)}", flush=True)


def wrk(url: str, duration: int, connections: int, threads: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            *("wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s"),
            *("--timeout", "60s", "-s", str(LUA), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH "))
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def drive(
    peers: dict[str, Peer], all_works: list[Work], args: argparse.Namespace, run: Run
) -> None:
    for work in all_works:
        row: dict[str, Any] = {"work": work.name, "label": work.label}
        for name in PEERS:
            path = work.paths[name]
            if path is None:
                row[name] = None
                continue
            result = wrk(peers[name].base_url + path, args.duration, args.connections, args.threads)
            row[name] = result
            failures = result["socket_errors"] + result["non_2xx"]
            print(
                f"  {work.name:<14} {name:<10} {result['rps']:>9.1f} req/s  "
                f"p50 {result['p50_ms']:>8.1f} ms  p99 {result['p99_ms']:>8.1f} ms"
                + (f"  ({failures} failed)" if failures else ""),
                flush=True,
            )
        run.load.append(row)


# --- bulk -------------------------------------------------------------------------------


EXPORT_JOIN = """
SELECT claims.*, sources.title AS source_title, publishers.name AS source_publisher,
       claimants.name AS claimant_organization_name,
       witnesses.witness_pseudonym AS claimant_testimony_pseudonym,
       facilities.name AS about_facility_name
FROM claims
JOIN sources ON sources.id = claims.source_id
LEFT JOIN organizations AS publishers ON publishers.id = sources.publisher_id
LEFT JOIN organizations AS claimants ON claimants.id = claims.claimant_organization_id
LEFT JOIN testimonies AS witnesses ON witnesses.id = claims.claimant_testimony_id
LEFT JOIN facilities ON facilities.id = claims.about_facility_id
WHERE {where}
ORDER BY claims.id
"""


def export_join() -> str:
    """The rows the claims export carries (each claim with the names of its source,
    publisher, claimant and facility) for an anonymous client, as one join."""
    where = " AND ".join(f"({compiled(condition)})" for condition in claims_where(ClaimQuery()))
    return EXPORT_JOIN.format(where=where)


async def copy_out(dsn: str, sql: str, **options: Any) -> tuple[float, int, int]:
    """Seconds, bytes and lines of `COPY (sql) TO STDOUT`."""
    size = lines = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size, lines
        size += len(chunk)
        lines += chunk.count(b"\n")

    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await connection.copy_from_query(sql, output=sink, **options)
        return time.perf_counter() - started, size, lines
    finally:
        await connection.close()


async def exports(project: Peer, dsn: str, run: Run) -> None:
    join = export_join()
    async with httpx.AsyncClient(base_url=project.base_url, timeout=None) as client:
        for format in ("csv", "ndjson"):
            resettable = reset_peak(project.process.pid)
            seconds, size, lines = await download(client, f"/v1/claims?format={format}")
            rows = lines - (1 if format == "csv" else 0)
            peak = memory_kib(project.process.pid, "VmHWM") / 1024
            if format == "csv":
                floor = await copy_out(dsn, join, format="csv", header=True)
            else:
                floor = await copy_out(dsn, f"SELECT row_to_json(j) FROM ({join}) AS j")
            floor_rows = floor[2] - (1 if format == "csv" else 0)
            run.bulk.append(
                {
                    "what": f"export of every claim, {format.upper()} (rows/s)",
                    "project": rows / seconds,
                    "floor": floor_rows / floor[0],
                    "floor_name": "COPY TO STDOUT",
                    "detail": f"{rows} rows, {size / 2**20:.0f} MiB in {seconds:.1f} s; server "
                    f"peak RSS {peak:.0f} MiB{'' if resettable else ' (since start)'}; "
                    f"COPY {floor_rows} rows, {floor[1] / 2**20:.0f} MiB in {floor[0]:.1f} s",
                }
            )
            print(f"  export {format}: {run.bulk[-1]['detail']}", flush=True)


async def group_quote(dsn: str) -> tuple[asyncpg.Record, int]:
    """A passage a claim of the large subject group quotes, and how many claims it holds."""
    connection = await asyncpg.connect(dsn)
    try:
        row: asyncpg.Record = await connection.fetchrow(
            "SELECT source_id, quote, char_start, char_end FROM claims "
            "WHERE fact = $1 AND status = 'active' ORDER BY id LIMIT 1",
            GROUP_FACT,
        )
        size: int = await connection.fetchval(
            "SELECT count(*) FROM claims WHERE fact = $1", GROUP_FACT
        )
        return row, size
    finally:
        await connection.close()


def group_claim(tag: str, n: int, quoted: asyncpg.Record) -> dict[str, Any]:
    """The `n`th claim POSTed into the large subject group, quoting the passage `quoted`."""
    return {
        "id": f"bench-{tag}-post-{n}",
        "statement": f"The report counts {1000 + n} workers.",
        "fact": GROUP_FACT,
        "metric": "persons_count",
        "value": 1000 + n,
        "unit": "persons",
        "claimant_organization": "org-00001",
        "about_facility": GROUP_FACILITY,
        "source": quoted["source_id"],
        "quote": quoted["quote"],
        "locator": {"char_start": quoted["char_start"], "char_end": quoted["char_end"]},
    }


async def posts(
    project: Peer, dsn: str, env: dict[str, str], count: int, tag: str, run: Run
) -> None:
    """Single claims POSTed one after another into the large subject group."""
    _, printed = testimony(env, "keys", "create", "--name", f"bench {tag}", "--scope", "write")
    key = printed.strip().splitlines()[-1]
    quoted, group = await group_quote(dsn)
    timings: list[float] = []
    failures = 0
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=project.base_url, headers=headers, timeout=60) as client:
        for n in range(count):
            started = time.perf_counter()
            response = await client.post("/v1/claims", json=group_claim(tag, n, quoted))
            timings.append(time.perf_counter() - started)
            if response.status_code != 201:
                failures += 1
                if failures == 1:
                    print(f"  POST failed: {response.status_code} {response.text[:500]}")
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    run.bulk.append(
        {
            "what": f"single claim POST into a subject group of {group} (ms)",
            "project": None,
            "floor": None,
            "p50_ms": cuts[49] * 1000,
            "p99_ms": cuts[98] * 1000,
            "detail": f"{count} POSTs, {failures} failed; p50 {cuts[49] * 1000:.1f} ms, "
            f"p99 {cuts[98] * 1000:.1f} ms",
        }
    )
    print(f"  posts: {run.bulk[-1]['detail']}", flush=True)


IMPORT_LINES = """
SELECT json_build_object('type', 'claim', 'record', json_strip_nulls(json_build_object(
  'id', $1 || lpad((row_number() OVER (ORDER BY id))::text, 7, '0'),
  'statement', statement, 'fact', fact, 'metric', metric, 'value', value,
  'value_min', value_min, 'value_max', value_max, 'unit', unit, 'approximation', approximation,
  'period_start', to_char(period_start, CASE period_start_precision WHEN 'day' THEN 'YYYY-MM-DD'
                                        WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY' END),
  'period_end', to_char(period_end, CASE period_end_precision WHEN 'day' THEN 'YYYY-MM-DD'
                                    WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY' END),
  'claimant_organization', claimant_organization_id, 'claimant_testimony', claimant_testimony_id,
  'stance', stance, 'about_facility', about_facility_id, 'about_testimony', about_testimony_id,
  'about_organization', about_organization_id, 'source', source_id, 'quote', quote,
  'locator', json_build_object('char_start', char_start, 'char_end', char_end),
  'notes', notes, 'protection_level', protection_level, 'claimant_level', claimant_level,
  'claimant_description', claimant_description, 'protection_reason', protection_reason
)))::text
FROM claims WHERE status = 'active' AND fact IS DISTINCT FROM $3 ORDER BY id LIMIT $2
"""


async def imports(
    dsn: str, env: dict[str, str], count: int, tag: str, work: Path, run: Run
) -> None:
    """`testimony import` of `count` new claims (copies of existing ones, quoting the same
    passages) against COPY of as many rows into a table with the claims' indexes."""
    connection = await asyncpg.connect(dsn)
    try:
        lines = await connection.fetch(IMPORT_LINES, f"imported-{tag}-", count, GROUP_FACT)
        path = work / "import.ndjson"
        path.write_text("".join(line[0] + "\n" for line in lines), encoding="utf-8")
        seconds, _ = testimony(env, "import", str(path))
        buffer = io.BytesIO()

        async def keep(chunk: bytes) -> None:
            buffer.write(chunk)

        rows = f"SELECT * FROM claims WHERE status = 'active' ORDER BY id LIMIT {count}"
        await connection.copy_from_query(rows, output=keep, format="binary")
        table = f"bench_copy_{tag}"
        await connection.execute(f"CREATE TABLE {table} (LIKE claims INCLUDING ALL)")
        try:
            buffer.seek(0)
            started = time.perf_counter()
            await connection.copy_to_table(table, source=buffer, format="binary")
            copied = time.perf_counter() - started
        finally:
            await connection.execute(f"DROP TABLE {table}")
    finally:
        await connection.close()
    run.bulk.append(
        {
            "what": f"import of {len(lines)} claims (rows/s)",
            "project": len(lines) / seconds,
            "floor": count / copied,
            "floor_name": "COPY into LIKE claims INCLUDING ALL",
            "detail": f"testimony import {seconds:.1f} s; COPY {copied:.2f} s",
        }
    )
    print(f"  import: {run.bulk[-1]['detail']}", flush=True)


# --- the report -------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else ""


def _cell(result: dict[str, Any] | None) -> list[str]:
    if result is None:
        return ["", "", ""]
    mark = "*" if result["socket_errors"] or result["non_2xx"] else ""
    return [f"{result['rps']:.0f}{mark}", f"{result['p50_ms']:.1f}", f"{result['p99_ms']:.1f}"]


def report(run: Run) -> str:
    m = run.machine
    lines = [
        f"# bench.compare, {m['date']}",
        "",
        f"Machine: {m['nproc']} cores, {m['memory_gib']} GiB; load average "
        f"{' '.join(m['loadavg_start'])} at the start, {' '.join(m['loadavg_end'])} at the end. "
        f"Scale: {', '.join(f'{v:,} {k}' for k, v in run.scale.items())}.",
        "",
        "req/s, p50 and p99 in ms; ratios are the project's req/s over the other's "
        "(* some answers failed).",
        "",
        "| work | project req/s | p50 | p99 | Datasette req/s | p50 | p99 | minimal req/s | p50 "
        "| p99 | project/Datasette | project/minimal |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in run.load:
        rps = {name: row[name]["rps"] if row[name] else None for name in PEERS}
        cells = [row["label"], *_cell(row["project"]), *_cell(row["datasette"])]
        cells += [*_cell(row["minimal"]), _ratio(rps["project"], rps["datasette"])]
        cells.append(_ratio(rps["project"], rps["minimal"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| bulk | project | floor | project/floor | detail |", "|---|--:|--:|--:|---|"]
    for item in run.bulk:
        project, floor = item.get("project"), item.get("floor")
        lines.append(
            f"| {item['what']} | {f'{project:,.0f}' if project else ''} | "
            f"{f'{floor:,.0f}' if floor else ''} | {_ratio(project, floor)} | {item['detail']} |"
        )
    if run.timings:
        timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in run.timings.items())
        lines += ["", f"Build times: {timings}."]
    lines += [f"Note: {note}." for note in run.notes]
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claims", type=int, default=1_000_000, help="Others in proportion.")
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", help="Database name; default a new bench_compare_<time>.")
    parser.add_argument("--reuse", action="store_true", help="Measure --database as it is.")
    parser.add_argument("--keep", action="store_true", help="Keep the database and SQLite copy.")
    parser.add_argument("--duration", type=int, default=10, help="Seconds of wrk per cell.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--posts", type=int, default=200, help="Single POSTs to time.")
    parser.add_argument("--import-claims", type=int, help="Default: a tenth of --claims.")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=(*BULK, LOAD),
        help="Leave out a bulk measurement (repeat for several): the exports walk every "
        f"claim through the API and take the longest; `{LOAD}` leaves out the wrk works, "
        "to measure bulk work alone.",
    )
    parser.add_argument("--output", type=Path, help="Also write the results as JSON here.")
    args = parser.parse_args()
    if args.reuse and not args.database:
        parser.error("--reuse needs --database")
    if args.claims < 1000:
        parser.error("--claims must be at least 1000")
    return args


async def main() -> None:
    args = arguments()
    check_tools()
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = args.database or f"bench_compare_{tag}"
    server_url = args.server_url.rstrip("/")
    dsn = f"{server_url}/{name}"
    scale = Scale(args.claims)
    run = Run(machine=machine(), scale=scale.counts(), notes=list(PEER_NOTES))
    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    env = os.environ | {
        "DATABASE_URL": dsn,
        "CURSOR_SECRET": CURSOR_SECRET,
        "HOST": "127.0.0.1",
        # Measuring the API, not its limiter.
        "RATE_LIMIT_ANONYMOUS": "1000000000/minute",
        "RATE_LIMIT_KEY": "1000000000/minute",
    }
    exists = await database_exists(server_url, name)
    if exists and not args.reuse:
        sys.exit(f"database {name} exists: pass --reuse to measure it as it is, or another name")
    if args.reuse and not exists:
        sys.exit(f"database {name} does not exist")
    created = not args.reuse
    peers: dict[str, Peer] = {}
    try:
        if created:
            await admin(server_url, f'CREATE DATABASE "{name}"')
            await fill(dsn, scale, env, run)
        else:
            run.scale = await stored_counts(dsn)
            scale = Scale(run.scale["claims"])
        if LOAD in args.skip:
            peers = {"project": serve_project(env, work)}
        else:
            started = time.perf_counter()
            sqlite = work / "bench.db"
            copied = await copy_claims(dsn, sqlite)
            run.timings["sqlite_copy"] = time.perf_counter() - started
            seconds = run.timings["sqlite_copy"]
            print(f"copied {copied} claims to SQLite in {seconds:.1f} s", flush=True)
            after = await depth_target(dsn)
            all_works = works(after)
            peers = serve(dsn, sqlite, env, work)
            print("peers ready; first answers:", flush=True)
            sanity(peers, all_works)
            print(f"wrk, {args.connections} connections, {args.duration:g} s per cell:", flush=True)
            drive(peers, all_works, args, run)
        print("bulk:", flush=True)
        if "exports" not in args.skip:
            await exports(peers["project"], dsn, run)
        if "posts" not in args.skip:
            await posts(peers["project"], dsn, env, args.posts, tag, run)
        if "import" not in args.skip:
            count = args.import_claims or max(1, scale.claims // 10)
            await imports(dsn, env, count, tag, work, run)
        for step in ("views_rebuild",):
            if step in run.timings:
                run.bulk.append(
                    {
                        "what": f"testimony {step.replace('_', ' ')} (s)",
                        "project": None,
                        "floor": None,
                        "detail": f"{run.timings[step]:.1f} s",
                    }
                )
    finally:
        for peer in peers.values():
            stop(peer)
        if args.keep or not created:
            print(f"kept database {name} and {work}", flush=True)
        else:
            await admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(work, ignore_errors=True)
    run.machine["loadavg_end"] = loadavg()
    text = report(run)
    print()
    print(text)
    if args.output:
        args.output.write_text(json.dumps(run.__dict__, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
