"""The embedded server stops when the last process of this project using it exits, however
the processes exit, and `testimony db stop` stops it on demand.

Every process here uses an embedded server in a temporary data folder of its own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db.embedded import running_pid, stop_server
from tests import CHECKOUT
from tests.outages import SERVE, TESTIMONY, free_port

# A process that joins the embedded server of the data folder it is given, then waits.
USER = """
import sys, time
from pathlib import Path
from app.db.embedded import embedded_server_url
embedded_server_url(Path(sys.argv[1]), "postgres")
print("joined", flush=True)
time.sleep(300)
"""


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="testimony-embedded-"))
    try:
        yield folder
    finally:
        stop_server(folder / "postgres")
        shutil.rmtree(folder, ignore_errors=True)


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return env | {"DATA_DIR": str(data_dir), "PYTHONPATH": str(CHECKOUT)}


def running(data_dir: Path) -> bool:
    return running_pid(data_dir / "postgres") is not None


async def join(data_dir: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", USER, str(data_dir)),
        cwd=CHECKOUT,
        env=environment(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 60) == b"joined\n"
    return process


async def ended(process: asyncio.subprocess.Process) -> int:
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_server_stops_with_the_last_process_using_it(data_dir: Path) -> None:
    first = await join(data_dir)
    second = await join(data_dir)
    assert running(data_dir)
    first.send_signal(signal.SIGTERM)
    assert await ended(first) == -signal.SIGTERM  # it still dies of the signal
    assert running(data_dir)  # the other process still uses it
    second.send_signal(signal.SIGTERM)
    await ended(second)
    assert not running(data_dir)


async def test_a_killed_process_does_not_keep_the_server_running(data_dir: Path) -> None:
    killed = await join(data_dir)
    last = await join(data_dir)
    killed.kill()  # no exit handler runs: it stays listed as a user
    await ended(killed)
    last.send_signal(signal.SIGTERM)
    await ended(last)
    assert not running(data_dir)


async def test_testimony_db_stop_stops_it_on_demand(data_dir: Path) -> None:
    user = await join(data_dir)
    pid = running_pid(data_dir / "postgres")
    try:
        stop = await asyncio.create_subprocess_exec(
            *TESTIMONY,
            "db",
            "stop",
            cwd=CHECKOUT,
            env=environment(data_dir),
            stderr=asyncio.subprocess.PIPE,
        )
        _, said = await asyncio.wait_for(stop.communicate(), 60)
        assert stop.returncode == 0
        assert f"stopped the embedded PostgreSQL server (pid {pid})" in said.decode()
        assert str(user.pid) in said.decode()  # named among the processes that used it
        assert not running(data_dir)
    finally:
        user.send_signal(signal.SIGTERM)
        await ended(user)
    again = await asyncio.create_subprocess_exec(
        *TESTIMONY,
        "db",
        "stop",
        cwd=CHECKOUT,
        env=environment(data_dir),
        stderr=asyncio.subprocess.PIPE,
    )
    _, said = await asyncio.wait_for(again.communicate(), 60)
    assert again.returncode == 0
    assert "no embedded PostgreSQL server is running" in said.decode()


async def test_testimony_serve_stopped_by_sigterm_stops_the_server(data_dir: Path) -> None:
    port = free_port()
    serve = await asyncio.create_subprocess_exec(
        *SERVE,
        "--port",
        str(port),
        cwd=CHECKOUT,
        env=environment(data_dir) | {"CURSOR_SECRET": "embedded-test-secret"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        assert running(data_dir)
    finally:
        serve.send_signal(signal.SIGTERM)
        assert await ended(serve) == -signal.SIGTERM
    assert not running(data_dir)
