from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.claims.corroboration import Relation, related_claims
from app.claims.figures import claim_sources
from app.claims.models import Claim as ClaimRow
from app.claims.repository import RECORDS, claim_level
from app.claims.schemas import Claim, ClaimantType, Metric, RelatedClaimList, RelatedClaims
from app.db.periods import period_of
from app.facilities.models import Facility
from app.kit.citing import Citer
from app.kit.protection import is_finer_than_year, year_only
from app.organizations.models import Organization
from app.sources.citations import CitationBuilder, Cited, merge_withheld
from app.sources.presenters import describe_ref
from app.testimonies.models import Testimony
from app.views.rendering import Presented
from app.views.serving import served


def _number(value: Decimal | None) -> int | float | None:
    """Whole numbers as integers (26000000, not 26000000.0)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _decade(value: Decimal | None, offset: int) -> int | None:
    """The first year of the ten-year band of `value`, plus `offset`; None stays open."""
    return None if value is None else int(value // 10 * 10) + offset


def _claimant(claim: ClaimRow, viewer: Viewer) -> dict[str, Any]:
    """Who makes the claim, or how it is described where its claimant is withheld (as its
    `Claimant` serialises)."""
    if not viewer.shows_in_full(claim.claimant_level, f"claims/{claim.id}"):
        publisher = claim.source.publisher
        description = claim.claimant_description or (
            f"an unnamed source quoted by {publisher.name}" if publisher else "an unnamed source"
        )
        return {"type": None, "id": None, "name": description, "withheld": True}
    if claim.claimant_organization is not None:
        organization = claim.claimant_organization
        return {
            "type": ClaimantType.organization.value,
            "id": organization.id,
            "name": organization.name,
            "withheld": False,
        }
    testimony = claim.claimant_testimony
    assert testimony is not None  # the one_claimant CHECK guarantees one of the two
    return {
        "type": ClaimantType.testimony.value,
        "id": testimony.id,
        "name": testimony.witness_pseudonym,
        "withheld": False,
    }


async def present_claims(
    session: AsyncSession, claims: Sequence[ClaimRow], viewer: Viewer
) -> list[Presented]:
    """Each as its `Claim` serialises (see `app.views.rendering`). Needs source (with
    publisher), claimant and subject relationships loaded. Claims that rest on a restricted
    testimony are coarsened for clients without read:restricted."""
    citations = await CitationBuilder.for_quotes(session, claims)
    sources: dict[str, dict[str, int]] = {}
    for principal in viewer.clients:
        in_full = [c.id for c in claims if principal.sees_in_full(claim_level(c))]
        sources[principal.tier] = await claim_sources(session, in_full, principal)
    return viewer.each(
        claims,
        lambda claim: f"claims/{claim.id}",
        lambda claim: _present(claim, citations, sources, viewer),
    )


async def present_related(
    session: AsyncSession, claim: ClaimRow, citer: Citer, viewer: Viewer, limit: int
) -> str:
    """The claims that agree and conflict with `claim`, at most `limit` of each, as the JSON
    of `RelatedClaims` around their stored views. Nothing is related to a claim coarsened for
    this client: the relations would reveal its values."""
    if not viewer.shows_in_full(claim_level(claim), f"claims/{claim.id}"):
        empty = RelatedClaimList(total=0, data=[])
        return RelatedClaims(
            id=claim.id, independent_sources=None, withheld=True, agrees=empty, conflicts=empty
        ).model_dump_json()
    related = await related_claims(session, claim.id, viewer.principal, limit)
    ids = [claim.id, *(c.id for relation in Relation for c in related.claims[relation])]
    rows = await RECORDS.get_views(session, ids, viewer.principal.tier)
    views = {view.record_id: view for view in served(rows, Claim, citer, viewer)}

    def listed(relation: Relation) -> str:
        items = ",".join(
            f'{{"claim":{views[row.id].json},"reasons":{_json(related.reasons[row.id])}}}'
            for row in related.claims[relation]
            if row.id in views  # not yet rendered: written around the application
        )
        return f'{{"total":{related.totals[relation]},"data":[{items}]}}'

    target = views[claim.id].row.live.get("independent_sources")
    return (
        f'{{"id":{_json(claim.id)},"independent_sources":{_json(target)},"withheld":false,'
        f'"agrees":{listed(Relation.agrees)},"conflicts":{listed(Relation.conflicts)}}}'
    )


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ref(record: Organization | Facility | Testimony | None) -> dict[str, str] | None:
    """A linked record, as its `RecordRef` serialises."""
    if record is None:
        return None
    name = record.witness_pseudonym if isinstance(record, Testimony) else record.name
    return {"id": record.id, "name": name}


def _present(
    claim: ClaimRow,
    citations: CitationBuilder,
    sources: dict[str, dict[str, int]],
    viewer: Viewer,
) -> Presented:
    """`sources`: each tier's figures (of the claims it is shown in full)."""
    level = claim_level(claim)
    record = f"claims/{claim.id}"
    full = viewer.shows_in_full(level, record)
    values = [_number(claim.value), _number(claim.value_min), _number(claim.value_max)]
    period, notes = period_of(claim), claim.notes
    # A claim is listed even where its quote is hidden: its number stands, its evidence is
    # withheld (a coarsened claim from an unpublished interview).
    cited = citations.cite(claim, level, viewer, record)
    claimant = _claimant(claim, viewer)
    withheld: list[str] = ["claimant"] if claimant["withheld"] else []
    withheld = merge_withheld(withheld, [cited])
    # Why the claim or its claimant is protected says something of what is withheld.
    reason = claim.protection_reason if full and not claimant["withheld"] else None
    if reason is None and claim.protection_reason is not None:
        withheld.append("protection_reason")
    if not full:
        if notes is not None:
            withheld.append("notes")
            notes = None
        if is_finer_than_year(period):
            withheld.append("period")
            period = year_only(period)
        if claim.metric is Metric.age_years:
            # An exact age identifies; a ten-year band of it does not.
            withheld.append("value")
            values = [None, _decade(claim.value_min, 0), _decade(claim.value_max, 9)]
        # Which claims agree with it would tell its exact values.
        withheld.append("independent_sources")
    value, value_min, value_max = values
    figures = {tier: found.get(claim.id) for tier, found in sources.items()}
    data = {
        "id": claim.id,
        "statement": claim.statement,
        "fact": claim.fact,
        "metric": claim.metric.value,
        "value": value,
        "value_min": value_min,
        "value_max": value_max,
        "unit": claim.unit.value,
        "approximation": claim.approximation.value,
        "period": period,
        "claimant": claimant,
        "stance": claim.stance.value,
        "about": _subjects(claim, claimant),
        "citations": [cited.citation],
        "notes": notes,
        "protection_reason": reason,
        "independent_sources": viewer.of_tier(figures) if full else None,
        "disclosure": {"level": level.value, "coarsened": bool(withheld), "withheld": withheld},
        "created_at": claim.created_at,
        "updated_at": claim.updated_at,
        "state": claim.state(),
    }
    return Presented(data, f"{claim.statement} {_quoted_from(cited)}")


def _subjects(claim: ClaimRow, claimant: dict[str, Any]) -> dict[str, Any]:
    """What the claim is about (as its `ClaimSubject` serialises); a withheld claimant is not
    given away as its subject."""
    hidden = (
        {claim.claimant_organization_id, claim.claimant_testimony_id} - {None}
        if claimant["withheld"]
        else set()
    )

    def shown(record: Organization | Facility | Testimony | None) -> dict[str, str] | None:
        return None if record is not None and record.id in hidden else _ref(record)

    return {
        "facility": shown(claim.about_facility),
        "testimony": shown(claim.about_testimony),
        "organization": shown(claim.about_organization),
    }


def _quoted_from(cited: Cited) -> str:
    source = cited.citation["source"]
    if source is None:
        return "Quoted from a source withheld from this client."
    return f"Quoted from {describe_ref(source)}"
