"""Every GET route, discovered from the app, asked anonymously in every way the API offers:
nothing of a confidential testimony may come back, and a restricted one only coarsened."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.routes import api_routes
from app.sources.schemas import CitationFormat
from tests import factories

HIDDEN = "HIDDENMARK"  # in every field of the confidential testimony and what rests on it
WITHHELD = "WITHHELDMARK"  # in the fields a coarsened restricted testimony leaves out
EXPORTED = ["/v1/organizations", "/v1/sources", "/v1/facilities", "/v1/testimonies", "/v1/claims"]
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


def check(response: httpx.Response, where: str, echoed: str = "") -> None:
    """`echoed`: words of the request itself, which its links repeat."""
    everything = response.text + json.dumps(dict(response.headers))
    if echoed:
        everything = everything.replace(quote_plus(echoed), "").replace(quote(echoed), "")
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
    elif "attachment" in response.headers.get("content-disposition", ""):
        for hidden_id in HIDDEN_IDS:  # an export: CSV, NDJSON, GeoJSON, citations
            assert hidden_id not in response.text, f"{where} exports {hidden_id}"


async def walk(client: httpx.AsyncClient, url: str, echoed: str = "") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url)
        check(response, next_url, echoed)
        if response.status_code != 200:
            return records
        body = response.json()
        records += body["data"]
        next_url = body["links"]["next"]
    return records


# Words of the protected records' withheld fields, and the witnesses' names spelled otherwise.
SEARCH_PROBES = [
    HIDDEN,
    WITHHELD,
    "guards night",
    "lamps coal",
    "HIDDENMARK pseudonym",
    "Ryanggang",
]


def has_parameter(app: FastAPI, path: str, name: str) -> bool:
    operation = app.openapi()["paths"][path]["get"]
    return any(p["name"] == name for p in operation.get("parameters", []))


def parameter_values(app: FastAPI, path: str, name: str) -> list[str]:
    """The values an enumerated query parameter takes (`facet`)."""
    schemas = app.openapi()["components"]["schemas"]
    for parameter in app.openapi()["paths"][path]["get"].get("parameters", []):
        if parameter["name"] == name:
            items = parameter["schema"]["items"]
            if "$ref" in items:
                items = schemas[items["$ref"].rsplit("/", 1)[-1]]
            values: list[str] = items["enum"]
            return values
    return []


async def test_search_finds_nothing_protected(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The published article holds the quotes, so it may be found by them; nothing else."""
    await build(session)
    for words in SEARCH_PROBES:
        response = await client.get("/v1/search", params={"q": words, "limit": 200})
        assert response.status_code == 200
        for result in response.json()["data"]:
            where = f"/v1/search?q={words}: {result['type']}/{result['id']}"
            assert result["id"] not in HIDDEN_IDS, where
            if result["type"] != "source":
                for secret in (HIDDEN, WITHHELD, HIDDEN_QUOTE, WITHHELD_QUOTE):
                    assert secret not in json.dumps(result), where
    stats = await client.get("/v1/stats")
    check(stats, "/v1/stats")
    assert stats.json()["testimonies"]["by_labour_type"][0]["key"] != "forestry"


def export_variants(app: FastAPI, path: str) -> list[tuple[str, dict[str, str]]]:
    """Every other form a list offers, as the URL that asks for it and its headers: each
    export operation of the document (`/v1/claims.csv`), and its media type asked of the
    list through the Accept header, as older clients do."""
    document = app.openapi()
    variants: list[tuple[str, dict[str, str]]] = []
    for template, operations in document["paths"].items():
        if template.startswith(f"{path}.") and "get" in operations:
            variants.append((f"{template}?", {}))
            (media_type,) = operations["get"]["responses"]["200"]["content"]
            variants.append((f"{path}?", {"Accept": media_type}))
    return variants


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
    routes = sorted(
        api.path for api in api_routes(app) if "GET" in api.methods and api.route.include_in_schema
    )
    lists = [path for path in routes if "{" not in path and "." not in path]
    known_ids: dict[str, set[str]] = {}
    for path in lists:
        records = await walk(client, f"{path}?limit=200&count=true")
        known_ids[path] = {r["id"] for r in records if "id" in r}
        for sort in ("id", "-id"):
            await walk(client, f"{path}?limit=1&sort={sort}")
        for name in id_filters(app, path):
            for probe in ["hidden-witness", "restricted-witness", "mine", "report"]:
                await walk(client, f"{path}?{name}={probe}&count=true")
        variants = export_variants(app, path)
        if path in EXPORTED:
            assert len(variants) >= 2, f"{path} offers no export"
        for start, headers in variants:
            for extra in ["", "sort=-id", "testimony=hidden-witness", "source=report"]:
                url = f"{start}{extra}"
                response = await client.get(url, headers=headers)
                check(response, f"{url} {headers}")
                if not extra and path in EXPORTED:
                    assert response.status_code == 200, url
        if has_parameter(app, path, "q"):
            for words in SEARCH_PROBES:
                await walk(client, f"{path}?q={quote_plus(words)}&count=true", echoed=words)
        for facet in parameter_values(app, path, "facet"):
            await walk(client, f"{path}?facet={facet}&limit=200")
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
