from __future__ import annotations

import httpx

from app.db.migrations import head_revision
from app.main import create_app
from app.settings import Settings


async def test_healthz_answers_without_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_schema_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "schema_revision": head_revision()}


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    # Nothing listens on port 1: the probe must say "not ready", not fail.
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/none", cursor_secret="tests-cursor-secret"
    )
    app = create_app(settings, pooled=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
