"""Corroboration: how many independent origins stand behind a number, and which claims agree
or conflict with it.

Which claims compare. Two claims are related when they name the same fact and measure the
same metric in the same unit about the same subjects (facility, testimony and organization
each equal, none equal to none) over periods that overlap, an undated claim comparing with any
period. A claim without a fact is related to no other. A dispute says that the number it gives
is untrue and nothing about any other number: it is related only to the claims whose range
meets its own.

Agree or conflict. Related claims agree when they take the same stance and their ranges
overlap (a missing bound is open); otherwise they conflict: an assertion and a denial, a
dispute and what states the number it disputes, two assertions (or two denials) of disjoint
ranges.

Origins. A claim's origin is its claimant, the organization or the testimony (its witness)
that makes it: one claimant is one origin however many outlets repeat it, and whether or not
a quote names the report it relays (KCNA's statements count as KCNA in any number of BBC
articles). A claim in its publisher's own words has that publisher as claimant and counts as
it. Where the claimant is withheld from the client, the count must not tell whether it is
another claim's claimant: the claim's origin is then its quote's source origin (below), an
origin that equals no claimant.

A quote's source origin is the source its words first come from. A quote in its publisher's
own words originates in its own source. A quote that reports a relayed source
(`relayed_from`) originates there, or further up the relays: while a source relays exactly
one other, what it says is taken to come from that one. The walk stops at a source that
relays none (the top of the chain) and at one that relays several, where which of them a
statement comes from cannot be told, so that source itself is the origin. Relays that loop
back (A relays B, B relays A) have the least id of the loop as their origin, whichever member
a quote reports.

A claim's independent sources are the distinct origins of the claim and of the claims that
agree with it; a claim without a fact counts its own alone. A facility's are the distinct
source origins of its supported mentions (which have no claimant) and of the claims about it.

Only active claims take part, and only those this client is shown in full: a coarsened claim
compared on its exact values would give them away, and a hidden one its existence.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Text,
    and_,
    any_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, array, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm.util import AliasedClass

from app.auth.scopes import Principal
from app.claims.models import Claim, claimant_key, subject_key
from app.claims.repository import RECORDS, protected_claims, visible_claims
from app.claims.schemas import Approximation, RelationReason, Stance
from app.facilities.models import FacilityMention
from app.kit.listing import one_of
from app.kit.protection import ProtectionLevel
from app.kit.schemas import RecordStatus
from app.sources.models import Source, SourceRelay
from app.views.models import RecordView
from app.views.rendering import TIERS

_PATH = ARRAY(Text)
_Claims = type[Claim] | AliasedClass[Claim]


def _relay_origins(roots: Select[Any]) -> CTE:
    """(root, origin) for every relayed source `roots` selects (one column, `root`)."""
    seeds = roots.cte("relay_roots")
    walk = select(
        seeds.c.root,
        seeds.c.root.label("source_id"),
        cast(array([seeds.c.root]), _PATH).label("path"),
        false().label("looped"),
    ).cte("relay_walk", recursive=True)
    relay = SourceRelay.__table__.alias("relay")
    other = SourceRelay.__table__.alias("other_relay")
    next_id = cast(relay.c.relayed_source_id, Text)
    step = (
        select(
            walk.c.root,
            next_id,
            walk.c.path.op("||", return_type=_PATH)(next_id),
            next_id == any_(walk.c.path),
        )
        .select_from(
            walk.join(relay, relay.c.relaying_source_id == walk.c.source_id).outerjoin(
                other,
                and_(
                    other.c.relaying_source_id == relay.c.relaying_source_id,
                    other.c.relayed_source_id != relay.c.relayed_source_id,
                ),
            )
        )
        # Follow a source's relay only when it is its only one, and stop once the path
        # comes back to a source it has passed.
        .where(not_(walk.c.looped), other.c.relaying_source_id.is_(None))
    )
    walk = walk.union_all(step)
    ends = (
        select(walk.c.root, walk.c.source_id, walk.c.path, walk.c.looped)
        .ext(distinct_on(walk.c.root))
        .order_by(walk.c.root, func.cardinality(walk.c.path).desc())
        .cte("relay_ends")
    )
    loop = ends.c.path[
        func.array_position(ends.c.path, ends.c.source_id) : func.cardinality(ends.c.path)
    ]
    member = func.unnest(loop).column_valued("member")
    least_of_loop = select(func.min(member)).scalar_subquery()
    origin = case((ends.c.looped, least_of_loop), else_=ends.c.source_id)
    return select(ends.c.root, origin.label("origin")).cte("relay_origins")


def _count_origins(quotes: CTE) -> Select[str, int]:
    """Distinct origins per owner of the `quotes` (owner, claimant, source_id,
    relayed_from_id): the claimant where there is one, else the quote's source origin."""
    roots = (
        select(quotes.c.relayed_from_id.label("root"))
        .where(quotes.c.relayed_from_id.is_not(None))
        .distinct()
    )
    origins = _relay_origins(roots)
    source_origin = func.coalesce(origins.c.origin, quotes.c.source_id)
    origin = func.coalesce(quotes.c.claimant, literal("source:", Text).concat(source_origin))
    return (
        select(quotes.c.owner, func.count(origin.distinct()))
        .select_from(quotes.outerjoin(origins, origins.c.root == quotes.c.relayed_from_id))
        .group_by(quotes.c.owner)
    )


