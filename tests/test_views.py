"""Stored views: every write path leaves each record's views (and search documents, and the
counts kept of them) exactly as a full rebuild renders them, the counts are those the lists
count over the records, and reads serve the views as the typed models would."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.claims.models import Claim
from app.claims.repository import RECORDS as CLAIMS
from app.claims.repository import claim_conditions
from app.claims.schemas import ClaimQuery
from app.facilities.repository import RECORDS as FACILITIES
from app.organizations.repository import RECORDS as ORGANIZATIONS
from app.reading.listing import Records
from app.rendering.indexing import index_missing, index_pending, rebuild_all
from app.search.models import SearchDocument
from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from app.sources.repository import RECORDS as SOURCES
from app.testimonies.repository import RECORDS as TESTIMONIES
from app.views.models import RecordView, view_counts
from app.views.rendering import TIERS
from tests import factories

ORPHANS = "claim-kcna-700-orphans-volunteered"


@pytest.fixture
async def editor(session: AsyncSession) -> dict[str, str]:
    return await factories.api_key(session, "write", "read:confidential", name="editor")


async def stored(session: AsyncSession) -> dict[tuple[str, ...], Any]:
    """Every view, search document and count, as comparable values."""
    await index_pending(session)
    views = await session.scalars(select(RecordView))
    documents = await session.scalars(select(SearchDocument))
    found: dict[tuple[str, ...], Any] = {
        (view.kind, view.record_id, view.tier): (
            view.version,
            json.loads(view.body + "}"),
            view.cite,
            view.live,
            view.disclosed,
            view.csv,
            view.counted,
        )
        for view in views
    }
    for document in documents:
        key = ("document", document.ref, ",".join(sorted(document.tiers)))
        found[key] = (
            document.title,
            document.names,
            document.body,
            document.retracted,
            document.changed_at,
        )
    # A group whose records all left it keeps its row, at 0.
    for row in await session.execute(select(view_counts).where(view_counts.c.count != 0)):
        key = ("count", row.kind, row.tier, row.facet, json.dumps(row.key), str(row.retracted))
        found[key] = row.count
    session.expunge_all()
    return found


async def rebuilt(session: AsyncSession) -> dict[tuple[str, ...], Any]:
    await rebuild_all(session)
    return await stored(session)


LISTS: dict[str, Records[Any]] = {
    "/v1/organizations": ORGANIZATIONS,
    "/v1/sources": SOURCES,
    "/v1/facilities": FACILITIES,
    "/v1/testimonies": TESTIMONIES,
    "/v1/claims": CLAIMS,
}
# A filter every record meets: the list counts over the records instead of reading the
# counts kept.
EVERY_RECORD = {"updated_since": "1900-01-01T00:00:00Z"}


async def kept_counts_differ(
    client: httpx.AsyncClient, session: AsyncSession, keys: dict[str, dict[str, str]]
) -> list[Any]:
    """Where the counts kept differ from those counted over the records, for each tier's
    client: every list's total and facets (with and without retracted records), and the
    statistics' claims by metric and unit."""
    found = []
    for tier, headers in keys.items():
        for path, records in LISTS.items():
            for retracted in ("false", "true"):
                params = {
                    "facet": list(records.facets),
                    "count": "true",
                    "limit": "1",
                    "include_retracted": retracted,
                }
                kept = (await client.get(path, params=params, headers=headers)).json()
                params |= EVERY_RECORD
                counted = (await client.get(path, params=params, headers=headers)).json()
                kept_counts = kept["facets"], kept["page"]["total"]
                if kept_counts != (counted["facets"], counted["page"]["total"]):
                    found.append((tier, path, retracted, kept, counted))
        stats = (await client.get("/v1/stats", headers=headers)).json()["claims"]
        principal = TIERS[tier]
        where = CLAIMS.where(claim_conditions(ClaimQuery(), principal), ClaimQuery(), principal)
        rows = await session.execute(
            select(Claim.metric, Claim.unit, func.count())
            .where(*where)
            .group_by(Claim.metric, Claim.unit)
        )
        recounted = {(metric.value, unit.value): n for metric, unit, n in rows}
        kept_pairs = {(g["metric"], g["unit"]): g["count"] for g in stats["by_metric_and_unit"]}
        if kept_pairs != recounted or stats["total"] != sum(recounted.values()):
            found.append((tier, "/v1/stats", kept_pairs, recounted))
    return found


async def write(
    client: httpx.AsyncClient, method: str, path: str, editor: dict[str, str], **kwargs: Any
) -> dict[str, Any]:
    headers = dict(editor)
    if method in ("PATCH", "DELETE"):
        headers["If-Match"] = (await client.get(path, headers=editor)).headers["ETag"]
    response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def differences(before: dict[Any, Any], after: dict[Any, Any]) -> list[Any]:
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


