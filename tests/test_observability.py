"""What operators see: request ids, one log line per request, Prometheus metrics, traces."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.observability import tracing
from tests import factories
from tests.conftest import app_settings
from tests.test_import import NDJSON, RECORDS, ndjson

# --- Request ids -----------------------------------------------------------------------------


async def test_every_answer_has_a_new_request_id(client: httpx.AsyncClient) -> None:
    answers = [
        await client.get("/healthz"),
        await client.get("/v1/claims/none-such"),  # 404 problem
        await client.get("/no/such/route"),  # 404 from routing
        await client.get("/v1/claims?limit=oops"),  # 422
        await client.delete("/healthz"),  # 405
        await client.get("/v1/claims?unknown=1"),  # 400
    ]
    assert [a.status_code for a in answers] == [200, 404, 404, 422, 405, 400]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)


async def test_a_sane_request_id_is_kept_and_others_replaced(client: httpx.AsyncClient) -> None:
    for sane in ("abc-123", "0f0e8a6c-4c1b-4b7e-9a59-1d2c3b4a5f6e", "trace:a/b+c=d_e.f"):
        answer = await client.get("/v1/claims/none", headers={"X-Request-ID": sane})
        assert answer.headers["x-request-id"] == sane
    for odd in ("a b", "<script>", "x" * 129, "é".encode()):
        answer = await client.get("/healthz", headers={"X-Request-ID": odd})
        assert answer.headers["x-request-id"] not in ("a b", "<script>", "x" * 129)
        assert len(answer.headers["x-request-id"]) == 32


async def test_an_unexpected_error_still_has_its_request_id(database_url: URL) -> None:
    app = create_app(app_settings(database_url))

    @app.get("/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-request-id"] == "bug-1"


# --- The log line of a request ---------------------------------------------------------------


async def test_one_log_line_per_request_with_the_key_id_not_the_key(
    client: httpx.AsyncClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    headers = await factories.api_key(session, "read:restricted")
    token = headers["Authorization"].removeprefix("Bearer ")
    caplog.set_level(logging.INFO, logger="testimony.access")
    await client.get("/v1/claims/none-such", headers=headers | {"X-Request-ID": "rid-1"})
    await client.head("/healthz")
    lines = [r for r in caplog.records if r.name == "testimony.access"]
    assert len(lines) == 2
    first, second = lines
    assert (first.__dict__ | {"duration_ms": 0}).items() >= {
        "method": "GET",
        "route": "/v1/claims/{claim_id}",
        "status": 404,
        "key_id": "key-" + token.split("_")[1],
        "duration_ms": 0,
    }.items()
    assert isinstance(first.duration_ms, float)
    assert first.getMessage().startswith("GET /v1/claims/{claim_id} 404 ")
    assert second.__dict__["method"] == "HEAD"
    assert second.__dict__["key_id"] is None
    assert token not in caplog.text
    assert "none-such" not in caplog.text  # the template, not the path


LOG_ONE_REQUEST = """
import asyncio, logging.config, httpx
from app.main import create_app
from app.observability.logs import logging_config
from app.settings import Settings

settings = Settings()
logging.config.dictConfig(logging_config(settings))

async def main():
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await c.get("/healthz", headers={"X-Request-ID": "from-client"})

