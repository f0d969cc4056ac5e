"""Keyset pages are read straight off an index: no OFFSET, no sort of the whole table.

Each list query is captured as the app sends it, then explained with sequential scans and
whole-table joins discouraged (the test tables are tiny, where a scan or a bitmap and a sort
would otherwise win): the plan must walk the sort's index with the cursor as its index
condition, and fetch each record's stored view by its key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories


@contextmanager
def captured_statements(session: AsyncSession) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []
    engine = session.bind.engine  # type: ignore[union-attr]

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


async def _plan_of_second_page(
    client: httpx.AsyncClient, session: AsyncSession, url: str
) -> dict[str, Any]:
    first = (await client.get(url)).json()
    assert first["links"]["next"], "the test needs a second page"
    with captured_statements(session) as statements:
        assert (await client.get(first["links"]["next"])).status_code == 200
    page_sql, parameters = next((s, p) for s, p in statements if "LIMIT" in s)
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    await session.execute(text("SET LOCAL enable_bitmapscan = off"))
    # Tiny tables also favour starting from a handful of stored views and sorting them; at
    # any size a page walks the sort's index and fetches each record's view by its key.
    await session.execute(text("SET LOCAL enable_hashjoin = off"))
    await session.execute(text("SET LOCAL enable_mergejoin = off"))
    await session.execute(text("SET LOCAL enable_sort = off"))
    connection = await session.connection()
    result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {page_sql}", parameters)
    raw = result.scalar_one()
    plan: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return plan


@pytest.mark.parametrize(
    ("url", "index"),
    [
        ("/v1/sources?limit=2&sort=-published_on", "ix_sources_published_desc_id"),
        ("/v1/sources?limit=2&sort=published_on", "ix_sources_published_asc_id"),
        ("/v1/sources?limit=2&sort=title", "ix_sources_title_id"),
        ("/v1/sources?limit=2&sort=updated_at", "ix_sources_updated_at_id"),
        ("/v1/organizations?limit=2&sort=name", "ix_organizations_name_id"),
        ("/v1/facilities?limit=2&sort=-name", "ix_facilities_name_id"),
        ("/v1/testimonies?limit=2&sort=period_start", "ix_testimonies_period_asc_id"),
        ("/v1/claims?limit=2&sort=value", "ix_claims_value_sort_id"),
        ("/v1/claims?limit=2&sort=-period_start", "ix_claims_period_desc_id"),
        ("/v1/claims?limit=2&sort=id", "pk_claims"),
    ],
)
async def test_next_page_walks_the_sort_index(
    client: httpx.AsyncClient, session: AsyncSession, url: str, index: str
) -> None:
    for number in range(3):
        await factories.organization(session, name=f"Org {number}")
        await factories.source(session, published=f"202{number}")
        await factories.facility(session, name=f"Mine {number}")
        await factories.testimony(session, period_start=f"199{number}")
        await factories.claim(session, value=number, period_start=f"200{number}")
    plan = await _plan_of_second_page(client, session, url)
    scans = [n for n in plan_nodes(plan) if n.get("Index Name") == index]
    assert scans, f"{index} not used: {json.dumps(plan)[:400]}"
    assert "Index Cond" in scans[0], "the cursor is not the index condition"
    assert not any(n["Node Type"] == "Sort" for n in plan_nodes(plan)), json.dumps(plan)[:3000]
