"""The disclosure policy holds on every route, for every kind of material and every client.

A corpus with a marker in every field a protection level withholds, at every level: sources
(an article, a leaked report, an unpublished interview), testimonies and their excerpts, claims
(one with its claimant withheld), facility mentions quoting protected passages, and histories
(a record lowered from confidential, one raised to it, an excerpt raised on its own). Every GET
route of the app, with its path parameters filled, in every format, with search words, facets,
all pages and HEAD, is asked by four clients; no marker above a client's level may come back,
except as an echo of its own request.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.routes import api_routes
from app.sources.schemas import CitationFormat
from tests import factories

# Words only read:restricted (and read:confidential) may see, and words only
# read:confidential may see. Exact values a coarsened record withholds count as the former.
RMARK, CMARK = "rmark", "cmark"
RESTRICTED_VALUES = ("1911", "2019-02", "rmark")

PUBLIC_QUOTE = "700 orphans volunteered for the mines"
R_EXCERPT = "rmark we dug coal until the lamps went out"
C_EXCERPT = "cmark the guards came for us at night"
R_OWN_EXCERPT = "rmark my brother was taken in spring"
C_OWN_EXCERPT = "cmark the camp commander was named Ri"
R_CLAIM = "rmark fourteen hours a day"
C_CLAIM = "cmark three hundred prisoners"
INSIDE_QUOTE = "about 40 workers were sent abroad"
CW_QUOTE = "cmark three of us escaped"
ARTICLE = ". ".join(
    [
        PUBLIC_QUOTE,
        R_EXCERPT,
        C_EXCERPT,
        R_OWN_EXCERPT,
        C_OWN_EXCERPT,
        R_CLAIM,
        C_CLAIM,
        INSIDE_QUOTE,
        CW_QUOTE,
    ]
)
INTERVIEW = "cmark interview: she said 52 children worked there"
LEAK = "rmark leaked list: 12 workers"

ARTICLE_ID = "article"  # a published article: its own text holds every quote, verbatim
HIDDEN_FROM_UNCLEARED = {  # ids a client without read:confidential must never learn
    "interview",
    "t-confidential",
    "t-raised",
    "c-confidential",
    "c-confidential-witness",
}


async def build(session: AsyncSession, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    article = await factories.source(
        session, id=ARTICLE_ID, title="Workers sent to mines", archived_text=ARTICLE
    )
    interview = await factories.source(
        session,
        id="interview",
        title="cmark interview with a former worker",
        source_type="defector_account",
        authors=["cmark interviewer"],
        url="https://example.org/cmark-interview",
        notes="cmark transcript notes",
        archived_text=INTERVIEW,
        protection_level="confidential",
        protection_reason="An unpublished interview transcript.",
    )
    leak = await factories.source(
        session,
        id="leak",
        title="rmark leaked list",
        authors=["rmark author"],
        url="https://example.org/rmark-leak",
        published="2019-02-11",
        notes="rmark notes on the leak",
        archived_text=LEAK,
        protection_level="restricted",
        protection_reason="Its title and author identify who passed it on.",
    )
    insider = await factories.organization(session, id="insider", name="A trading company")
    mine = await factories.facility(
        session,
        id="mine",
        description="A coal mine named in the article.",
        mentions=[
            {"source": article.id, "quote": PUBLIC_QUOTE},
            {"source": article.id, "quote": R_EXCERPT},
            {"source": article.id, "quote": C_EXCERPT},
            {"source": interview.id, "quote": "52 children worked there"},
            {"source": leak.id, "quote": "12 workers"},
        ],
    )
    await factories.testimony(
        session,
        id="t-public",
        witness_pseudonym="Public witness",
        facilities=[mine],
        excerpts=[
            {"source": article.id, "quote": PUBLIC_QUOTE},
            {"source": article.id, "quote": R_OWN_EXCERPT, "protection_level": "restricted"},
            {"source": article.id, "quote": C_OWN_EXCERPT, "protection_level": "confidential"},
        ],
    )
    await factories.testimony(
        session,
        id="t-restricted",
        witness_pseudonym="Restricted witness",
        protection_level="restricted",
        witness_age_at_start=33,
        witness_birth_year=1911,
        county="rmark county",
        period_start="2019-02-03",
        excerpts=[{"source": article.id, "quote": R_EXCERPT}],
    )
    await factories.testimony(
        session,
        id="t-confidential",
        witness_pseudonym="cmark pseudonym",
        protection_level="confidential",
        county="cmark county",
        summary="cmark summary",
        excerpts=[{"source": article.id, "quote": C_EXCERPT}],
    )
    await factories.claim(
        session,
        id="c-restricted",
        statement="A witness gives daily hours.",
        metric="working_hours_per_day",
        value=14,
        unit="hours_per_day",
        claimant_testimony="t-restricted",
        source=article.id,
        quote=R_CLAIM,
        notes="rmark claim notes",
    )
    await factories.claim(
        session,
        id="c-confidential",
        statement="cmark statement",
        protection_level="confidential",
        value=300,
        source=article.id,
        quote=C_CLAIM,
    )
    await factories.claim(
        session,
        id="c-confidential-witness",
        statement="cmark about a hidden witness",
        claimant_testimony="t-confidential",
        value=3,
        source=article.id,
        quote=CW_QUOTE,
    )
    await factories.claim(
        session,
        id="c-interview",
        statement="Children worked at the mine, an interviewee says.",
        value=52,
        unit="persons",
        source=interview.id,
        quote="52 children worked there",
    )
    await factories.claim(
        session,
        id="c-inside",
        statement="About 40 workers were sent abroad.",
        value=40,
        approximation="approximate",
        claimant_organization=insider.id,
        claimant_level="restricted",
        source=article.id,
        quote=INSIDE_QUOTE,
    )
    await factories.testimony(
        session,
        id="t-lowered",
        witness_pseudonym="Lowered witness",
        protection_level="confidential",
        county="cmark old county",
    )
    await factories.testimony(session, id="t-raised", witness_pseudonym="Raised witness")
    await factories.testimony(
        session,
        id="t-excerpt-raised",
        witness_pseudonym="Witness whose excerpt was raised",
        excerpts=[{"source": article.id, "quote": R_OWN_EXCERPT}],
    )
    # The histories, written through the API as a cleared writer would.
    for record, change in [
        ("t-lowered", {"protection_level": "public", "county": None}),
        (
            "t-raised",
            {
                "protection_level": "confidential",
                "protection_reason": "Raised to confidential.",
                "county": "cmark new county",
            },
        ),
        (
            "t-excerpt-raised",
            {
                "excerpts": [
                    {"source": article.id, "quote": R_OWN_EXCERPT, "protection_level": "restricted"}
                ]
            },
        ),
    ]:
        url = f"/v1/testimonies/{record}"
        etag = (await client.get(url, headers=writer)).headers["etag"]
        answer = await client.patch(url, json=change, headers=writer | {"If-Match": etag})
        assert answer.status_code == 200, answer.text


@dataclass
class Client:
    name: str
    headers: dict[str, str]
    forbidden: tuple[str, ...]  # what may never appear in its answers
    hidden_ids: frozenset[str]


def leaks(client: Client, response: httpx.Response, url: str) -> list[str]:
    body = response.text
    if url.startswith(f"/v1/sources/{ARTICLE_ID}/"):
        return []  # the published article's own text and history: public by nature
    # A HEAD answer has the GET's headers and no body.
    if body and response.headers.get("content-type", "").startswith("application/json"):
        data = response.json()
        results = data.get("data") if isinstance(data, dict) else None
        if url.startswith("/v1/search") and isinstance(results, list):
            # The article is found by its own words; nothing else may be.
            data["data"] = [r for r in results if r.get("id") != ARTICLE_ID]
        body = json.dumps(data, ensure_ascii=False)
    # The request's id is random hex: it may spell anything.
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    everything = (body + json.dumps(headers)).lower()
    path = url.split("?")[0]
    for echoed in (url, quote(url), quote_plus(url), path):
        everything = everything.replace(echoed.lower(), "")
    found = [word for word in client.forbidden if word in everything]
    for record_id in client.hidden_ids:
        if f'"{record_id}"' in everything or f"/{record_id}" in everything:
            found.append(record_id)
    return [f"{client.name} {response.request.method} {url}: {word}" for word in found]


def list_variants(app: FastAPI, path: str) -> list[str]:
    """Every form a list offers (formats, facets, search words, filters by protected ids),
    as query strings."""
    document = app.openapi()
    operation = document["paths"][path]["get"]
    variants = ["limit=200&count=true", "limit=1&sort=-id"]
    for parameter in operation.get("parameters", []):
        schema = parameter["schema"]
        name = parameter["name"]
        options = schema.get("anyOf", [schema])
        for option in options:
            items = option.get("items", option)
            if "$ref" in items:
                items = document["components"]["schemas"][items["$ref"].split("/")[-1]]
            if name in ("format", "facet"):
                variants += [f"{name}={value}" for value in items.get("enum", [])]
            elif option.get("type") == "array" and items.get("type") == "string":
                variants += [
                    f"{name}={probe}"
                    for probe in ("t-confidential", "t-restricted", "interview", "leak", "insider")
                ]
        if name == "q":
            variants += [f"q={words}" for words in ("rmark", "cmark", "lamps coal", "Ri")]
    return variants


async def sweep(app: FastAPI, http: httpx.AsyncClient, client: Client) -> tuple[int, list[str]]:
    found: list[str] = []
    asked = 0

    async def ask(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        nonlocal asked
        asked += 1
        response = await http.get(url, headers=client.headers | (headers or {}))
        found.extend(leaks(client, response, url))
        head = await http.head(url, headers=client.headers)
        asked += 1
        found.extend(leaks(client, head, url))
        return response

    routes = sorted(api.path for api in api_routes(app) if "GET" in api.methods)
    known: dict[str, set[str]] = {}
    for path in (p for p in routes if "{" not in p and p.startswith("/v1")):
        for variant in list_variants(app, path):
            url: str | None = f"{path}?{variant}"
            while url:  # every page
                response = await ask(url)
                json_page = response.headers.get("content-type", "").startswith("application/json")
                body = response.json() if json_page else {}
                rows = body.get("data") if isinstance(body, dict) else None
                if isinstance(rows, list):
                    known.setdefault(path, set()).update(r["id"] for r in rows if "id" in r)
                    url = (body.get("links") or {}).get("next")
                else:
                    url = None
    everyone = {record for ids in known.values() for record in ids} | HIDDEN_FROM_UNCLEARED
    for path in (p for p in routes if "{" in p):
        for record in sorted(everyone | {"leak", "c-inside", "t-lowered", "t-excerpt-raised"}):
            url = re.sub(r"\{\w+_id\}", record, path)
            for revision in ("1", "2") if "{revision}" in url else ("",):
                target = url.replace("{revision}", revision)
                if path.endswith("/citation"):
                    for citation_format in CitationFormat:
                        await ask(f"{target}?format={citation_format.value}")
                else:
                    await ask(target)
    return asked, found


async def test_no_client_is_shown_more_than_its_level(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    writer = await factories.api_key(session, "write", "read:confidential")
    await build(session, client, writer)
    uncleared = (*RESTRICTED_VALUES, CMARK)
    clients = [
        Client("anonymous", {}, uncleared, frozenset(HIDDEN_FROM_UNCLEARED)),
        Client(
            "no-scope key",
            await factories.api_key(session),
            uncleared,
            frozenset(HIDDEN_FROM_UNCLEARED),
        ),
        Client(
            "write-only key",
            await factories.api_key(session, "write"),
            uncleared,
            frozenset(HIDDEN_FROM_UNCLEARED),
        ),
        Client(
            "read:restricted key",
            await factories.api_key(session, "read:restricted"),
            (CMARK,),
            frozenset(HIDDEN_FROM_UNCLEARED),
        ),
    ]
    asked: Counter[str] = Counter()
    found: list[str] = []
    for one in clients:
        count, leaked = await sweep(app, client, one)
        asked[one.name] = count
        found += leaked
    print("requests swept per client:", dict(asked), "leaks:", len(found))
    assert not found, "\n".join(sorted(set(found))[:40])
    assert min(asked.values()) > 500


async def test_withheld_material_is_still_shown_to_cleared_clients(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The sweep could pass by showing nothing: the cleared client sees every marker where it
    belongs, and the uncleared one sees the facts that need no protection."""
    writer = await factories.api_key(session, "write", "read:confidential")
    await build(session, client, writer)
    restricted = await factories.api_key(session, "read:restricted")

    anonymous_claim = (await client.get("/v1/claims/c-interview")).json()
    assert anonymous_claim["value"] == 52  # the number of an unpublished interview stands
    assert anonymous_claim["citations"][0]["source"] is None
    assert anonymous_claim["citations"][0]["quote"] is None
    cleared_claim = (await client.get("/v1/claims/c-interview", headers=writer)).json()
    assert cleared_claim["citations"][0]["source"]["id"] == "interview"
    assert cleared_claim["citations"][0]["quote"] == "52 children worked there"

    inside = (await client.get("/v1/claims/c-inside")).json()
    assert inside["claimant"] == {
        "type": None,
        "id": None,
        "name": "an unnamed source",
        "withheld": True,
    }
    assert inside["citations"][0]["quote"] == INSIDE_QUOTE  # what was said stays visible
    assert "claimant" in inside["disclosure"]["withheld"]
    by_claimant = await client.get("/v1/claims", params={"claimant": "insider"})
    assert by_claimant.json()["data"] == []
    # A witness who speaks about themself, withheld as the claimant, is not shown as subject.
    await factories.claim(
        session,
        id="c-self",
        statement="A witness counts those sent abroad.",
        value=40,
        claimant_testimony="t-public",
        about_testimony="t-public",
        claimant_level="restricted",
        source=ARTICLE_ID,
        quote=INSIDE_QUOTE,
    )
    self_claim = (await client.get("/v1/claims/c-self")).json()
    assert self_claim["claimant"]["withheld"] is True
    assert self_claim["about"]["testimony"] is None
    by_subject = await client.get("/v1/claims", params={"testimony": "t-public"})
    assert "c-self" not in [c["id"] for c in by_subject.json()["data"]]
    assert (await client.get("/v1/claims/c-self", headers=restricted)).json()["about"][
        "testimony"
    ] == {"id": "t-public", "name": "Public witness"}
    # The withheld witness's own excerpt of the passage would name them: it is withheld too,
    # while the same words quoted by others stay.
    await factories.testimony(
        session,
        id="t-insider",
        witness_pseudonym="An insider",
        excerpts=[{"source": ARTICLE_ID, "quote": INSIDE_QUOTE}],
    )
    await factories.claim(
        session,
        id="c-insider",
        statement="About 40 workers were sent abroad, an insider says.",
        value=40,
        claimant_testimony="t-insider",
        claimant_level="restricted",
        source=ARTICLE_ID,
        quote=INSIDE_QUOTE,
    )
    insider = (await client.get("/v1/testimonies/t-insider")).json()
    assert [c["quote"] for c in insider["citations"]] == [None]
    cleared_insider = (await client.get("/v1/testimonies/t-insider", headers=restricted)).json()
    assert [c["quote"] for c in cleared_insider["citations"]] == [INSIDE_QUOTE]
    assert (await client.get("/v1/claims/c-inside")).json()["citations"][0]["quote"] == INSIDE_QUOTE
    found = await client.get("/v1/search", params={"q": "workers sent abroad", "type": "testimony"})
    assert "t-insider" not in [r["id"] for r in found.json()["data"]]
    cleared = (await client.get("/v1/claims/c-inside", headers=restricted)).json()
    assert cleared["claimant"]["id"] == "insider"

    mine = (await client.get("/v1/facilities/mine")).json()
    assert [c["quote"] for c in mine["citations"]] == [PUBLIC_QUOTE, None, None]
    mine_cleared = (await client.get("/v1/facilities/mine", headers=writer)).json()
    assert [c["quote"] for c in mine_cleared["citations"]] == [
        PUBLIC_QUOTE,
        R_EXCERPT,
        C_EXCERPT,
        "52 children worked there",
        "12 workers",
    ]

    leak = (await client.get("/v1/sources/leak")).json()
    assert leak["title"] is None
    assert leak["published"] == "2019"
    assert (await client.get("/v1/sources/leak/text")).status_code == 403
    assert (await client.get("/v1/sources/leak/text", headers=restricted)).text == LEAK
    assert (await client.get("/v1/sources/interview")).status_code == 404
    assert (await client.get("/v1/sources/interview/text", headers=writer)).text == INTERVIEW

    # Histories: a lowered record's confidential past, a raised excerpt's public past.
    lowered = (await client.get("/v1/testimonies/t-lowered/revisions")).json()["data"]
    assert [entry["changes"] is None for entry in lowered] == [True, True]
    assert (await client.get("/v1/testimonies/t-lowered/revisions/1")).status_code == 403
    assert (await client.get("/v1/testimonies/t-lowered/revisions/1", headers=writer)).json()[
        "record"
    ]["county"] == "cmark old county"
    assert (await client.get("/v1/testimonies/t-raised/revisions")).status_code == 404
    raised = await client.get("/v1/testimonies/t-excerpt-raised/revisions/1")
    assert raised.status_code == 403  # its words are restricted now, in every version
    shown = await client.get("/v1/testimonies/t-excerpt-raised/revisions/1", headers=restricted)
    assert shown.json()["record"]["excerpts"][0]["quote"] == R_OWN_EXCERPT


async def test_each_view_has_its_own_etag(client: httpx.AsyncClient, session: AsyncSession) -> None:
    writer = await factories.api_key(session, "write", "read:confidential")
    await build(session, client, writer)
    anonymous = await client.get("/v1/testimonies/t-restricted")
    assert "Authorization" in anonymous.headers["vary"].split(", ")
    tag = anonymous.headers["etag"]
    again = await client.get("/v1/testimonies/t-restricted", headers={"If-None-Match": tag})
    assert again.status_code == 304
    cleared = await client.get(
        "/v1/testimonies/t-restricted", headers=writer | {"If-None-Match": tag}
    )
    assert cleared.status_code == 200
    assert cleared.headers["etag"] != tag
    assert cleared.json()["county"] == "rmark county"
    # If-Match compares strongly: a weak tag, or another view's tag, is not the version.
    weak = await client.patch(
        "/v1/testimonies/t-restricted",
        json={"summary": "Changed."},
        headers=writer | {"If-Match": f"W/{cleared.headers['etag']}"},
    )
    assert weak.status_code == 412
    other_view = await client.patch(
        "/v1/testimonies/t-restricted",
        json={"summary": "Changed."},
        headers=writer | {"If-Match": tag},
    )
    assert other_view.status_code == 412
