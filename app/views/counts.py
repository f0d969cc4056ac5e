"""Counts kept as the stored views change: how many records of a kind each access tier may
learn of, in total and in each group of every facet (and of the statistics' groupings).

Rendering a record stores with each of its views the groups it counts in (`counted`), takes
the groups of the views it replaces off (`note`) and adds the new ones'. The transaction
applies the sum once, before it commits (`apply`), in one statement whose rows come in one
fixed order: two writers that change the same counts wait for each other, never deadlock,
and the second adds to what the first committed. A read with no filter but the facet's own
answers from the counts (`groups_statement`); any other filter counts the matching records
as before.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.kit.facets import Counted
from app.views.models import view_counts

TOTAL = ""  # the facet of the row counting every record: no facet has an empty name
_DELTAS = "view_count_deltas"


def value_columns(counted: Mapping[str, Counted]) -> list[ColumnElement[Any]]:
    """What to select with a record to know its groups (see `counted_of`)."""
    return [grouping.values() for grouping in counted.values()]


def counted_of(counted: Mapping[str, Counted], values: Sequence[Any], retracted: bool) -> str:
    """A view's `counted`, from the record's `value_columns`: compact JSON text, the same
    for the same groups (so that a record rendered again in its groups changes nothing)."""
    groups = {
        name: grouping.groups(list(found))
        for (name, grouping), found in zip(counted.items(), values, strict=True)
    }
    return json.dumps({"retracted": retracted, "groups": groups}, separators=(",", ":"))


def note(
    session: AsyncSession, kind: str, views: Iterable[tuple[str, str | None]], sign: int
) -> None:
    """Views of `kind` (tier and `counted`) stored (`sign` 1) or deleted (-1) in this
    transaction; a view rendered before counts were kept (`counted` NULL) counts nowhere."""
    deltas: Counter[tuple[str, str, str]] = session.sync_session.info.setdefault(_DELTAS, Counter())
    for tier, counted in views:
        if counted is not None:
            deltas[kind, tier, counted] += sign


def unapplied(session: Session) -> bool:
    """Whether noted changes wait for `apply`."""
    return any(session.info.get(_DELTAS, {}).values())


def forget(session: Session) -> None:
    """Drop what was noted (the transaction rolled back, or everything is counted anew)."""
    session.info.pop(_DELTAS, None)


async def apply(session: AsyncSession) -> None:
    """Add what this transaction's renderings noted to the counts."""
    deltas: Counter[tuple[str, str, str]] = session.sync_session.info.pop(_DELTAS, Counter())
    rows: Counter[tuple[str, str, str, tuple[str | None, ...], bool]] = Counter()
    for (kind, tier, counted), change in deltas.items():
        if not change:  # views replaced by views counted in the same groups
            continue
        view = json.loads(counted)
        retracted = view["retracted"]
        rows[kind, tier, TOTAL, (), retracted] += change
        for name, groups in view["groups"].items():
            for group in groups:
                rows[kind, tier, name, tuple(group), retracted] += change
    changed = sorted((row for row in rows.items() if row[1]), key=_lock_order)
    if changed:
        await session.execute(
            _UPSERT,
            [
                {"kind": k, "tier": t, "facet": f, "key": list(v), "retracted": r, "count": n}
                for (k, t, f, v, r), n in changed
            ],
        )


def _lock_order(row: tuple[tuple[str, str, str, tuple[str | None, ...], bool], int]) -> Any:
    # Any total order will do, as long as every transaction takes the rows' locks in it.
    (kind, tier, facet, values, retracted), _change = row
    return kind, tier, facet, [(value is not None, value or "") for value in values], retracted


_INSERT = insert(view_counts)
_UPSERT = _INSERT.on_conflict_do_update(
    index_elements=[column for column in view_counts.primary_key],
    set_={"count": view_counts.c.count + _INSERT.excluded.count},
)


async def recount(session: AsyncSession) -> None:
    """Count every stored view afresh (after a full rendering: what it noted is in the views)."""
    forget(session.sync_session)
    await session.execute(delete(view_counts))
    await session.execute(_RECOUNT, {"total": TOTAL})


_RECOUNT = text(
    """
    INSERT INTO view_counts (kind, tier, facet, key, retracted, count)
    SELECT v.kind, v.tier, g.facet, g.key, (v.counted::jsonb ->> 'retracted')::boolean, count(*)
    FROM record_views AS v
    CROSS JOIN LATERAL (
        SELECT :total AS facet, '{}'::text[] AS key
        UNION ALL
        SELECT facet.key, ARRAY(
            SELECT value FROM jsonb_array_elements_text(grouped) WITH ORDINALITY AS t(value, n)
            ORDER BY n
        )
        FROM jsonb_each(v.counted::jsonb -> 'groups') AS facet,
             jsonb_array_elements(facet.value) AS grouped
    ) AS g
    WHERE v.counted IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    """
)


@cache  # a handful of shapes, built once: a read only binds them
def groups_statement(
    tier: str,
    counted: tuple[tuple[str, str], ...],
    *,
    named_by: Any = None,
    include_retracted: bool = False,
) -> Select[Any]:
    """The groups `tier` counts of each (kind, facet) of `counted` (facet `TOTAL`: one group
    of every record, with no values), as rows of the kind, the facet, the group's values
    (text), a label (the name of the `named_by` record the value is the id of, else NULL)
    and how many records; by kind and facet, most first, then by value."""
    kind, facet, key = view_counts.c.kind, view_counts.c.facet, view_counts.c.key
    count = func.sum(view_counts.c.count)
    label = literal(None) if named_by is None else named_by.name
    statement = select(kind, facet, key, label, count.label("records")).select_from(view_counts)
    grouped: list[Any] = [kind, facet, key]
    if named_by is not None:
        statement = statement.outerjoin(named_by, named_by.id == key[1])
        grouped.append(label)
    where = [view_counts.c.tier == tier, tuple_(kind, facet).in_(counted)]
    if not include_retracted:
        where.append(view_counts.c.retracted.is_(False))
    return (
        statement.where(*where)
        .group_by(*grouped)
        .having(count > 0)  # a group whose records all left it keeps its row at 0
        .order_by(kind, facet, count.desc(), key)
    )
