"""Independent sources, counted in memory a subject group at a time, and kept up to date.

The rule is the one `app.claims.corroboration` states: a claim's independent sources are the
distinct origins of the claim and of the claims agreeing with it, among the claims a tier may
compare. Counted in SQL, each claim is paired with each quote of its subject: index probes
in the square of a subject's size, minutes for a group of 10,000 claims. Here the claims of
the groups are read once, with everything the rule looks at, and each group is compared as
arrays: the hundred million pairs of a group of 10,000 take a fraction of a second.

The figures live beside the stored views (`record_views.live`), so that a write updates
numbers rather than re-rendering a group's views. Within `counting`, what is read and counted
is kept for the transaction's rendering, so that the tiers and the figures of the claims a
write touches share one read. A write reads not their groups but their neighbours: the claims
of their subjects that agree with them or may share their origin, which is all their figures
and a new claim's additions look at (`_neighbours_of_claims`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    event,
    func,
    inspect,
    literal,
    select,
    text,
    true,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, object_session

from app.auth.scopes import Principal
from app.claims.corroboration import (
    claim_period,
    claim_range,
    claimant_origin,
    claims_about_facilities,
    comparable_claims,
    sharing_origin,
    shown_claimant,
)
from app.claims.models import Claim, subject_key
from app.claims.schemas import Stance
from app.facilities.repository import LIVE_FIGURE as FACILITY_FIGURE
from app.facilities.repository import quotes_of_origin
from app.reading.listing import one_of
from app.sources.origins import relay_origins
from app.views.models import RecordView
from app.views.rendering import TIERS

# A claim's independent sources change with every claim that comes to agree or stops
# agreeing with it: the figure lives beside its stored views, in `live`.
LIVE_FIGURE = "independent_sources"
# Pairs compared at once: bounds the memory of one step (a few bytes a pair).
_PAIRS = 4_000_000
# From this size on, a group's claims are compared as one matrix per block of targets
# (a row of comparisons per target) rather than pair by pair.
_LARGE = 512
_MEMO = "claim_figures"
_STANCES = {stance.value: code for code, stance in enumerate(Stance)}


def _ints(rows: Sequence[Any], column: int) -> NDArray[np.int64]:
    return np.fromiter((row[column] for row in rows), dtype=np.int64, count=len(rows))


def _floats(rows: Sequence[Any], column: int) -> NDArray[np.float64]:
    return np.fromiter((row[column] for row in rows), dtype=np.float64, count=len(rows))


@dataclass(frozen=True)
class Claims:
    """Claims as arrays, one row each, ordered by subject group: each group's rows are
    consecutive. Origins are numbers, equal for equal origins."""

    ids: list[str]
    group: NDArray[np.int64]
    stance: NDArray[np.int64]
    low: NDArray[np.float64]  # value range; an open bound is infinite
    high: NDArray[np.float64]
    start: NDArray[np.float64]  # period, in days; undated is infinite both ways
    end: NDArray[np.float64]
    origins: dict[str, NDArray[np.int64]]  # per tier
    comparable: dict[str, NDArray[np.bool_]]  # per tier
    first: NDArray[np.intp]  # per row: where its group starts
    size: NDArray[np.intp]  # per row: its group's size

    @classmethod
    def of(cls, rows: Sequence[Any]) -> Claims:
        group = _ints(rows, 1)
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(rows) else group
        sizes = np.diff(np.r_[starts, len(rows)])
        masks = _ints(rows, 10)
        return cls(
            ids=[row[0] for row in rows],
            group=group,
            stance=_ints(rows, 2),
            low=_floats(rows, 3),
            high=_floats(rows, 4),
            start=_floats(rows, 5),
            end=_floats(rows, 6),
            origins={tier: _ints(rows, 7 + i) for i, tier in enumerate(TIERS)},
            comparable={tier: (masks >> i) & 1 == 1 for i, tier in enumerate(TIERS)},
            first=np.repeat(starts, sizes),
            size=np.repeat(sizes, sizes),
        )

    @cached_property
    def position(self) -> dict[str, int]:
        return {claim_id: i for i, claim_id in enumerate(self.ids)}

    def agree(self, one: NDArray[np.intp], other: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Whether the claims at `one` and `other` (broadcast: pairs, or rows against
        columns) agree: the same stance, and ranges and periods that meet; they are of one
        subject group."""
        agrees: NDArray[np.bool_] = self.stance[one] == self.stance[other]
        for low, high in ((self.low, self.high), (self.start, self.end)):
            agrees &= (low[one] <= high[other]) & (low[other] <= high[one])
        return agrees

    def figures(self, tier: str, targets: NDArray[np.intp]) -> NDArray[np.int64]:
        """The independent sources of the claims at `targets`, for one tier: the distinct
        origins of the comparable claims agreeing with each (itself, where it is comparable;
        a retracted claim counts the active claims agreeing with it)."""
        figures = np.zeros(len(targets), dtype=np.int64)
        large = self.size[targets] >= _LARGE
        small = np.flatnonzero(~large)
        sizes = self.size[targets[small]]
        ends = np.cumsum(sizes)
        begin = 0
        while begin < len(small):
            end = max(begin + 1, int(np.searchsorted(ends, ends[begin] - sizes[begin] + _PAIRS)))
            chunk = small[begin:end]
            figures[chunk] = self._pairwise(tier, targets[chunk])
            begin = end
        for group in np.unique(self.group[targets[large]]):
            at = np.flatnonzero(large & (self.group[targets] == group))
            figures[at] = self._matrix(tier, targets[at])
        return figures

    def _pairwise(self, tier: str, targets: NDArray[np.intp]) -> NDArray[np.int64]:
        """Figures of targets from small groups: every (target, member of its group) pair."""
        counts = self.size[targets]
        owner = np.repeat(np.arange(len(targets)), counts)
        offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        other = np.repeat(self.first[targets], counts) + offset
        one = targets[owner]
        kept = self.comparable[tier][other] & self.agree(one, other)
        origins = self.origins[tier]
        distinct = np.unique(owner[kept] * (int(origins.max()) + 1) + origins[other[kept]])
        found: NDArray[np.int64] = np.bincount(
            distinct // (int(origins.max()) + 1), minlength=len(targets)
        )
        return found

    def _matrix(self, tier: str, targets: NDArray[np.intp]) -> NDArray[np.int64]:
        """Figures of targets of one large group, a block of target rows at a time."""
        first = int(self.first[targets[0]])
        members = first + np.flatnonzero(
            self.comparable[tier][first : first + int(self.size[targets[0]])]
        )
        counts = np.zeros(len(targets), dtype=np.int64)
        if not len(members):
            return counts
        # Members ordered by origin: "a member of this origin agrees" is a reduction over
        # the origin's run of columns.
        origins = self.origins[tier][members]
        order = np.argsort(origins, kind="stable")
        members, origins = members[order], origins[order]
        runs = np.flatnonzero(np.r_[True, origins[1:] != origins[:-1]])
        per_block = max(1, _PAIRS // len(members))
        for begin in range(0, len(targets), per_block):
            rows = targets[begin : begin + per_block]
            agrees = self.agree(rows[:, None], members[None, :])
            counts[begin : begin + per_block] = np.logical_or.reduceat(agrees, runs, axis=1).sum(1)
        return counts

    def gaining(self, tier: str, new: int) -> list[str]:
        """The claims whose figure a new claim (at `new`, comparable) adds one to: those it
        agrees with where no comparable claim of its origin agrees with them already. A
        claim that is not comparable itself (retracted) counts the claims agreeing with it
        too."""
        group = np.arange(self.first[new], self.first[new] + self.size[new])
        others = group[group != new]
        agreeing = others[self.agree(np.array([new]), others)]
        origins = self.origins[tier]
        same_origin = others[self.comparable[tier][others] & (origins[others] == origins[new])]
        if len(agreeing) and len(same_origin):
            # A claim agrees with itself: one of the new claim's origin counts it already.
            held = self.agree(agreeing[:, None], same_origin[None, :]).any(axis=1)
            agreeing = agreeing[~held]
        return [self.ids[i] for i in agreeing]


def _days(day: Any, missing: float) -> Any:
    return func.coalesce(cast(func.extract("epoch", day), Float) / 86400, missing)


def _measures(claim: Any) -> tuple[ColumnElement[float], ...]:
    """A claim's range and period as numbers, as `Claims` holds them: low, high, start and
    end, an open bound infinite and an undated claim infinite both ways."""
    low, high = claim_range(claim)
    start, end = claim_period(claim)
    inf = float("inf")
    return (
        func.coalesce(cast(low, Float), -inf),
        func.coalesce(cast(high, Float), inf),
        _days(start, -inf),
        _days(end, inf),
    )


_COMPARED = ("stance", "low", "high", "start", "end")


def _agree(one: Sequence[Any], other: Sequence[Any]) -> ColumnElement[bool]:
    """`Claims.agree` in SQL, for claims of one subject, each given as its stance and
    measures (`_COMPARED`): the same stance, and ranges and periods that meet. Plain
    comparisons: planned in a moment, unlike the rule's open bounds spelled out."""
    stance, low, high, start, end = one
    other_stance, other_low, other_high, other_start, other_end = other
    return and_(
        stance == other_stance,
        low <= other_high,
        other_low <= high,
        start <= other_end,
        other_start <= end,
    )


def _compared(claim: Any) -> list[ColumnElement[Any]]:
    """A claim's stance and measures, labelled as `_COMPARED` names them."""
    values = (claim.stance, *_measures(claim))
    return [value.label(name) for value, name in zip(values, _COMPARED, strict=True)]


def _claim_rows(where: ColumnElement[bool]) -> Select[Any]:
    """Every claim `where` selects, with all the rule looks at, as numbers where it can:
    the subject group, stance, range and period, the origin per tier (equal numbers for
    equal origins), and which tiers may compare it (a bit each). Ordered by group."""
    relayed = select(cast(Claim.relayed_from_id, Text).label("root")).where(
        Claim.relayed_from_id.is_not(None), where
    )
    origins = relay_origins(relayed.distinct())
    source_origin = literal("source:", Text).concat(
        func.coalesce(origins.c.origin, cast(Claim.source_id, Text))
    )
    # A claim without a fact is a group of its own.
    group = func.dense_rank().over(
        order_by=(*subject_key(Claim), case((Claim.fact.is_(None), Claim.id)))
    )
    tier_origins = [
        func.dense_rank().over(
            order_by=case((shown_claimant(Claim, p), claimant_origin(Claim)), else_=source_origin)
        )
        for p in TIERS.values()
    ]
    comparable = sum(
        (cast(comparable_claims(p), Integer) * (1 << i) for i, p in enumerate(TIERS.values())),
        literal(0),
    )
    rows = (
        select(
            Claim.id,
            group.label("group"),
            case(_STANCES, value=cast(Claim.stance, Text)).label("stance"),
            *_measures(Claim),
            *tier_origins,
            comparable,
        )
        .outerjoin(origins, origins.c.root == Claim.relayed_from_id)
        .where(where)
        .subquery("claim_rows")
    )
    return select(rows).order_by(rows.c.group, rows.c.id)


# The statements, built once: their construction costs more than a group's reading.
_IDS = bindparam("ids", type_=ARRAY(Text))
_FACTS = bindparam("facts", type_=ARRAY(Text))


@cache
def _every_claim() -> Select[Any]:
    return _claim_rows(true())


@cache
def _claims_of_facts() -> Select[Any]:
    return _claim_rows(Claim.fact == any_(_FACTS))


@cache
def _neighbours_of_claims() -> Select[Any]:
    """These claims and, of their subjects, the claims that agree with any of them and
    those that may share its origin and agree with one of those: all that their figures
    count, and all that tells which figures a new claim among them adds one to
    (`Claims.gaining`). Found through the subject's index from each, never by reading a
    whole group."""
    # Each claim's measures computed once, in its row (MATERIALIZED): compared pair by
    # pair, they would be computed again for every pair.
    subject = [key.label(f"subject_{i}") for i, key in enumerate(subject_key(Claim))]
    claimant = (Claim.claimant_organization_id, Claim.claimant_testimony_id, Claim.claimant_level)
    targets = (
        select(*subject, *claimant, *_compared(Claim))
        .where(Claim.id == any_(_IDS))
        .cte("targets")
        .prefix_with("MATERIALIZED")
    )
    of_subject = [key == targets.c[f"subject_{i}"] for i, key in enumerate(subject_key(Claim))]
    target_compared = [targets.c[name] for name in _COMPARED]
    agreeing = (
        select(Claim.id, *_compared(Claim))
        .join(targets, and_(*of_subject, _agree(_compared(Claim), target_compared)))
        .cte("agreeing_claims")
        .prefix_with("MATERIALIZED")
    )
    peers = (
        union_all(
            *(
                select(Claim.id, *_compared(Claim)).join(targets, and_(way, *of_subject))
                for way in sharing_origin(targets.c, Claim)
            )
        )
        .cte("origin_peers")
        .prefix_with("MATERIALIZED")
    )
    agreeing_one = (
        select(agreeing.c.id)
        .where(_agree([agreeing.c[n] for n in _COMPARED], [peers.c[n] for n in _COMPARED]))
        .exists()
    )
    # Once, for the claims and for the relays they report.
    neighbours = union(
        select(func.unnest(_IDS).label("id")),
        select(agreeing.c.id),
        select(peers.c.id).where(agreeing_one),
    ).cte("neighbours")
    return _claim_rows(Claim.id.in_(select(neighbours.c.id)))


async def _read_claims(
    session: AsyncSession, statement: Select[Any], **parameters: list[str]
) -> Claims:
    return Claims.of((await session.execute(statement, parameters)).all())


@dataclass
class _Memo:
    """What a transaction's rendering has counted: figures by tier, and the claims read."""

    figures: dict[str, dict[str, int]] = field(default_factory=lambda: {t: {} for t in TIERS})
    read: list[Claims] = field(default_factory=list)

    def count(self, claims: Claims, targets: Collection[str] | None = None) -> None:
        """Count the figures of `targets` (every claim read, by default)."""
        if targets is None:
            at = np.arange(len(claims.ids))
        else:
            at = np.array([i for i, t in enumerate(claims.ids) if t in targets], dtype=np.intp)
        ids = [claims.ids[i] for i in at]
        for tier in TIERS:
            self.figures[tier].update(zip(ids, claims.figures(tier, at).tolist(), strict=True))

    async def read_neighbours(self, session: AsyncSession, claim_ids: Sequence[str]) -> Claims:
        """Read what the figures of these claims count (`_neighbours_of_claims`), and count
        them."""
        claims = await _read_claims(session, _neighbours_of_claims(), ids=list(claim_ids))
        self.read.append(claims)
        self.count(claims, set(claim_ids))
        return claims


def _memo(session: AsyncSession) -> _Memo:
    memo: _Memo = session.sync_session.info.get(_MEMO) or _Memo()
    return memo


@asynccontextmanager
async def counting(session: AsyncSession, every_claim: bool = False) -> AsyncIterator[None]:
    """Keep what is read and counted for the rendering inside: the tiers and the figure
    updates share it. `every_claim` counts every figure at once first (a rebuild), instead
    of the neighbours of each batch the presenter renders."""
    memo = _Memo()
    session.sync_session.info[_MEMO] = memo
    try:
        if every_claim:
            memo.count(await _read_claims(session, _every_claim()))
        yield
    finally:
        session.sync_session.info.pop(_MEMO, None)


async def claim_sources(
    session: AsyncSession, claim_ids: Collection[str], principal: Principal
) -> dict[str, int]:
    """Independent sources of each claim, for this client's tier (given: claims it is shown
    in full)."""
    memo = _memo(session)
    known = memo.figures[principal.tier]
    missing = [claim_id for claim_id in claim_ids if claim_id not in known]
    if missing:
        await memo.read_neighbours(session, missing)
    return {claim_id: known.get(claim_id, 0) for claim_id in claim_ids}


async def refresh_figures(session: AsyncSession, facts: Collection[str]) -> int:
    """Bring the stored figure of every claim of these facts up to date, for each tier shown
    it (a coarsened view has none); returns how many views changed."""
    if not facts:
        return 0
    memo = _Memo()
    memo.count(await _read_claims(session, _claims_of_facts(), facts=sorted(facts)))
    stored = RecordView.live[LIVE_FIGURE].as_integer()
    current = await session.execute(
        select(RecordView.record_id, RecordView.tier, stored).where(
            RecordView.kind == "claims",
            stored.is_not(None),
            one_of(RecordView.record_id, list(memo.figures["confidential"])),
        )
    )
    updates = [
        {"record_id": claim_id, "tier": tier, "figure": memo.figures[tier].get(claim_id, 0)}
        for claim_id, tier, figure in current
        if memo.figures[tier].get(claim_id, 0) != figure
    ]
    if updates:
        await session.execute(_SET_FIGURE, updates)
    return len(updates)


async def count_one_more(
    session: AsyncSession, claim_id: str, facilities: Collection[str] = ()
) -> None:
    """The figures of the claims a newly written claim agrees with, and of `facilities` (the
    one it is about, when it is not rendered again), brought up to date without recounting
    them. Its own figure is rendered with its views."""
    memo = _memo(session)
    read = [claims for claims in memo.read if claim_id in claims.position]
    claims = read[0] if read else await memo.read_neighbours(session, [claim_id])
    new = claims.position[claim_id]
    for tier in TIERS:
        if not claims.comparable[tier][new]:
            continue  # not shown in full to this tier: it counts for no one
        ids = claims.gaining(tier, new)
        if ids:
            parameters = {"kind": "claims", "figure": LIVE_FIGURE, "tier": tier, "ids": ids}
            await session.execute(_ADD_ONE, parameters)
    if facilities:
        await _count_toward_facility(session, await session.get_one(Claim, claim_id))


async def _count_toward_facility(session: AsyncSession, claim: Claim) -> None:
    """One more source for the claim's facility, for each tier that counts the claim and
    counted nothing of its origin before."""
    facility = claim.about_facility_id
    if facility is None:
        return
    counted = select(
        *(
            claims_about_facilities([facility], principal).where(Claim.id == claim.id).exists()
            for principal in TIERS.values()
        )
    )
    found = (await session.execute(counted)).one()
    counting = {tier: p for (tier, p), yes in zip(TIERS.items(), found, strict=True) if yes}
    if not counting:
        return
    of_origin = await quotes_of_origin(
        session, facility, claim.source_id, claim.relayed_from_id, counting
    )
    for tier in (tier for tier, count in of_origin.items() if count == 1):
        parameters = {"kind": "facilities", "figure": FACILITY_FIGURE, "tier": tier}
        await session.execute(_ADD_ONE, parameters | {"ids": [facility]})


_ADD_ONE = text(
    """
    UPDATE record_views
    SET live = jsonb_set(live, ARRAY[CAST(:figure AS text)],
                    to_jsonb((live ->> CAST(:figure AS text))::integer + 1))
    WHERE kind = :kind AND tier = :tier AND record_id = ANY(:ids)
      AND live ->> CAST(:figure AS text) IS NOT NULL
    """
)

_SET_FIGURE = text(
    f"""
    UPDATE record_views
    SET live = jsonb_set(live, '{{{LIVE_FIGURE}}}', to_jsonb(CAST(:figure AS integer)))
    WHERE kind = 'claims' AND record_id = :record_id AND tier = :tier
    """
)


# --- Kept in step with the writes -------------------------------------------------------------

_EARLIER = "claim_figures_earlier"  # (fact, facility) of claims before they changed
_INSERTED = "claim_figures_inserted"  # claims created since the last rendering


def _note_earlier(_mapper: Mapper[Any], _connection: Connection, target: Claim) -> None:
    # The fact and facility a claim counted towards before this change.
    session = object_session(target)
    if session is None:
        return
    state = inspect(target).attrs
    fact = state.fact.history.deleted
    facility = state.about_facility_id.history.deleted
    if fact or facility:
        earlier = session.info.setdefault(_EARLIER, set())
        earlier.add((fact[0] if fact else None, facility[0] if facility else None))


def _note_inserted(_mapper: Mapper[Any], _connection: Connection, target: Claim) -> None:
    session = object_session(target)
    if session is not None:
        session.info.setdefault(_INSERTED, set()).add(target.id)


event.listen(Claim, "after_update", _note_earlier)
event.listen(Claim, "after_insert", _note_inserted)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    for name in (_EARLIER, _INSERTED):
        session.info.pop(name, None)


@dataclass
class ClaimChanges:
    """What writes did to the figures since the last rendering: the facts and facilities
    claims counted towards before they changed, and the claims created. `gaining`: the
    facilities whose figure one new claim adds to, left out of the rendering."""

    earlier: set[tuple[str | None, str | None]]
    inserted: set[str]
    gaining: set[str] = field(default_factory=set)

    def one_new_claim(self, written: set[str], changed: set[tuple[str, str]]) -> str | None:
        """The claim, when the writes are one new claim and nothing else its figures or
        those of others look at: it adds to the figures it meets (`count_one_more`)."""
        origins = any(kind in ("testimonies", "sources") for kind, _id in changed)
        # A claim created since the last rendering and changed again counts as created.
        updated = {i for kind, i in changed if kind == "claims"} - self.inserted
        if len(written) != 1 or not written <= self.inserted or updated or origins:
            return None
        if self.earlier:
            return None
        (claim_id,) = written
        return claim_id

    async def shown_in(
        self,
        session: AsyncSession,
        rendering: Mapping[str, set[str]],
        written: set[str],
        changed: set[tuple[str, str]],
    ) -> Mapping[str, set[str]]:
        """A facility's independent sources count the claims about it: as they were and
        are. One new claim adds one to its facility's figure or none, after the rendering,
        unless the facility is rendered anyway."""
        facilities = {facility for _fact, facility in self.earlier if facility}
        claims = sorted(rendering.get("claims", ()))
        about: set[str] = set()
        if claims:
            statement = select(Claim.about_facility_id).where(
                one_of(Claim.id, claims), Claim.about_facility_id.is_not(None)
            )
            about.update(await session.scalars(statement))
        new = self.one_new_claim(written, changed)
        if new is not None and claims == [new]:
            self.gaining = about - rendering.get("facilities", set())
            about -= self.gaining
        return {"facilities": facilities | about}

    async def refresh(
        self,
        session: AsyncSession,
        written: set[str],
        changed: set[tuple[str, str]],
        referring: Callable[[dict[str, set[str]]], Awaitable[list[tuple[str, str]]]],
    ) -> None:
        """Claims' independent sources count the claims agreeing with them, and the
        claimant and sources of each: a written claim changes its group's figures, and so do
        a testimony or a source whose level or relays changed. One new claim adds to the
        figures it meets; any other change recounts the groups of the facts it touches."""
        new = self.one_new_claim(written, changed)
        if new is not None:
            await count_one_more(session, new, self.gaining)
            return
        origins: dict[str, set[str]] = {}
        for kind, record_id in changed:
            if kind in ("testimonies", "sources"):
                origins.setdefault(kind, set()).add(record_id)
        affected = set(written)
        for kind, claim_id in await referring(origins):
            if kind == "claims":
                affected.add(claim_id)
        facts = {fact for fact, _facility in self.earlier if fact}
        if affected:
            statement = select(Claim.fact).where(one_of(Claim.id, sorted(affected)))
            facts.update(fact for fact in await session.scalars(statement) if fact)
        await refresh_figures(session, sorted(facts))


class ClaimFigures:
    """The independent sources of each claim, kept beside its views (`LIVE_FIGURE`)."""

    def counting(self, session: AsyncSession, every: bool) -> AbstractAsyncContextManager[None]:
        return counting(session, every_claim=every)

    def changes(self, session: AsyncSession) -> ClaimChanges:
        info = session.sync_session.info
        return ClaimChanges(info.pop(_EARLIER, set()), info.pop(_INSERTED, set()))
