"""Many rows written by one statement: each column's values travel as one array parameter,
which the server unnests into rows. A batch costs one round trip and one plan, where an
executemany costs a round trip and an execution per row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine


def unnested(columns: Mapping[str, TypeEngine[Any]], name: str) -> TableValuedAlias:
    """Rows of these columns, each given as an array parameter of its name (see `arrays`)."""
    parameters = [bindparam(key, type_=ARRAY(type_)) for key, type_ in columns.items()]
    shape = [column(key, type_) for key, type_ in columns.items()]
    return func.unnest(*parameters).table_valued(*shape).render_derived(name=name)


def arrays(rows: Sequence[Mapping[str, Any]], names: Iterable[str]) -> dict[str, list[Any]]:
    """The parameters of `unnested` for these rows: one list of values per column."""
    return {name: [row[name] for row in rows] for name in names}
