"""Who is served a source's full archived text: SOURCE_TEXT_ACCESS (public, keys, restricted).

A third party's article is kept to verify the quotes taken from it, not to republish it: by
default only clients with an API key get the whole copy, through GET /v1/sources/{id}/text and
through the source's revisions, while every client gets the records' quotes and locators.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.protection import SourceTextAccess
from app.settings import Settings
from tests import factories

ARTICLE = "A KCNA report said 700 orphans had volunteered to work at the coal mines."
QUOTE = "700 orphans had volunteered"


@pytest.fixture
def text_access(app: FastAPI) -> Iterator[None]:
    """Lets a test set the app's SOURCE_TEXT_ACCESS; restored afterwards."""
    settings = app.state.settings
    yield
    app.state.settings = settings


def serve_texts(app: FastAPI, access: SourceTextAccess) -> None:
    app.state.settings = app.state.settings.model_copy(update={"source_text_access": access})


async def quoted_article(session: AsyncSession) -> None:
    source = await factories.source(session, id="article", archived_text=ARTICLE)
    await factories.claim(session, id="orphans", source=source.id, quote=QUOTE)


def test_the_default_serves_archived_texts_to_keys() -> None:
    assert Settings.model_fields["source_text_access"].default is SourceTextAccess.keys


async def test_anonymous_clients_get_the_quotes_but_not_the_copy(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await quoted_article(session)
    reader = await factories.api_key(session)  # a key with no scope at all
    refused = await client.get("/v1/sources/article/text")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "only to clients with an API key" in refused.json()["detail"]
    assert ARTICLE not in refused.text
    # The quote and its locator are served to everyone: it can be found in the original.
    citation = (await client.get("/v1/claims/orphans")).json()["citations"][0]
    assert citation["quote"] == QUOTE
    assert ARTICLE[citation["locator"]["char_start"] : citation["locator"]["char_end"]] == QUOTE
    served = await client.get("/v1/sources/article/text", headers=reader)
    assert served.status_code == 200
    assert served.text == ARTICLE


async def test_a_sources_revisions_hold_its_text_under_the_same_rule(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await quoted_article(session)
    reader = await factories.api_key(session)
    [anonymous] = (await client.get("/v1/sources/article/revisions")).json()["data"]
    assert "archived_text" in anonymous["changed_fields"]
    assert anonymous["changes"] is None
    [keyed] = (await client.get("/v1/sources/article/revisions", headers=reader)).json()["data"]
    assert keyed["changes"]["archived_text"]["to"] == ARTICLE
    version = await client.get("/v1/sources/article/revisions/1")
    assert version.status_code == 403
    assert version.headers["content-type"] == "application/problem+json"
    assert ARTICLE not in version.text
    version = await client.get("/v1/sources/article/revisions/1", headers=reader)
    assert version.json()["record"]["archived_text"] == ARTICLE
    # A source without an archived copy keeps its history open to all.
    await factories.source(session, id="no-copy")
    [plain] = (await client.get("/v1/sources/no-copy/revisions")).json()["data"]
    assert plain["changes"] is not None
    assert (await client.get("/v1/sources/no-copy/revisions/1")).status_code == 200


@pytest.mark.usefixtures("text_access")
async def test_restricted_serves_texts_to_read_restricted_keys_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await quoted_article(session)
    plain = await factories.api_key(session)
    restricted = await factories.api_key(session, "read:restricted")
    confidential = await factories.api_key(session, "read:confidential")
    serve_texts(app, SourceTextAccess.restricted)
    refused = await client.get("/v1/sources/article/text", headers=plain)
    assert refused.status_code == 403
    assert "read:restricted" in refused.json()["detail"]
    for headers in (restricted, confidential):
        assert (await client.get("/v1/sources/article/text", headers=headers)).text == ARTICLE


@pytest.mark.usefixtures("text_access")
async def test_public_serves_texts_to_everyone(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await quoted_article(session)
    serve_texts(app, SourceTextAccess.public)
    assert (await client.get("/v1/sources/article/text")).text == ARTICLE
    [revision] = (await client.get("/v1/sources/article/revisions")).json()["data"]
    assert revision["changes"]["archived_text"]["to"] == ARTICLE


async def test_a_protected_sources_text_still_needs_its_level(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.source(
        session,
        id="leak",
        archived_text=ARTICLE,
        protection_level="restricted",
        protection_reason="A document passed on by a source inside the country.",
    )
    plain = await factories.api_key(session)
    refused = await client.get("/v1/sources/leak/text", headers=plain)
    assert refused.status_code == 403
    assert "protected source" in refused.json()["detail"]
