"""Does an export stream in constant memory?

Fills a scratch database with generated claims (100,000 by default), serves the API in a
separate process, and downloads `/v1/claims` as CSV and as NDJSON: a tenth of the claims, then
all of them. For each it prints the time, the size, and the server's peak resident memory
during the download (Linux: `VmHWM` of /proc/PID/status, reset before each download through
/proc/PID/clear_refs). A streamed export's peak should not grow with the number of rows.

    .venv/bin/python -m bench.exports [--rows 100000]

It uses the embedded server (a `testimony_bench` database) or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import httpx

from bench.pagination import bench_url, prepare


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> bool:
    """Start a new peak-RSS measurement (Linux 4.0 and later)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def download(client: httpx.AsyncClient, url: str) -> tuple[float, int, int]:
    """Seconds, bytes and lines of a streamed download."""
    started = time.perf_counter()
    size = lines = 0
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    url = bench_url()
    started = time.perf_counter()
    await prepare(url, args.rows)
    print(f"filled {args.rows} claims in {time.perf_counter() - started:.1f} s")

    port = free_port()
    env = os.environ | {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "RATE_LIMIT_ANONYMOUS": "100000000/minute",  # measuring exports, not the limiter
    }
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"),
        *("--port", str(port), "--log-level", "warning"),
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=None) as client:
            for _ in range(200):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            await download(client, "/v1/claims?format=ndjson&value_max=99")  # warm up
            print(f"server RSS after warm-up: {memory_kib(server.pid, 'VmRSS') / 1024:.0f} MiB")
            print(
                f"{'format':<8}{'rows':>9}{'MiB':>9}{'seconds':>10}{'rows/s':>9}"
                f"{'peak RSS (MiB)':>16}"
            )
            for format in ("csv", "ndjson"):
                # Generated values are (n * 7919) mod 100,000: below 10,000 for a tenth of them.
                for query in ("&value_max=9999", ""):
                    resettable = reset_peak(server.pid)
                    seconds, size, lines = await download(
                        client, f"/v1/claims?format={format}{query}"
                    )
                    rows = lines - (1 if format == "csv" else 0)
                    peak = memory_kib(server.pid, "VmHWM") / 1024
                    print(
                        f"{format:<8}{rows:>9}{size / 2**20:>9.1f}{seconds:>10.1f}"
                        f"{rows / seconds:>9.0f}{peak:>15.0f}{'' if resettable else '*'}"
                    )
            if not resettable:
                print("* peak since the server started: /proc/PID/clear_refs is not writable")
    finally:
        server.terminate()
        await server.wait()


if __name__ == "__main__":
    asyncio.run(main())