def _quote_columns(model: Any) -> tuple[ColumnElement[str], ColumnElement[str]]:
    return (
        cast(model.source_id, Text).label("source_id"),
        cast(model.relayed_from_id, Text).label("relayed_from_id"),
    )


def _claimant_shown(claim: _Claims, principal: Principal) -> ColumnElement[bool]:
    """Whether this client is shown who makes the claim (see `claimant_level`)."""
    if len(principal.full_levels) == len(ProtectionLevel):
        return true()
    return claim.claimant_level.in_(principal.full_levels)


def _claimant_origin(
    claimant: ColumnElement[Any], by_organization: ColumnElement[bool], shown: ColumnElement[bool]
) -> ColumnElement[str]:
    """The claimant as an origin ('organization:kcna', 'testimony:choi-ki-sun'), or null
    where it is withheld from the client: then the quote's source origin stands in."""
    return case(
        (not_(shown), cast(null(), Text)),
        (by_organization, literal("organization:", Text).concat(claimant)),
        else_=literal("testimony:", Text).concat(claimant),
    ).label("claimant")


def _claim_origin(claim: _Claims, principal: Principal) -> ColumnElement[str]:
    return _claimant_origin(
        claimant_key(claim),
        claim.claimant_organization_id.is_not(None),
        _claimant_shown(claim, principal),
    )


def comparable_claims(principal: Principal) -> ColumnElement[bool]:
    """Claims that may corroborate or contradict for this client: active, visible, and shown
    to it in full."""
    conditions = [Claim.status == RecordStatus.active]
    visible = visible_claims(principal)
    if visible is not None:
        conditions.append(visible)
    if not principal.sees_in_full(ProtectionLevel.restricted):
        # IS NOT TRUE: the test is null for a claim that rests on no testimony.
        conditions.append(protected_claims().is_not(true()))
    conditions.append(_from_shown_sources(Claim.source_id, principal))
    return and_(*conditions)


def _from_shown_sources(
    source: InstrumentedAttribute[str], principal: Principal
) -> ColumnElement[bool]:
    """Evidence counts for a client only from sources it is shown in full: a count must not
    tell that a protected source exists."""
    if len(principal.full_levels) == len(ProtectionLevel):
        return true()
    return source.in_(select(Source.id).where(Source.protection_level.in_(principal.full_levels)))


