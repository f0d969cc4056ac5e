"""Spans of an archived text that are not part of the document: stored and validated with the
source, named where the text is served (which stays byte for byte), left out of search, and
never quoted."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from tests import factories

SPAM = "https://spam.example/eportfolios/4344/Home"
TEXT = (
    "Mr Choi said he worked in a mine until his escape.\n\n"
    f"{SPAM}\n\n"
    "It is not easy to get stories out of the mines, he said.\n"
)
SPAN_START = TEXT.index(SPAM)
SPAN_END = SPAN_START + len(SPAM)
SPAN = {"char_start": SPAN_START, "char_end": SPAN_END, "reason": "injected spam link"}


@pytest.fixture
async def writer(session: AsyncSession) -> dict[str, str]:
    return await factories.api_key(session, "write", "read:confidential")


def article(**fields: Any) -> dict[str, Any]:
    return {
        "id": "bbc-pows",
        "title": "Prisoners of war in the mines",
        "source_type": "news_report",
        "archived_text": TEXT,
        "excluded_spans": [SPAN],
    } | fields


async def post(
    client: httpx.AsyncClient, writer: dict[str, str], plural: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/v1/{plural}", json=body, headers=writer)


async def test_spans_are_stored_and_named_where_the_text_is_served(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    created = await post(client, writer, "sources", article())
    assert created.status_code == 201, created.text
    source = (await client.get("/v1/sources/bbc-pows")).json()
    assert source["excluded_spans"] == [SPAN]
    text = await client.get("/v1/sources/bbc-pows/text", headers=writer)
    # The text is served as archived, spam included, with its digest unchanged.
    assert text.content == TEXT.encode()
    assert hashlib.sha256(text.content).hexdigest() == source["archive_sha256"]
    assert text.headers["etag"] == f'"{source["archive_sha256"]}"'
    # The header names the spans; the text between them is the document.
    assert text.headers["excluded-spans"] == f"{SPAN_START}-{SPAN_END}"
    start, end = (int(n) for n in text.headers["excluded-spans"].split("-"))
    assert text.text[start:end] == SPAM
    assert (
        text.headers["link"] == '</v1/sources/bbc-pows>; rel="describedby"; type="application/json"'
    )


async def test_a_text_without_spans_has_no_header(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    assert (await post(client, writer, "sources", article(excluded_spans=[]))).status_code == 201
    text = await client.get("/v1/sources/bbc-pows/text", headers=writer)
    assert "excluded-spans" not in text.headers
    assert (await client.get("/v1/sources/bbc-pows")).json()["excluded_spans"] == []


@pytest.mark.parametrize(
    ("spans", "archived", "message"),
    [
        ([SPAN | {"char_end": len(TEXT) + 1}], TEXT, "ends past the archived text"),
        ([SPAN, SPAN | {"char_start": SPAN_END - 5, "char_end": SPAN_END + 2}], TEXT, "overlap"),
        ([SPAN | {"char_end": SPAN_START}], TEXT, "char_end must be greater"),
        ([SPAN | {"reason": ""}], TEXT, "at least 1 character"),
        ([SPAN], None, "need an archived_text"),
    ],
)
async def test_spans_must_lie_in_the_text_apart(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    spans: list[dict[str, Any]],
    archived: str | None,
    message: str,
) -> None:
    response = await post(
        client, writer, "sources", article(excluded_spans=spans, archived_text=archived)
    )
    assert response.status_code == 422
    assert message in response.text


async def test_spans_are_kept_in_text_order(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    first = {"char_start": 0, "char_end": 2, "reason": "page furniture"}
    body = article(excluded_spans=[SPAN, first])
    assert (await post(client, writer, "sources", body)).status_code == 201
    source = (await client.get("/v1/sources/bbc-pows")).json()
    assert source["excluded_spans"] == [first, SPAN]


async def test_no_quote_is_taken_from_a_span(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await post(client, writer, "sources", article())
    await post(client, writer, "organizations", {"id": "bbc", "name": "BBC", "kind": "news_outlet"})
    claim = {
        "id": "spam-number",
        "statement": "A number in a spam link.",
        "metric": "other",
        "value": 4344,
        "unit": "other",
        "claimant_organization": "bbc",
        "source": "bbc-pows",
        "quote": "eportfolios/4344",
    }
    found = await post(client, writer, "claims", claim)
    assert found.status_code == 422
    assert "not part of the document" in found.text
    start = TEXT.index("eportfolios/4344")
    located = claim | {"locator": {"char_start": start, "char_end": start + 16}}
    assert (await post(client, writer, "claims", located)).status_code == 422
    straddling = {
        "id": "choi",
        "witness_pseudonym": "Choi",
        "witness_role": "survivor",
        "summary": "He worked in a mine.",
        "protection_level": "public",
        "excerpts": [{"source": "bbc-pows", "quote": "escape.\n\nhttps://spam"}],
    }
    assert (await post(client, writer, "testimonies", straddling)).status_code == 422


async def test_an_occurrence_in_a_span_does_not_count_when_a_quote_is_located(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    # "the mines" stands in the article once, and once more in a span: it is the article's.
    text = TEXT + "spam about the mines\n"
    spam = {"char_start": len(TEXT), "char_end": len(text) - 1, "reason": "injected spam"}
    body = article(archived_text=text, excluded_spans=[SPAN, spam])
    assert (await post(client, writer, "sources", body)).status_code == 201
    mine = {
        "id": "mine",
        "name": "A mine",
        "facility_type": "mine",
        "mentions": [{"source": "bbc-pows", "quote": "the mines"}],
    }
    response = await post(client, writer, "facilities", mine)
    assert response.status_code == 201, response.text
    locator = response.json()["citations"][0]["locator"]
    assert locator["char_start"] == TEXT.index("the mines")


async def test_a_span_may_not_be_laid_over_a_quote(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await post(client, writer, "sources", article(excluded_spans=[]))
    mine = {
        "id": "mine",
        "name": "A mine",
        "facility_type": "mine",
        "mentions": [{"source": "bbc-pows", "quote": "worked in a mine"}],
    }
    assert (await post(client, writer, "facilities", mine)).status_code == 201
    start = TEXT.index("worked in a mine")
    etag = (await client.get("/v1/sources/bbc-pows", headers=writer)).headers["etag"]
    response = await client.patch(
        "/v1/sources/bbc-pows",
        json={"excluded_spans": [{"char_start": start, "char_end": start + 6, "reason": "x"}]},
        headers=writer | {"If-Match": etag},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["name"] == "excluded_spans"


async def test_search_leaves_spans_out(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    await post(client, writer, "sources", article())
    found = (await client.get("/v1/search", params={"q": "eportfolios"})).json()["data"]
    assert found == []
    [hit] = (await client.get("/v1/search", params={"q": "escape"})).json()["data"]
    assert hit["id"] == "bbc-pows"
    assert "spam.example" not in hit["snippet"]


async def test_a_coarsened_source_withholds_its_spans(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.source(
        session,
        id="interview",
        archived_text=TEXT,
        excluded_spans=[SPAN],
        protection_level="restricted",
        protection_reason="An unpublished interview.",
    )
    shown = (await client.get("/v1/sources/interview")).json()
    assert shown["excluded_spans"] == []
    assert "excluded_spans" in shown["disclosure"]["withheld"]
    cleared = await factories.api_key(session, "read:restricted")
    full = (await client.get("/v1/sources/interview", headers=cleared)).json()
    assert full["excluded_spans"] == [SPAN]


# The corpus.

SPAM_LINK = re.compile(r"https?://\S+")


async def test_the_seed_marks_the_spam_of_document_001_and_search_leaves_it_out(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    reader = await factories.api_key(session)
    url = "/v1/sources/bbc-2021-south-korean-pows-coal-mines"
    source = (await client.get(url)).json()
    text = (await client.get(f"{url}/text", headers=reader)).text
    spans = [(s["char_start"], s["char_end"]) for s in source["excluded_spans"]]
    links = [m.span() for m in SPAM_LINK.finditer(text)]
    assert len(links) == 20
    for start, end in links:
        assert any(a <= start and end <= b for a, b in spans), text[start:end]
    header = (await client.get(f"{url}/text", headers=reader)).headers["excluded-spans"]
    assert header == ", ".join(f"{a}-{b}" for a, b in spans)
    for q in ("escape", "Hosaniak", "seven", "eportfolios", "portfolium"):
        for hit in (await client.get("/v1/search", params={"q": q})).json()["data"]:
            assert "instructure" not in hit["snippet"], (q, hit)
            assert "http" not in hit["snippet"], (q, hit)
    assert (await client.get("/v1/search", params={"q": "eportfolios"})).json()["data"] == []