async def test_every_write_path_keeps_the_views_equal_to_a_rebuild(
    client: httpx.AsyncClient, session: AsyncSession, editor: dict[str, str]
) -> None:
    keys = {
        "public": {},
        "restricted": await factories.api_key(session, "read:restricted"),
        "confidential": editor,
    }

    async def unchanged_by_a_rebuild(step: str) -> None:
        assert await kept_counts_differ(client, session, keys) == [], step
        assert differences(await stored(session), await rebuilt(session)) == [], step

    await load_seed(session, read_seed(SEED_DIR))
    await unchanged_by_a_rebuild("the seed")

    await write(
        client, "PATCH", "/v1/organizations/kcna", editor, json={"name": "KCNA (state media)"}
    )
    await unchanged_by_a_rebuild("a publisher's new name, in its sources and their citations")

    revisions = await client.get(f"/v1/claims/{ORPHANS}/revisions", headers=editor)
    last = revisions.json()["data"][-1]["revision"]
    version = await client.get(f"/v1/claims/{ORPHANS}/revisions/{last}", headers=editor)
    copy = version.json()["record"] | {
        "id": "claim-un-700-orphans",
        "claimant_organization": "united-nations",
    }
    await write(client, "POST", "/v1/claims", editor, json=copy)
    await unchanged_by_a_rebuild("a claim that comes to agree: its group's figures")

    await write(
        client,
        "PATCH",
        "/v1/testimonies/choi-ki-sun",
        editor,
        json={"protection_level": "restricted", "protection_reason": "Family still inside."},
    )
    await unchanged_by_a_rebuild("a witness's account raised to restricted")

    await write(
        client, "PATCH", "/v1/facilities/aoji-coal-mine", editor, json={"name": "Aoji mine"}
    )
    await unchanged_by_a_rebuild("a facility's new name")

    await write(client, "PATCH", f"/v1/claims/{ORPHANS}", editor, json={"value": 710})
    await unchanged_by_a_rebuild("a value that leaves its group's agreement")

    for path, faceted in (
        ("/v1/facilities/aoji-coal-mine", {"facility_type": "farm", "province": "ryanggang"}),
        ("/v1/testimonies/kim-hye-sook", {"labour_types": ["agriculture"], "period_start": "1981"}),
        (f"/v1/claims/{ORPHANS}", {"stance": "disputes", "about_facility": "aoji-coal-mine"}),
    ):
        await write(client, "PATCH", path, editor, json=faceted)
    await unchanged_by_a_rebuild("faceted values changed")

    await write(
        client,
        "PATCH",
        "/v1/testimonies/choi-ki-sun",
        editor,
        json={"protection_level": "confidential", "protection_reason": "Named in a trial."},
    )
    await unchanged_by_a_rebuild("a witness hidden from the public and restricted tiers")

    await write(client, "DELETE", f"/v1/claims/{ORPHANS}", editor, params={"reason": "Duplicate."})
    await unchanged_by_a_rebuild("a retracted claim")

    await write(
        client,
        "DELETE",
        "/v1/sources/kcna-statement-hundreds-of-children-volunteer",
        editor,
        params={"reason": "Withdrawn for the test."},
    )
    await unchanged_by_a_rebuild("a retracted source")

    lines = [
        {"type": "organization", "record": {"id": "import-org", "name": "Imported", "kind": "ngo"}},
        {
            "type": "claim",
            "record": copy | {"id": "claim-imported", "claimant_organization": "import-org"},
        },
    ]
    imported = await client.post(
        "/v1/import",
        content="\n".join(json.dumps(line) for line in lines).encode(),
        headers=editor | {"Content-Type": "application/x-ndjson"},
    )
    assert imported.status_code == 200, imported.text
    await unchanged_by_a_rebuild("an import")
    tiers = {key[2] for key in await stored(session) if key[0] == "claims"}
    assert tiers == {"public", "restricted", "confidential"}


async def test_a_served_view_is_the_typed_model(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """What a list and a detail serve from storage validates against the documented schema
    and names the request's own base URL and access date."""
    await load_seed(session, read_seed(SEED_DIR))
    page = await client.get("/v1/claims", params={"limit": 100})
    assert page.status_code == 200
    detail = await client.get(f"/v1/claims/{ORPHANS}")
    listed = {claim["id"]: claim for claim in page.json()["data"]}
    assert listed[ORPHANS] == detail.json()
    cite_as = detail.json()["cite_as"]
    assert cite_as["permalink"] == f"http://testserver/v1/claims/{ORPHANS}"
    assert cite_as["text"].endswith(f"(accessed {cite_as['accessed']}).")
    assert detail.json()["independent_sources"] >= 1


async def test_a_record_put_in_by_sql_is_served_once_rendered(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Rows written around the application have no views until they are rendered (what
    `testimony db upgrade` does for records without any)."""
    await session.execute(
        text("INSERT INTO organizations (id, name, kind) VALUES ('by-sql', 'By SQL', 'ngo')")
    )
    assert (await client.get("/v1/organizations/by-sql")).status_code == 404
    assert await index_missing(session) == 1
    assert (await client.get("/v1/organizations/by-sql")).json()["name"] == "By SQL"
