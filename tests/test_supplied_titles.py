"""A document without a title of its own gets a description, flagged as supplied, and every
citation format gives it where that format expects a description in place of a title, never
as the title (checked with the parsers reference managers' formats are read with)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import rispy
from pybtex.database import parse_string
from sqlalchemy.ext.asyncio import AsyncSession

from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from tests import factories

DESCRIPTION = "KCNA report that 700 orphans volunteered to work at factories, farms and forests"


@pytest.fixture
async def writer(session: AsyncSession) -> dict[str, str]:
    return await factories.api_key(session, "write", "read:confidential")


async def untitled(session: AsyncSession, **fields: Any) -> None:
    kcna = await factories.organization(session, id="kcna", name="Korean Central News Agency")
    await factories.source(
        session,
        id="kcna-700",
        title=DESCRIPTION,
        title_supplied=True,
        publisher=kcna.id,
        source_type="state_media_report",
        published="2021",
        **fields,
    )


@pytest.mark.parametrize(
    ("given", "stored", "supplied"),
    [
        ({"title": f"[{DESCRIPTION}]"}, DESCRIPTION, True),
        ({"title": f"[ {DESCRIPTION} ]"}, DESCRIPTION, True),
        ({"title": DESCRIPTION, "title_supplied": True}, DESCRIPTION, True),
        ({"title": DESCRIPTION}, DESCRIPTION, False),
        ({"title": "[]"}, "[]", False),
        ({"title": "A [bracketed] word"}, "A [bracketed] word", False),
    ],
)
async def test_a_bracketed_title_is_stored_as_a_supplied_one(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    given: dict[str, Any],
    stored: str,
    supplied: bool,
) -> None:
    body = {"id": "report", "source_type": "state_media_report"} | given
    response = await client.post("/v1/sources", json=body, headers=writer)
    assert response.status_code == 201, response.text
    source = (await client.get("/v1/sources/report")).json()
    assert (source["title"], source["title_supplied"]) == (stored, supplied)


async def test_csl_json_gives_the_description_as_genre_not_title(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await untitled(session)
    [item] = json.loads((await client.get("/v1/sources/kcna-700/citation")).text)
    assert "title" not in item
    assert item["genre"] == DESCRIPTION
    assert item["issued"] == {"date-parts": [[2021]]}
    listed = json.loads((await client.get("/v1/sources?format=csl-json")).text)
    assert listed == [item]


async def test_bibtex_gives_the_description_as_a_note(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await untitled(session)
    for url in ("/v1/sources/kcna-700/citation?format=bibtex", "/v1/sources?format=bibtex"):
        entry = parse_string((await client.get(url)).text, "bibtex").entries["kcna-700"]
        assert "title" not in entry.fields
        assert entry.fields["note"] == f"[{DESCRIPTION}]"
        assert entry.fields["year"] == "2021"


async def test_ris_gives_the_description_as_a_note(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await untitled(session)
    for url in ("/v1/sources/kcna-700/citation?format=ris", "/v1/sources?format=ris"):
        text = (await client.get(url)).text
        [record] = rispy.loads(text)
        assert "title" not in record
        assert "primary_title" not in record
        assert record["notes"] == [f"[{DESCRIPTION}]"]
        assert "\nTI  - " not in text
        assert "\nT1  - " not in text


async def test_the_text_line_and_cite_as_bracket_the_description(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await untitled(session)
    line = (await client.get("/v1/sources/kcna-700/citation?format=text")).text
    assert f"[{DESCRIPTION}]" in line
    assert f"\u201c{DESCRIPTION}" not in line
    assert "suppliedtitleplaceholder" not in line.lower()
    source = (await client.get("/v1/sources/kcna-700")).json()
    assert f"[{DESCRIPTION}]" in source["cite_as"]["text"]
    assert f'"{DESCRIPTION}"' not in source["cite_as"]["text"]


async def test_citations_say_the_title_is_supplied(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await untitled(session, archived_text="700 orphans had volunteered.")
    await factories.claim(session, id="orphans", source="kcna-700")
    citation = (await client.get("/v1/claims/orphans")).json()["citations"][0]
    assert citation["source"]["title"] == DESCRIPTION
    assert citation["source"]["title_supplied"] is True


async def test_a_withheld_title_is_no_title_either(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.source(
        session,
        id="interview",
        title="Interview with a former miner, Onsong",
        source_type="other",
        protection_level="restricted",
        protection_reason="An unpublished interview.",
    )
    source = (await client.get("/v1/sources/interview")).json()
    assert (source["title"], source["title_supplied"]) == (None, None)
    [item] = json.loads((await client.get("/v1/sources/interview/citation")).text)
    assert "title" not in item
    assert item["genre"] == "title withheld"
    bibtex = (await client.get("/v1/sources/interview/citation?format=bibtex")).text
    entry = parse_string(bibtex, "bibtex").entries["interview"]
    assert entry.fields["note"] == "[title withheld]"
    assert "Onsong" not in bibtex


# The corpus.


async def test_the_seed_flags_the_titles_it_supplies(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    sources = (await client.get("/v1/sources?limit=100")).json()["data"]
    supplied = {s["id"] for s in sources if s["title_supplied"]}
    assert supplied == {
        "bbc-2021-north-korea-orphans-volunteer",
        "bbc-2021-south-korean-pows-coal-mines",
        "kcna-report-700-orphans-volunteer",
        "kcna-report-orphans-chonnae-coal-mining-complex",
        "kcna-statement-hundreds-of-children-volunteer",
        "unidentified-report-smuggling-earnings",
        "dailynk-prison-camps-produce-for-china",
    }
    assert not any(s["title"].startswith("[") for s in sources)
    items = json.loads((await client.get("/v1/sources?format=csl-json")).text)
    assert {i["id"] for i in items if "title" not in i} == supplied
    entries = parse_string((await client.get("/v1/sources?format=bibtex")).text, "bibtex")
    assert {key for key, e in entries.entries.items() if "title" not in e.fields} == supplied