asyncio.run(main())
"""


def _log_of_one_request(database_url: URL, log_format: str) -> list[str]:
    environment = os.environ | {
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "CURSOR_SECRET": "tests-cursor-secret",
        "LOG_FORMAT": log_format,
    }
    done = subprocess.run(
        [sys.executable, "-c", LOG_ONE_REQUEST],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stderr.splitlines()


def test_the_server_logs_json_lines(database_url: URL) -> None:
    lines = [json.loads(line) for line in _log_of_one_request(database_url, "json")]
    access = [line for line in lines if line["logger"] == "testimony.access"]
    assert len(access) == 1
    assert access[0]["message"].startswith("GET /healthz 200 ")
    assert access[0] | {"time": "", "duration_ms": 0, "message": ""} == {
        "time": "",
        "level": "INFO",
        "logger": "testimony.access",
        "message": "",
        "method": "GET",
        "route": "/healthz",
        "status": 200,
        "duration_ms": 0,
        "key_id": None,
        "request_id": "from-client",
    }


def test_plain_text_logs_on_request(database_url: URL) -> None:
    lines = _log_of_one_request(database_url, "text")
    assert any("[from-client] GET /healthz 200 " in line for line in lines), lines


# --- Metrics ---------------------------------------------------------------------------------


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template_and_status_class(
    client: httpx.AsyncClient,
) -> None:
    requests = "testimony_http_requests_total"
    route = {"method": "GET", "route": "/v1/claims/{claim_id}"}
    before = await scrape(client)
    for claim in ("one", "two", "three"):
        assert (await client.get(f"/v1/claims/{claim}")).status_code == 404
    await client.get("/no/such/path/a")
    await client.get("/no/such/path/b")
    after = await scrape(client)
    assert (
        value(after, requests, **route, status="4xx")
        - value(before, requests, **route, status="4xx")
        == 3
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "4xx"}
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) == 2
    # No raw path becomes a label.
    assert not any("none" in dict(labels).get("route", "") for _, labels in after)
    latency = "testimony_http_request_duration_seconds_count"
    assert value(after, latency, **route) - value(before, latency, **route) == 3
    assert value(after, "testimony_http_request_duration_seconds_bucket", **route, le="+Inf") >= 3


async def test_the_database_pool_is_measured(client: httpx.AsyncClient) -> None:
    samples = await scrape(client)
    assert value(samples, "testimony_db_pool_size") == 5  # DATABASE_POOL_SIZE
    assert value(samples, "testimony_db_pool_checked_out") >= 0
    assert ("testimony_db_pool_overflow", frozenset()) in samples


async def test_exported_rows_and_imported_records_are_counted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(3):
        await factories.organization(session)
    before = await scrape(client)
    export = await client.get("/v1/organizations?format=ndjson")
    exported = len(export.text.splitlines())
    writer = await factories.api_key(session, "write") | NDJSON
    assert (await client.post("/v1/import", content=ndjson(*RECORDS), headers=writer)).is_success
    after = await scrape(client)
    rows = "testimony_export_rows_total"
    assert exported >= 3
    assert (
        value(after, rows, export="organizations") - value(before, rows, export="organizations")
        == exported
    )
    imported = "testimony_import_records_total"
    for kind in ("organizations", "sources", "claims"):
        labels = {"kind": kind, "outcome": "created"}
        assert value(after, imported, **labels) - value(before, imported, **labels) == 1


@pytest.fixture
async def remote_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_metrics_are_for_the_operators_networks_only(
    remote_client: httpx.AsyncClient, database_url: URL
) -> None:
    refused = await remote_client.get("/metrics")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    opened = create_app(app_settings(database_url, metrics_allowed_networks="203.0.113.0/24"))
    transport = httpx.ASGITransport(app=opened, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/metrics")).status_code == 200


async def test_metrics_can_be_switched_off(database_url: URL) -> None:
    app = create_app(app_settings(database_url, metrics_enabled=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/metrics")).status_code == 404


# --- Tracing ---------------------------------------------------------------------------------


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    pytest.importorskip("opentelemetry.instrumentation.fastapi")
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    monkeypatch.setattr(tracing, "span_exporter", lambda settings: exporter)
    yield exporter
    SQLAlchemyInstrumentor().uninstrument()


async def test_traces_cover_requests_and_queries(spans: object, database_url: URL) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    assert isinstance(spans, InMemorySpanExporter)
    app = create_app(app_settings(database_url, otel_enabled=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/readyz")).status_code == 200
    app.state.tracer_provider.force_flush()
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.name == "GET /readyz"]
    assert len(server) == 1
    assert server[0].attributes is not None
    assert server[0].attributes["http.route"] == "/readyz"
    queries = [
        s
        for s in finished
        if "alembic_version" in str((s.attributes or {}).get("db.statement", ""))
    ]
    assert queries
    assert queries[0].context.trace_id == server[0].context.trace_id
    assert app.state.tracer_provider.resource.attributes["service.name"] == "testimony-api"


def test_tracing_is_off_by_default(database_url: URL) -> None:
    app = create_app(app_settings(database_url))
    assert not hasattr(app.state, "tracer_provider")
