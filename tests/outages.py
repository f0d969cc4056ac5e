"""Database outages under load: the API served over loopback on a PostgreSQL of its own, which
is stopped and started while clients read and write through the API.

Used by tests/test_outage.py (a short run with a verdict) and bench/soak.py (a long one with
numbers). The PostgreSQL is an embedded server (the package app.db.embedded uses) in a
temporary folder, listening on a socket in that folder only: stopping it disturbs no other
server.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.db import migrations
from app.db.embedded import embedded_package, server_url, stop_server
from app.db.engine import ensure_database, make_engine
from tests import CHECKOUT

DATABASE = "testimony"
PHASES = ("before", "during", "after")
# The `testimony` command of this checkout (the installed script may be another's).
TESTIMONY = (sys.executable, "-c", "from app.cli import main; main()")
SERVE = (*TESTIMONY, "serve")


class ScratchPostgres:
    """An embedded PostgreSQL in a temporary folder, deleted with it by `close`."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="testimony-scratch-"))
        self.pgdata = self.folder / "postgres"
        self.server: Any = embedded_package().get_server(self.pgdata, cleanup_mode="delete")

    def url(self, database: str = DATABASE) -> URL:
        return server_url(self.server, database)

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, clients disconnected."""
        stop_server(self.pgdata)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)


async def prepare_database(url: URL) -> None:
    """Create the database and migrate it to head."""
    await ensure_database(url)
    await asyncio.to_thread(migrations.upgrade, url)


async def write_key(url: URL, *scopes: Scope) -> str:
    engine = make_engine(url, pooled=False)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            _, key = await create_key(session, "outage clients", list(scopes) or [Scope.write])
    finally:
        await engine.dispose()
    return key


async def existing(url: URL, table: str, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are in `table`."""
    engine = make_engine(url, pooled=False)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(f"SELECT id FROM {table} WHERE id = ANY(:ids)"), {"ids": list(ids)}
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServedApi:
    """`testimony serve` in a process of its own, on a free loopback port."""

    def __init__(self, url: URL, folder: Path, **settings: object) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"api-{self.port}.log"
        env = os.environ | {
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "DATA_DIR": str(folder),
            "CURSOR_SECRET": "outage-cursor-secret",
            "RATE_LIMIT_ANONYMOUS": "100000000/minute",
            "RATE_LIMIT_KEY": "100000000/minute",
            "PYTHONPATH": str(CHECKOUT),
        }
        env |= {name.upper(): str(value) for name, value in settings.items()}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*SERVE, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=CHECKOUT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, seconds: float = 30.0) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"the API exited ({self.process.returncode}):\n{self.tail()}"
                    )
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the API was not ready within {seconds} s:\n{self.tail()}")

    def terminate(self, seconds: float = 30.0) -> int:
        """SIGTERM, then the exit status (the process is killed if it outlives `seconds`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Answer:
    kind: str  # read, lookup (of an acknowledged write), write, export
    phase: str
    status: int | None  # None: no HTTP answer (connection reset, timeout)
    seconds: float
    at: float  # when it started, in seconds since the load started
    failure: str = ""  # the transport error, or what is wrong with a 503
    cut: bool = False  # an export broken off after its 200


def check_503(response: httpx.Response) -> str:
    """What is wrong with a 503 (empty when nothing): it must be problem+json and say when
    to retry."""
    problems = []
    if response.headers.get("content-type") != "application/problem+json":
        problems.append(f"content-type {response.headers.get('content-type')}")
    retry_after = response.headers.get("retry-after", "")
    if not retry_after.isdigit() or int(retry_after) < 1:
        problems.append(f"Retry-After {retry_after!r}")
    return ", ".join(problems)


@dataclass
class Load:
    """Clients reading and writing through the API until `stop()`. Readers list pages of
    `read_paths` and look up records whose creation was acknowledged; writers create
    organizations; exporters download the organizations as NDJSON. Every answer is kept
    with the phase it started in."""

    base_url: str
    key: str
    readers: int
    writers: int
    exporters: int = 0
    timeout: float = 30.0
    read_paths: Sequence[str] = ("/v1/organizations?limit=20",)
    prefix: str = "outage"
    max_requests: int = 1_000_000  # per client: every loop is bounded
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _started: float = field(default_factory=time.perf_counter)
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        clients = (
            [self._reader(n) for n in range(self.readers)]
            + [self._writer() for _ in range(self.writers)]
            + [self._exporter() for _ in range(self.exporters)]
        )
        await asyncio.gather(*clients)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)

    def _keep(self, kind: str, phase: str, started: float, **outcome: Any) -> None:
        seconds = time.perf_counter() - started
        self.answers.append(
            Answer(kind, phase, seconds=seconds, at=started - self._started, **outcome)
        )

    async def _request(
        self, client: httpx.AsyncClient, kind: str, method: str, path: str, **options: Any
    ) -> httpx.Response | None:
        phase, started = self.phase, time.perf_counter()
        try:
            response = await client.request(method, path, **options)
        except httpx.TransportError as error:
            self._keep(kind, phase, started, status=None, failure=type(error).__name__)
            return None
        failure = check_503(response) if response.status_code == 503 else ""
        self._keep(kind, phase, started, status=response.status_code, failure=failure)
        return response

    async def _reader(self, number: int) -> None:
        chooser = random.Random(number)
        async with self._client() as client:
            for turn in range(self.max_requests):
                if self._stopping.is_set():
                    return
                if turn % 2 and self.acknowledged:
                    record = chooser.choice(self.acknowledged)
                    await self._request(client, "lookup", "GET", f"/v1/organizations/{record}")
                else:
                    path = self.read_paths[turn // 2 % len(self.read_paths)]
                    await self._request(client, "read", "GET", path)

    async def _writer(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with self._client() as client:
            for _ in range(self.max_requests):
                if self._stopping.is_set():
                    return
                record = f"{self.prefix}-{next(self._numbers)}"
                body = {"id": record, "name": f"Organization {record}", "kind": "other"}
                response = await self._request(
                    client, "write", "POST", "/v1/organizations", json=body, headers=headers
                )
                if response is not None and response.status_code == 201:
                    self.acknowledged.append(record)
                else:
                    self.unacknowledged.append(record)

    async def _exporter(self) -> None:
        async with self._client() as client:
            for _ in range(self.max_requests):
                if self._stopping.is_set():
                    return
                phase, started = self.phase, time.perf_counter()
                status: int | None = None
                try:
                    async with client.stream("GET", "/v1/organizations?format=ndjson") as answer:
                        status = answer.status_code
                        failure = check_503(answer) if status == 503 else ""
                        async for _ in answer.aiter_bytes():
                            pass
                except httpx.TransportError as error:
                    # After a 200 the status cannot change: the body is broken off instead.
                    self._keep(
                        "export",
                        phase,
                        started,
                        status=status,
                        failure=type(error).__name__,
                        cut=status == 200,
                    )
                    continue
                self._keep("export", phase, started, status=status, failure=failure)


async def wait_until_ready(client: httpx.AsyncClient, seconds: float) -> float:
    """Seconds until /readyz says ready (an error when it does not within `seconds`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz was not ready {seconds} s after the database restarted")


@dataclass(frozen=True)
class Outage:
    stopping: float  # seconds pg_ctl stop took
    ready_while_down: httpx.Response  # /readyz while the database was down
    starting: float  # seconds the restart took
    recovery: float  # seconds from the restart until /readyz said ready


async def run_outage(
    load: Load, postgres: ScratchPostgres, base_url: str, down: float, recovery_limit: float
) -> Outage:
    """Stop the database while `load` runs, keep it down `down` seconds, start it again and
    wait for the API to be ready; the load's phase follows."""
    async with httpx.AsyncClient(base_url=base_url, timeout=load.timeout) as client:
        load.phase = "during"
        started = time.perf_counter()
        await asyncio.to_thread(postgres.stop)
        stopped = time.perf_counter()
        ready_while_down = await client.get("/readyz")
        await asyncio.sleep(max(0.0, down - (time.perf_counter() - started)))
        restart = time.perf_counter()
        await asyncio.to_thread(postgres.start)
        restarted = time.perf_counter()
        load.phase = "after"
        recovery = await wait_until_ready(client, recovery_limit)
    return Outage(stopped - started, ready_while_down, restarted - restart, recovery)


def status_class(answer: Answer) -> str:
    if answer.status is None:
        return "no answer"
    if answer.cut:
        return "200 cut"
    if answer.status == 503:
        return "503"
    if answer.status >= 500:
        return "other 5xx"
    return f"{answer.status // 100}xx"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(answers: Sequence[Answer]) -> list[str]:
    """One line per phase: the answers by status class, p50 and p99 latency."""
    classes = ["2xx", "4xx", "503", "other 5xx", "no answer", "200 cut"]
    lines = [
        f"{'phase':<8}{'requests':>9}"
        + "".join(f"{name:>11}" for name in classes)
        + f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    ]
    for phase in PHASES:
        in_phase = [a for a in answers if a.phase == phase]
        counts = Counter(status_class(a) for a in in_phase)
        seconds = [a.seconds for a in in_phase]
        lines.append(
            f"{phase:<8}{len(in_phase):>9}"
            + "".join(f"{counts[name]:>11}" for name in classes)
            + f"{percentile(seconds, 0.5) * 1000:>9.0f}{percentile(seconds, 0.99) * 1000:>9.0f}"
            + f"{max(seconds, default=float('nan')) * 1000:>9.0f}"
        )
    return lines


def timeline(answers: Sequence[Answer], window: float) -> list[str]:
    """Per window of `window` seconds: the requests, the 503s and the p50/p99 latency."""
    lines = [f"{'from s':>7}{'requests':>9}{'503':>6}{'p50 ms':>9}{'p99 ms':>9}  phases"]
    last = max((a.at for a in answers), default=0.0)
    for start in range(0, int(last // window) + 1):
        inside = [a for a in answers if start * window <= a.at < (start + 1) * window]
        seconds = [a.seconds for a in inside]
        phases = ",".join(p for p in PHASES if any(a.phase == p for a in inside))
        lines.append(
            f"{start * window:>7.0f}{len(inside):>9}{sum(a.status == 503 for a in inside):>6}"
            f"{percentile(seconds, 0.5) * 1000:>9.0f}{percentile(seconds, 0.99) * 1000:>9.0f}"
            f"  {phases}"
        )
    return lines
