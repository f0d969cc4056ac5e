"""Reads through the app's own sessions (no test session in between): outside a transaction,
and still audited when they disclose a protected record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL

from app.audit.models import AuditEvent
from app.auth.scopes import Scope
from app.db import migrations
from app.main import create_app
from tests.conftest import app_settings, recreate_database
from tests.outages import write_key


@pytest.fixture(scope="module")
async def reads_url(database_url: URL) -> AsyncIterator[URL]:
    url = database_url.set(database=f"{database_url.database}_reads")
    await recreate_database(url)
    await asyncio.to_thread(migrations.upgrade, url)
    yield url
    await recreate_database(url, create=False)


@pytest.fixture
async def app(reads_url: URL) -> AsyncIterator[FastAPI]:
    app = create_app(app_settings(reads_url))
    yield app
    await app.state.engine.dispose()


@pytest.fixture
def statements(app: FastAPI) -> list[str]:
    """Every statement the app's connections send, transaction control included."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query.split()[0].upper().rstrip(";"))

    @event.listens_for(app.state.engine.sync_engine, "connect")
    def _log_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(log)

    return sent


def client_of(app: FastAPI, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def test_a_read_runs_outside_a_transaction(
    app: FastAPI, statements: list[str], reads_url: URL
) -> None:
    key = await write_key(reads_url, Scope.write)
    async with client_of(app, key) as client:
        created = await client.post(
            "/v1/organizations", json={"id": "read-alone", "name": "Read", "kind": "other"}
        )
        assert created.status_code == 201, created.text
        # The write's own transaction control, as the logger sees it.
        assert statements[0] == "BEGIN", statements
        assert "COMMIT" in statements, statements
        statements.clear()
        page = await client.get("/v1/organizations")
        record = await client.get("/v1/organizations/read-alone")
    assert page.status_code == 200, page.text
    assert page.json()["data"], page.text
    assert record.status_code == 200, record.text
    assert not {"BEGIN", "COMMIT", "ROLLBACK"} & set(statements), statements


async def test_a_disclosure_by_a_read_is_audited(app: FastAPI, reads_url: URL) -> None:
    key = await write_key(reads_url, Scope.write, Scope.read_restricted)
    async with client_of(app, key) as client:
        created = await client.post(
            "/v1/sources",
            json={
                "id": "restricted-read",
                "title": "Restricted report",
                "source_type": "ngo_report",
                "protection_level": "restricted",
                "protection_reason": "names a witness's village",
            },
        )
        assert created.status_code == 201, created.text
        before = await audited(app)
        shown = await client.get("/v1/sources/restricted-read")
        assert shown.status_code == 200, shown.text
        assert await audited(app) == before + 1
        # A read that discloses nothing records nothing.
        listed = await client.get("/v1/organizations")
        assert listed.status_code == 200, listed.text
        assert await audited(app) == before + 1


async def audited(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        statement = select(func.count()).where(AuditEvent.action == "read_restricted")
        return int(await session.scalar(statement) or 0)
