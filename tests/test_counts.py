"""The counts kept per tier: unfiltered facets, totals and statistics read them instead of
counting the records, and writers at once keep them right (that every write path keeps them
equal to a recount, and to what the lists count, is in tests/test_views.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.rendering.indexing import index_pending
from app.views.models import view_counts
from tests import factories
from tests.test_query_plans import plan_nodes
from tests.test_search_plans import plans_of

RECORD_TABLES = {"organizations", "sources", "facilities", "testimonies", "claims"}


def read_tables(plan: dict[str, Any]) -> set[str]:
    return {node["Relation Name"] for node in plan_nodes(plan) if "Relation Name" in node}


async def test_unfiltered_facets_totals_and_stats_read_only_the_counts(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mine = await factories.facility(session, id="mine")
    for number in range(3):
        await factories.claim(session, about_facility=mine.id, value=number)
    await factories.testimony(session, labour_types=["mining"])
    await index_pending(session)  # rendered and counted as their commit would
    # Tiny tables favour a scan; at any size the counts are read by their key.
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    (stats,) = await plans_of(client, session, "/v1/stats", "")
    assert read_tables(stats) == {"view_counts"}
    assert {n["Index Name"] for n in plan_nodes(stats) if "Index Name" in n} == {"pk_view_counts"}
    assert not [n for n in plan_nodes(stats) if n["Node Type"] == "Seq Scan"]

    url = "/v1/claims?facet=metric&facet=facility&count=true&limit=50"
    listed = [read_tables(plan) for plan in await plans_of(client, session, url, "")]
    page = [tables for tables in listed if "claims" in tables]
    assert len(page) == 1, listed  # the page itself; its total and facets read the counts
    assert [tables for tables in listed if tables not in page] == [
        {"view_counts"},  # the total
        {"view_counts"},  # by metric
        {"view_counts", "facilities"},  # by facility, named by the facility's name
    ]
    # Any other filter counts the matching records.
    filtered = await plans_of(client, session, f"{url}&stance=asserts", "")
    assert all(read_tables(plan) & RECORD_TABLES for plan in filtered)


async def kept(connection: AsyncConnection) -> dict[tuple[Any, ...], int]:
    rows = await connection.execute(select(view_counts).where(view_counts.c.count != 0))
    return {(r.kind, r.tier, r.facet, tuple(r.key), r.retracted): r.count for r in rows}


# Writes at once: fewer than the app's pool holds connections (5 and 10 more).
WITNESSES = 3
CLAIMS = 8


async def test_writers_at_once_neither_deadlock_nor_lose_counts(
    committed: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]], engine: AsyncEngine
) -> None:
    """Claims created, witnesses hidden (their testimonies' counts and their claims' change in
    one transaction) and facilities created, all at once, each in its own transaction: every
    write succeeds and the counts are those of a recount."""
    client, writer, _ = committed

    async def created(path: str, body: dict[str, Any]) -> None:
        response = await client.post(path, json=body, headers=writer)
        assert response.status_code == 201, response.text

    await created("/v1/organizations", {"id": "kcna", "name": "KCNA", "kind": "state_media"})
    await created("/v1/sources", {"id": "report", "title": "A report", "source_type": "other"})
    witness = {"witness_role": "survivor", "summary": "A mine.", "protection_level": "public"}
    for n in range(WITNESSES):
        await created(
            "/v1/testimonies", witness | {"id": f"witness-{n}", "witness_pseudonym": f"W{n}"}
        )
    etags = [
        (await client.get(f"/v1/testimonies/witness-{n}", headers=writer)).headers["ETag"]
        for n in range(WITNESSES)
    ]
    claim = {
        "statement": "KCNA claims 700 orphans volunteered.",
        "metric": "persons_count",
        "value": 700,
        "unit": "persons",
        "quote": "700 orphans had volunteered",
        "source": "report",
        "claimant_organization": "kcna",
    }
    writes = [
        client.post(
            "/v1/claims",
            json=claim | {"id": f"claim-{n}", "about_testimony": f"witness-{n % WITNESSES}"},
            headers=writer,
        )
        for n in range(CLAIMS)
    ]
    writes += [
        client.patch(
            f"/v1/testimonies/witness-{n}",
            json={"protection_level": "confidential", "protection_reason": "Named in a trial."},
            headers=writer | {"If-Match": etags[n]},
        )
        for n in range(WITNESSES)
    ]
    writes += [
        client.post(
            "/v1/facilities",
            json={"id": f"mine-{n}", "name": "A mine", "facility_type": "coal_mine"},
            headers=writer,
        )
        for n in range(WITNESSES)
    ]
    answers = await asyncio.gather(*writes)
    statuses = [answer.status_code for answer in answers]
    assert statuses == [201] * CLAIMS + [200] * WITNESSES + [201] * WITNESSES
    async with engine.connect() as connection:
        maintained = await kept(connection)
        await factories.recount(connection)
        assert maintained == await kept(connection)
        await connection.rollback()
    everything = (await client.get("/v1/claims?count=true&limit=1", headers=writer)).json()
    assert everything["page"]["total"] == CLAIMS
    public = (await client.get("/v1/claims?count=true&limit=1")).json()
    assert public["page"]["total"] == 0  # every claim is about a witness now hidden
