"""Prometheus metrics at /metrics: requests by route template, method and status class,
their latency, the database pool, and what imports and exports counted (app.kit.metrics).

Only clients in METRICS_ALLOWED_NETWORKS (loopback by default) may read them: the figures say
how the service is used, which is nobody else's business. With several worker processes each
answers with its own figures.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from app.kit.errors import ProblemError

REQUESTS = Counter(
    "testimony_http_requests",
    "Requests answered, by method, route template and status class.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "testimony_http_request_duration_seconds",
    "Seconds from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method=method, route=route, status=f"{status // 100}xx").inc()
    LATENCY.labels(method=method, route=route).observe(seconds)


class PoolCollector(Collector):
    """The engine's connection pool, read when scraped."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):  # no pool to speak of (NullPool)
            return
        figures = {
            "size": ("Connections the pool keeps open.", pool.size()),
            "checked_out": ("Connections in use by requests.", pool.checkedout()),
            "checked_in": ("Idle connections in the pool.", pool.checkedin()),
            "overflow": ("Connections open beyond the pool's size.", max(pool.overflow(), 0)),
        }
        for name, (documentation, value) in figures.items():
            yield GaugeMetricFamily(f"testimony_db_pool_{name}", documentation, value=value)


class AppMetrics(Collector):
    """One app's figures: the process-wide ones and its own engine's pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.pool = PoolCollector(engine)

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self.pool.collect()


def app_registry(engine: AsyncEngine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AppMetrics(engine))
    return registry


def allowed_networks(setting: str) -> list[Network] | None:
    """The networks of METRICS_ALLOWED_NETWORKS; None for anyone (`*`)."""
    if setting.strip() == "*":
        return None
    return [ipaddress.ip_network(n.strip(), strict=False) for n in setting.split(",") if n.strip()]


def _may_read(request: Request) -> bool:
    networks: list[Network] | None = request.app.state.metrics_networks
    if networks is None:
        return True
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    return any(address in network for network in networks)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def get_metrics(request: Request) -> Response:
    if not _may_read(request):
        raise ProblemError(403, "forbidden", "Metrics are served to the operators' networks only.")
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
