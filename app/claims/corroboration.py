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
    ColumnElement,
    Select,
    Text,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from app.auth.scopes import Principal
from app.claims.models import Claim, claimant_key, subject_key
from app.claims.repository import RECORDS, protected_claims, visible_claims
from app.claims.schemas import Approximation, RelationReason, Stance
from app.facilities.repository import counts_toward_facilities
from app.kit.protection import ProtectionLevel
from app.kit.schemas import RecordStatus
from app.reading.listing import one_of
from app.sources.origins import counted_quote, from_shown_sources

_Claims = type[Claim] | AliasedClass[Claim]


def shown_claimant(claim: _Claims, principal: Principal) -> ColumnElement[bool]:
    """Whether this client is shown who makes the claim (see `claimant_level`)."""
    if len(principal.full_levels) == len(ProtectionLevel):
        return true()
    return claim.claimant_level.in_(principal.full_levels)


def claimant_origin(claim: _Claims) -> ColumnElement[str]:
    """The claimant as an origin: 'organization:kcna', 'testimony:choi-ki-sun'. Where it is
    withheld from a client the quote's source origin stands in (see `shown_claimant`)."""
    return case(
        (
            claim.claimant_organization_id.is_not(None),
            literal("organization:", Text).concat(claim.claimant_organization_id),
        ),
        else_=literal("testimony:", Text).concat(claim.claimant_testimony_id),
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
    conditions.append(from_shown_sources(Claim.source_id, principal))
    return and_(*conditions)


def claim_range(claim: _Claims) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
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


def claim_period(claim: _Claims) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    return (
        func.coalesce(claim.period_start, claim.period_end),
        func.coalesce(claim.period_end, claim.period_start),
    )


def _ranges_overlap(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    (one_low, one_high), (other_low, other_high) = claim_range(one), claim_range(other)
    return and_(
        or_(one_low.is_(None), other_high.is_(None), one_low <= other_high),
        or_(other_low.is_(None), one_high.is_(None), other_low <= one_high),
    )


def _same_stance(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    return one.stance == other.stance


def _both_dated(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    return and_(claim_period(one)[0].is_not(None), claim_period(other)[0].is_not(None))


def _related(one: _Claims, other: _Claims) -> ColumnElement[bool]:
    """Same fact (a null fact equals none), metric, unit and subjects; periods that meet; and
    where either is a dispute, ranges that meet."""
    (one_start, one_end), (other_start, other_end) = claim_period(one), claim_period(other)
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


def sharing_origin(one: Any, other: Any) -> tuple[ColumnElement[bool], ...]:
    """How two claims (or rows with their claimant columns) may count as one origin for
    some tier, each way enough alone: the same claimant, or a claimant some tier is not
    shown on both sides (both counted by their source origin). Every tier is shown a public
    claimant."""
    hidden = [claim.claimant_level != ProtectionLevel.public for claim in (one, other)]
    return claimant_key(one) == claimant_key(other), and_(*hidden)


# Declared here, beside the rules it follows; `app.kinds`, which every entry point imports
# before it presents anything, imports this module with the claims' presenters.
@counts_toward_facilities
def claims_about_facilities(facility_ids: Collection[str], principal: Principal) -> Select[Any]:
    """The quotes of the active claims about these facilities that this client may see: a
    facility's independent sources count them beside its mentions."""
    visible = visible_claims(principal)
    return select(*counted_quote(Claim, Claim.about_facility_id)).where(
        one_of(Claim.about_facility_id, facility_ids),
        Claim.status == RecordStatus.active,
        visible if visible is not None else true(),
        from_shown_sources(Claim.source_id, principal),
    )


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
