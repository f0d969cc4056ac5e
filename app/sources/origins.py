"""Where a quote's words first come from, its source origin, and how many distinct origins
quotes have: the walk up a source's relays and the count that corroboration rests on (the rules
are set out in app/claims/corroboration.py)."""

from __future__ import annotations

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
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, array, distinct_on
from sqlalchemy.orm import InstrumentedAttribute

from app.auth.scopes import Principal
from app.kit.protection import ProtectionLevel
from app.sources.models import Source, SourceRelay

_PATH = ARRAY(Text)


def relay_origins(roots: Select[Any]) -> CTE:
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


def count_origins(quotes: CTE) -> Select[str, int]:
    """Distinct origins per owner of the `quotes` (owner, claimant, source_id,
    relayed_from_id): the claimant where there is one, else the quote's source origin."""
    roots = (
        select(quotes.c.relayed_from_id.label("root"))
        .where(quotes.c.relayed_from_id.is_not(None))
        .distinct()
    )
    origins = relay_origins(roots)
    source_origin = func.coalesce(origins.c.origin, quotes.c.source_id)
    origin = func.coalesce(quotes.c.claimant, literal("source:", Text).concat(source_origin))
    return (
        select(quotes.c.owner, func.count(origin.distinct()))
        .select_from(quotes.outerjoin(origins, origins.c.root == quotes.c.relayed_from_id))
        .group_by(quotes.c.owner)
    )


def counted_quote(model: Any, owner: InstrumentedAttribute[Any]) -> tuple[ColumnElement[Any], ...]:
    """A `Quoted` row of `model` as `count_origins` reads it, owned by `owner` and with no
    claimant: counted by where its words come from."""
    return (
        owner.label("owner"),
        cast(null(), Text).label("claimant"),
        cast(model.source_id, Text).label("source_id"),
        cast(model.relayed_from_id, Text).label("relayed_from_id"),
    )


def from_shown_sources(
    source: InstrumentedAttribute[str], principal: Principal
) -> ColumnElement[bool]:
    """Evidence counts for a client only from sources it is shown in full: a count must not
    tell that a protected source exists."""
    if len(principal.full_levels) == len(ProtectionLevel):
        return true()
    return source.in_(select(Source.id).where(Source.protection_level.in_(principal.full_levels)))
