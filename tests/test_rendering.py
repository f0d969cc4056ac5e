"""Rendering's two shortcuts change no byte of a view: a record presented once for several
tiers is what each of them is shown when presented alone, and a presentation (JSON values,
not a typed model) serialises exactly as the typed schema the API documents.

The corpus crosses every level of a source, of the source it relays, of a testimony (and of
its excerpts), of a claim and of its claimant, so that each question of the disclosure policy
meets each answer."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.claims.figures import counting
from app.claims.schemas import Claim
from app.facilities.schemas import Facility
from app.kit.citing import Citer
from app.organizations.schemas import Organization
from app.rendering.documents import INDEXED
from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from app.sources.schemas import Source
from app.testimonies import schemas as testimonies
from app.views.rendering import TIERS, Presented, Rendered, is_hidden, render
from tests import factories

LEVELS = ("public", "restricted", "confidential")
TEXT = (
    "The report says 120 workers were held at the mine. A guard said none had died. "
    "She was 16 when she was sent there in 1987."
)
SCHEMAS: dict[str, type[BaseModel]] = {
    "organizations": Organization,
    "sources": Source,
    "facilities": Facility,
    "testimonies": testimonies.Testimony,
    "claims": Claim,
}


def protected(level: str) -> dict[str, str]:
    reason = {"protection_reason": "A test record."} if level != "public" else {}
    return {"protection_level": level} | reason


async def corpus(session: AsyncSession) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    agency = await factories.organization(session, id="agency")
    mine = await factories.facility(session, id="mine")
    for origin_level in LEVELS:
        origin = await factories.source(
            session, id=f"origin-{origin_level}", archived_text=TEXT, **protected(origin_level)
        )
        for outlet_level in LEVELS:
            outlet = await factories.source(
                session,
                id=f"outlet-{origin_level}-{outlet_level}",
                relays=[origin],
                archived_text=TEXT,
                publisher=agency.id,
                **protected(outlet_level),
            )
            await factories.facility(
                session,
                id=f"site-{origin_level}-{outlet_level}",
                mentions=[
                    {"source": outlet.id, "quote": "120 workers were held at the mine."},
                    {"source": origin.id, "quote": "A guard said none had died."},
                ],
            )
            await corpus_of_outlet(session, outlet.id, origin.id, mine)


async def corpus_of_outlet(session: AsyncSession, outlet: str, origin: str, mine: Any) -> None:
    for testimony_level in LEVELS:
        for excerpt_level in LEVELS:
            witness = f"witness-{outlet}-{testimony_level}-{excerpt_level}"
            await factories.testimony(
                session,
                id=witness,
                facilities=[mine],
                county="Hoeryong",
                witness_age_at_start=16,
                period_start="1987-03",
                excerpts=[
                    {
                        "source": outlet,
                        "quote": "She was 16 when she was sent there in 1987.",
                        "speaker": "narrator",
                        "protection_level": excerpt_level,
                    },
                    {"source": origin, "quote": "A guard said none had died."},
                ],
                **protected(testimony_level),
            )
            for claim_level in LEVELS:
                await factories.claim(
                    session,
                    id=f"claim-{witness}-{claim_level}",
                    fact="workers-held-at-the-mine",
                    metric="age_years" if excerpt_level == "public" else "persons_count",
                    unit="years" if excerpt_level == "public" else "persons",
                    value=120,
                    period_start="1987-03-14",
                    notes="As printed.",
                    source=outlet,
                    relayed_from=origin,
                    quote="120 workers were held at the mine.",
                    about_facility="mine",
                    claimant_testimony=witness,
                    claimant_level=excerpt_level,
                    **protected(claim_level),
                )


async def presentations(session: AsyncSession) -> list[tuple[str, str, Presented, Any, Rendered]]:
    """(kind, tier, what the tier is shown presented alone, what that presentation
    disclosed, what rendering stored for the tier) for every record a tier may learn exists;
    asserts the others got no view."""
    found = []
    async with counting(session):
        for kind, indexed in INDEXED.items():
            rows = list(await session.scalars(select(indexed.model).options(*indexed.loads)))
            rendered = await render(session, kind, indexed.present, rows)
            for tier, principal in TIERS.items():
                viewer = Viewer(principal)
                alone = await indexed.present(session, rows, viewer)
                for row, presented in zip(rows, alone, strict=True):
                    views = {view.tier: view for view in rendered[row.id]}
                    if is_hidden(presented.data, principal):
                        assert tier not in views, (kind, row.id, tier)
                        continue
                    disclosed = viewer.disclosed_by.get(f"{kind}/{row.id}", {})
                    levels = {path: level.value for path, level in disclosed.items()}
                    found.append((kind, tier, presented, levels, views[tier]))
    return found


async def test_a_record_presented_for_several_tiers_is_what_each_is_shown_alone(
    session: AsyncSession,
) -> None:
    await corpus(session)
    found = await presentations(session)
    by_record: dict[tuple[str, str], set[int]] = {}
    for kind, tier, presented, disclosed, view in found:
        where = (kind, presented.data["id"], tier)
        assert to_json(view.record) == to_json(presented.data), where
        assert view.description == presented.description, where
        assert view.disclosed == disclosed, where
        by_record.setdefault((kind, presented.data["id"]), set()).add(id(view.presentation))
    # Not vacuous: most records share one presentation, and some are shown otherwise.
    presented_once = [key for key, shown in by_record.items() if len(shown) == 1]
    assert len(presented_once) > len(by_record) / 2
    assert len(presented_once) < len(by_record)


async def test_a_presentation_serialises_as_its_typed_schema(session: AsyncSession) -> None:
    await corpus(session)
    citer = Citer("http://testserver", date(2026, 1, 1))
    for kind, tier, presented, _, _ in await presentations(session):
        data = presented.data
        cite_as = citer.cite(kind, data["id"], presented.description)
        typed = SCHEMAS[kind].model_validate(data | {"cite_as": cite_as})
        assert typed.model_dump_json(exclude={"cite_as"}) == to_json(data).decode(), (
            kind,
            data["id"],
            tier,
        )
