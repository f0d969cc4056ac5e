"""Single-request latency: each path asked of a running server one request at a time.

    .venv/bin/python -m bench.latency --url http://127.0.0.1:8000 [--requests 50] PATH...

Prints, for each path, the p50 and p99 of `--requests` sequential requests (after one to
warm up), measured by the client, on one kept-alive connection.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx


def percentile(timings: list[float], fraction: float) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    with httpx.Client(base_url=args.url, timeout=60) as client:
        print("| path | p50 ms | p99 ms | requests |\n|---|--:|--:|--:|")
        for path in args.paths:
            client.get(path).raise_for_status()
            timings = []
            for _ in range(args.requests):
                begun = time.perf_counter()
                client.get(path).raise_for_status()
                timings.append((time.perf_counter() - begun) * 1000)
            p50 = statistics.median(timings)
            print(f"| `{path}` | {p50:.1f} | {percentile(timings, 0.99):.1f} | {args.requests} |")


if __name__ == "__main__":
    main()