def _range(claim: _Claims) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The claim's range; a null bound is open. A point value bounds both sides unless the
    claim says "at least" or "at most"."""
    low = case(
        (claim.approximation == Approximation.at_most, claim.value_min),
        else_=func.coalesce(claim.value_min, claim.value),
    )
    high = case(
        (claim.approximation == Approximation.at_least, claim.value_max),
        else_=func.coalesce(claim.value_max, claim.value),
    )
    return low, high


def _period(claim: _Claims) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    return (
        func.coalesce(claim.period_start, claim.period_end),
        func.coalesce(claim.period_end, claim.period_start),
    )


def _ranges_overlap(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    (one_low, one_high), (other_low, other_high) = _range(one), _range(other)
    return and_(
        or_(one_low.is_(None), other_high.is_(None), one_low <= other_high),
        or_(other_low.is_(None), one_high.is_(None), other_low <= one_high),
    )


def _same_stance(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    return one.stance == other.stance


def _both_dated(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    return and_(_period(one)[0].is_not(None), _period(other)[0].is_not(None))


def _related(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    """Same fact (a null fact equals none), metric, unit and subjects; periods that meet; and
    where either is a dispute, ranges that meet."""
    (one_start, one_end), (other_start, other_end) = _period(one), _period(other)
    return and_(
        *(
            mine == theirs
            for mine, theirs in zip(subject_key(one), subject_key(other), strict=True)
        ),
        or_(
            one_start.is_(None),
            other_start.is_(None),
            and_(one_start <= other_end, other_start <= one_end),
        ),
        or_(
            and_(one.stance != Stance.disputes, other.stance != Stance.disputes),
            _ranges_overlap(one, other),
        ),
    )


def _agrees(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    return and_(_related(one, other), _ranges_overlap(one, other), _same_stance(one, other))


async def claim_sources(
    session: AsyncSession, claim_ids: Collection[str], principal: Principal
) -> dict[str, int]:
    """Independent sources of each claim (given: those shown to this client in full): the
    distinct origins of the claim and of every claim that agrees with it, counting active
    claims only. One query for any number of claims."""
    if not claim_ids:
        return {}
    # Who is quoted from which source on each subject of these claims (one pass over those
    # subjects), then for each claim and each such quote whether a claim making it agrees: an
    # index probe that stops at the first, where pairing every two claims of a large subject
    # would cost its size squared. A claim without a fact has no subject: only its own quote.
    comparable = comparable_claims(principal)
    targets = aliased(Claim, select(Claim).where(one_of(Claim.id, claim_ids)).subquery("target"))
    subject = [expression.label(f"subject_{i}") for i, expression in enumerate(subject_key(Claim))]
    shown = _claimant_shown(Claim, principal)
    quoted = (
        select(
            *subject,
            claimant_key(Claim).label("claimant_key"),
            Claim.claimant_organization_id.is_not(None).label("by_organization"),
            shown.label("claimant_shown"),
            Claim.source_id,
            Claim.relayed_from_id,
        )
        .where(tuple_(*subject_key(Claim)).in_(select(*subject_key(targets))), comparable)
        .distinct()
        .subquery("quoted")
    )
    agreeing = (
        select(Claim.id)
        .where(
            _agrees(targets, Claim),
            claimant_key(Claim) == quoted.c.claimant_key,
            Claim.claimant_organization_id.is_not(None) == quoted.c.by_organization,
            shown == quoted.c.claimant_shown,
            Claim.source_id == quoted.c.source_id,
            func.coalesce(Claim.relayed_from_id, "") == func.coalesce(quoted.c.relayed_from_id, ""),
            comparable,
        )
        .exists()
    )
    same_subject = zip(subject_key(targets), (quoted.c[s.name] for s in subject), strict=True)
    agreed = (
        select(
            targets.id.label("owner"),
            _claimant_origin(
                quoted.c.claimant_key, quoted.c.by_organization, quoted.c.claimant_shown
            ),
            *_quote_columns(quoted.c),
        )
        .join(quoted, and_(*(mine == theirs for mine, theirs in same_subject)))
        .where(agreeing)
    )
    # An active claim agrees with itself, fact or none.
    own = select(
        Claim.id.label("owner"), _claim_origin(Claim, principal), *_quote_columns(Claim)
    ).where(one_of(Claim.id, claim_ids), comparable)
    quotes = union_all(own, agreed).cte("corroborating_quotes")
    counts = dict((await session.execute(_count_origins(quotes))).all())
    return {claim_id: counts.get(claim_id, 0) for claim_id in claim_ids}


async def facility_sources(
    session: AsyncSession, facility_ids: Collection[str], principal: Principal
) -> dict[str, int]:
    """Independent sources of each facility: the distinct origins of its supported mentions
    and of the active claims about it that this client may see. One query for any number."""
    if not facility_ids:
        return {}
    visible = visible_claims(principal)
    # Counted by where the quotes come from: a mention names no claimant.
    no_claimant = cast(null(), Text).label("claimant")
    mentions = select(
        FacilityMention.facility_id.label("owner"), no_claimant, *_quote_columns(FacilityMention)
    )
    claims = select(Claim.about_facility_id.label("owner"), no_claimant, *_quote_columns(Claim))
    quotes = union_all(
        mentions.where(
            one_of(FacilityMention.facility_id, facility_ids),
            FacilityMention.status == RecordStatus.active,
            _from_shown_sources(FacilityMention.source_id, principal),
        ),
        claims.where(
            one_of(Claim.about_facility_id, facility_ids),
            Claim.status == RecordStatus.active,
            visible if visible is not None else true(),
            _from_shown_sources(Claim.source_id, principal),
        ),
    ).cte("facility_quotes")
    counts = dict((await session.execute(_count_origins(quotes))).all())
    return {facility_id: counts.get(facility_id, 0) for facility_id in facility_ids}


class Relation(StrEnum):
    agrees = "agrees"
    conflicts = "conflicts"


@dataclass(frozen=True)
class Related:
    """One page of each relation: the related claims (loaded for presenting) in id order,
    why each is related, and how many there are in all."""

    claims: dict[Relation, list[Claim]]
    reasons: dict[str, list[RelationReason]]
    totals: dict[Relation, int]


async def related_claims(
    session: AsyncSession, claim_id: str, principal: Principal, limit: int
) -> Related:
    """The claims related to `claim_id` (which this client must be shown in full), at most
    `limit` of each relation: one query for the relations, one for the records."""
    target = aliased(Claim, name="target")
    overlapping, same_stance = _ranges_overlap(target, Claim), _same_stance(target, Claim)
    relation = case(
        (and_(overlapping, same_stance), literal(Relation.agrees.value)),
        else_=literal(Relation.conflicts.value),
    )
    ranked = (
        select(
            Claim.id,
            relation.label("relation"),
            overlapping.label("overlapping"),
            same_stance.label("same_stance"),
            _both_dated(target, Claim).label("dated"),
            func.row_number().over(partition_by=relation, order_by=Claim.id).label("position"),
            func.count().over(partition_by=relation).label("total"),
        )
        .select_from(target)
        .join(Claim, and_(_related(target, Claim), Claim.id != target.id))
        .where(target.id == claim_id, comparable_claims(principal))
        .subquery("ranked")
    )
    found = (
        await session.execute(
            select(ranked).where(ranked.c.position <= limit).order_by(ranked.c.id)
        )
    ).all()
    rows = {
        row.id: row
        for row in await session.scalars(
            RECORDS.select().where(one_of(Claim.id, [f.id for f in found]))
        )
    }
    related = Related(
        claims={Relation.agrees: [], Relation.conflicts: []},
        reasons={},
        totals={Relation.agrees: 0, Relation.conflicts: 0},
    )
    for item in found:
        kind = Relation(item.relation)
        related.claims[kind].append(rows[item.id])
        related.totals[kind] = item.total
        related.reasons[item.id] = [
            RelationReason.overlapping_range if item.overlapping else RelationReason.disjoint_range,
            RelationReason.same_stance if item.same_stance else RelationReason.opposite_stance,
            RelationReason.overlapping_period if item.dated else RelationReason.undated_period,
        ]
    return related


# A claim's independent sources change with every claim that comes to agree or stops
# agreeing with it: a figure over its group, kept beside its stored views (`live`) so that a
# write updates numbers rather than re-rendering every view of the group.
_LIVE_FIGURE = "independent_sources"


async def refresh_figures(session: AsyncSession, facts: Collection[str]) -> int:
    """Bring the stored figure of every claim of these facts up to date, for each tier that
    is shown it (a coarsened view has none); returns how many views changed."""
    if not facts:
        return 0
    changed = 0
    stored = RecordView.live[_LIVE_FIGURE].as_integer()
    for tier, principal in TIERS.items():
        figures = await session.execute(
            select(RecordView.record_id, stored)
            .join(Claim, Claim.id == RecordView.record_id)
            .where(
                RecordView.kind == "claims",
                RecordView.tier == tier,
                stored.is_not(None),
                one_of(Claim.fact, facts),
            )
        )
        current: dict[str, int] = {claim_id: figure for claim_id, figure in figures}
        counts = await claim_sources(session, list(current), principal)
        updates = [
            {"record_id": claim_id, "tier": tier, "figure": count}
            for claim_id, count in counts.items()
            if current.get(claim_id) != count
        ]
        if updates:
            await session.execute(_SET_FIGURE, updates)
            changed += len(updates)
    return changed


async def count_one_more(session: AsyncSession, claim_id: str) -> bool:
    """The figures of the claims a newly written claim agrees with, brought up to date
    without recounting them: each gains one origin where none of the claims already agreeing
    with it (itself included) has the new claim's claimant. Its own figure is rendered with
    its views. False where that cannot be told this way (its claimant is withheld from a
    tier, so its origin is its quote's source): the caller recounts the group."""
    written = aliased(Claim, name="written")
    counted = aliased(Claim, name="counted")
    same = aliased(Claim, name="same_claimant")
    figure = RecordView.live[_LIVE_FIGURE].as_integer()

    def same_subject(one: _Claims, other: _Claims) -> list[ColumnElement[bool]]:
        return [a == b for a, b in zip(subject_key(one), subject_key(other), strict=True)]

    for tier, principal in TIERS.items():
        comparable = select(Claim.id).where(comparable_claims(principal))
        counts = await session.scalar(
            select(Claim.id).where(Claim.id == claim_id, comparable_claims(principal))
        )
        if counts is None:
            continue  # not shown in full to this tier: it counts for no one
        shown = await session.scalar(
            select(_claimant_shown(Claim, principal)).where(Claim.id == claim_id)
        )
        if not shown:
            return False
        already = (
            select(same.id)
            .where(
                *same_subject(same, written),
                same.id != claim_id,
                claimant_key(same) == claimant_key(written),
                same.claimant_organization_id.is_not(None)
                == written.claimant_organization_id.is_not(None),
                _claimant_shown(same, principal),
                same.id.in_(comparable),
                or_(same.id == counted.id, _agrees(same, counted)),
            )
            .exists()
        )
        gaining = (
            select(counted.id)
            .join(written, written.id == claim_id)
            .join(
                RecordView,
                and_(
                    RecordView.kind == "claims",
                    RecordView.record_id == counted.id,
                    RecordView.tier == tier,
                ),
            )
            .where(
                counted.id != claim_id,
                *same_subject(counted, written),
                _agrees(written, counted),
                figure.is_not(None),
                ~already,
            )
        )
        ids = list(await session.scalars(gaining))
        if ids:
            await session.execute(_ADD_ONE, {"tier": tier, "ids": ids})
    return True


_ADD_ONE = text(
    f"""
    UPDATE record_views
    SET live = jsonb_set(
        live, '{{{_LIVE_FIGURE}}}', to_jsonb((live ->> '{_LIVE_FIGURE}')::integer + 1))
    WHERE kind = 'claims' AND tier = :tier AND record_id = ANY(:ids)
    """
)


_SET_FIGURE = text(
    f"""
    UPDATE record_views
    SET live = jsonb_set(live, '{{{_LIVE_FIGURE}}}', to_jsonb(CAST(:figure AS integer)))
    WHERE kind = 'claims' AND record_id = :record_id AND tier = :tier
    """
)
