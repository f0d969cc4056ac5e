"""An excerpt says who speaks in it: the witness, in their own words, or the reporter,
narrating about the witness. Citations of testimonies carry it; other citations do not."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from tests import factories

TEXT = (
    "Ms Kim was just 16 when she started work in the mine. "
    "\u201cWhen I first got assigned there were 23 people in my unit,\u201d she recalled."
)
NARRATION = "Ms Kim was just 16 when she started work in the mine."
OWN_WORDS = "When I first got assigned there were 23 people in my unit"


async def test_excerpts_carry_their_speaker_into_citations(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    source = await factories.source(session, id="bbc", archived_text=TEXT)
    await factories.testimony(
        session,
        id="kim",
        excerpts=[
            {"source": source.id, "quote": NARRATION, "speaker": "narrator"},
            {"source": source.id, "quote": OWN_WORDS},
        ],
    )
    await factories.claim(session, id="unit", source=source.id, quote=OWN_WORDS, value=23)
    testimony = (await client.get("/v1/testimonies/kim")).json()
    assert [(c["quote"], c["speaker"]) for c in testimony["citations"]] == [
        (NARRATION, "narrator"),
        (OWN_WORDS, "witness"),  # the default
    ]
    claim = (await client.get("/v1/claims/unit")).json()
    assert claim["citations"][0]["speaker"] is None
    revision = (await client.get("/v1/testimonies/kim/revisions/1")).json()
    assert [e["speaker"] for e in revision["record"]["excerpts"]] == ["narrator", "witness"]


async def test_an_unknown_speaker_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.source(session, id="bbc", archived_text=TEXT)
    writer = await factories.api_key(session, "write")
    body = {
        "id": "kim",
        "witness_pseudonym": "Kim",
        "witness_role": "survivor",
        "summary": "She worked in a mine.",
        "protection_level": "public",
        "excerpts": [{"source": "bbc", "quote": NARRATION, "speaker": "journalist"}],
    }
    response = await client.post("/v1/testimonies", json=body, headers=writer)
    assert response.status_code == 422


# The corpus: every excerpt read against its document.

NARRATED = {
    "bbc-correspondent-coal-mine-defectors": [True, True],
    "choi-ki-sun": [False, False, True, True, True],
    "kim-hye-sook": [True, True, False, False, False],
    "bbc-2021-coal-mine-escapees": [True, True, True],
    "nkhr-blood-coal-survivors": [True],
    "dailynk-sources-kaechon-paekto-camps": [True],
    "david-nknews-columnist": [False] * 9,
    "dailynk-source-south-pyongan-gemstones": [False] * 6,
    "dailynk-source-south-hamgyong-gemstones": [False] * 2,
}


@pytest.mark.parametrize(("testimony", "narrated"), sorted(NARRATED.items()))
async def test_the_seed_marks_the_narration(
    client: httpx.AsyncClient, session: AsyncSession, testimony: str, narrated: list[bool]
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    citations = (await client.get(f"/v1/testimonies/{testimony}")).json()["citations"]
    assert [c["speaker"] == "narrator" for c in citations] == narrated
