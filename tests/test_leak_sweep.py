"""Every GET route, discovered from the app, asked anonymously in every way the API offers:
nothing of a confidential testimony may come back, and a restricted one only coarsened."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.routes import api_routes
from app.sources.schemas import CitationFormat
from tests import factories

HIDDEN = "HIDDENMARK"  # in every field of the confidential testimony and what rests on it
WITHHELD = "WITHHELDMARK"  # in the fields a coarsened restricted testimony leaves out
HIDDEN_IDS = ["hidden-witness", "hidden-claim", "about-hidden", "hidden-excerpt-claim"]
# The quotes stand in a published article, whose text is public (GET /v1/sources/{id}/text);
# what must not leak is that these passages are the protected witnesses' words.
HIDDEN_QUOTE = "the guards came for us at night"
WITHHELD_QUOTE = "we dug coal until the lamps went out"
TEXT = (
    f"A witness said: {HIDDEN_QUOTE}. Another said: {WITHHELD_QUOTE}. "
    "The report said 700 orphans volunteered."
)


async def build(session: AsyncSession) -> None:
    source = await factories.source(session, id="report", archived_text=TEXT)
    mine = await factories.facility(session, id="mine")
    await factories.testimony(
        session,
        id="hidden-witness",
        witness_pseudonym=f"{HIDDEN} pseudonym",
        witness_role="inside_source",
        witness_age_at_start=33,
        witness_birth_year=1911,
        protection_level="confidential",
        county=f"{HIDDEN} county",
        period_start="2019-02-03",
        period_end="2020-04",
        province="ryanggang",
        labour_types=["forestry"],
        summary=f"{HIDDEN} summary",
        facilities=[mine],
        excerpts=[{"source": source.id, "quote": HIDDEN_QUOTE}],
    )
    await factories.testimony(
        session,
        id="restricted-witness",
        witness_pseudonym="Restricted witness",
        protection_level="restricted",
        witness_birth_year=1913,
        county=f"{WITHHELD} county",
        period_start="1987-03-14",
        facilities=[mine],
        excerpts=[{"source": source.id, "quote": WITHHELD_QUOTE}],
    )
    await factories.claim(
        session,
        id="hidden-claim",
        statement=f"{HIDDEN} statement",
        notes=f"{HIDDEN} notes",
        claimant_testimony="hidden-witness",
        source=source.id,
        quote=HIDDEN_QUOTE,
    )
    await factories.claim(
        session,
        id="about-hidden",
        statement=f"{HIDDEN} about",
        about_testimony="hidden-witness",
        value=4,
    )
    await factories.claim(
        session,
        id="hidden-excerpt-claim",
        statement=f"{HIDDEN} own level",
        protection_level="confidential",
        value=5,
    )
    await factories.claim(
        session,
        id="restricted-claim",
        claimant_testimony="restricted-witness",
        notes=f"{WITHHELD} notes",
        source=source.id,
        quote=WITHHELD_QUOTE,
        period_end="1987-03-14",
    )
    await factories.claim(
        session, id="public-claim", source=source.id, quote="700 orphans volunteered"
    )


def check(response: httpx.Response, where: str) -> None:
    everything = response.text + json.dumps(dict(response.headers))
    assert HIDDEN not in everything, f"{where} shows the confidential testimony"
    assert WITHHELD not in everything, f"{where} shows what a restricted record withholds"
    # The published article is public: its text, and a source's history that holds it.
    article = where.startswith("/v1/sources/") and ("/text" in where or "/revisions" in where)
    if not article:
        assert HIDDEN_QUOTE not in everything, f"{where} shows the hidden witness's words"
        assert WITHHELD_QUOTE not in everything, f"{where} shows a withheld quote"
    for exact in ("1987-03", "1913", "1911"):
        assert exact not in response.text, f"{where} shows {exact}"
    if response.headers.get("content-type", "").startswith("application/json"):
        data = json.dumps(response.json().get("data", response.json()))
        for hidden_id in HIDDEN_IDS:
            assert f'"{hidden_id}"' not in data, f"{where} lists {hidden_id}"


async def walk(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url)
        check(response, next_url)
        if response.status_code != 200:
            return records
        body = response.json()
        records += body["data"]
        next_url = body["links"]["next"]
    return records


def id_filters(app: FastAPI, path: str) -> list[str]:
    """The list parameters of a route that take record ids (repeatable strings)."""
    operation = app.openapi()["paths"][path]["get"]
    return [
        parameter["name"]
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
        and parameter["schema"].get("type") == "array"
        and parameter["schema"].get("items", {}).get("type") == "string"
    ]


async def test_nothing_confidential_leaks_and_restricted_only_coarsened(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await build(session)
    routes = sorted(api.path for api in api_routes(app) if "GET" in api.methods)
    lists = [path for path in routes if "{" not in path]
    known_ids: dict[str, set[str]] = {}
    for path in lists:
        records = await walk(client, f"{path}?limit=200&count=true")
        known_ids[path] = {r["id"] for r in records if "id" in r}
        for sort in ("id", "-id"):
            await walk(client, f"{path}?limit=1&sort={sort}")
        for name in id_filters(app, path):
            for probe in ["hidden-witness", "restricted-witness", "mine", "report"]:
                await walk(client, f"{path}?{name}={probe}&count=true")
    assert known_ids["/v1/testimonies"] == {"restricted-witness"}
    assert known_ids["/v1/claims"] == {"restricted-claim", "public-claim"}

    for path in routes:
        if "{" not in path:
            continue
        collection = "/" + "/".join(path.split("/")[1:3])
        for record_id in sorted(known_ids.get(collection, set()) | set(HIDDEN_IDS)):
            url = re.sub(r"\{\w+_id\}", record_id, path).replace("{revision}", "1")
            variants = [("", {})]
            if path.endswith("/citation"):
                variants = [(f"?format={f.value}", {}) for f in CitationFormat]
                variants += [("", {"Accept": "application/x-bibtex"})]
            for query, headers in variants:
                response = await client.get(url + query, headers=headers)
                check(response, url + query)
                if record_id in HIDDEN_IDS:
                    assert response.status_code == 404, url

    restricted = (await client.get("/v1/testimonies/restricted-witness")).json()
    assert restricted["witness"]["pseudonym"] == "Restricted witness"
    assert restricted["disclosure"]["coarsened"] is True
    assert restricted["period"]["start"] == "1987"
