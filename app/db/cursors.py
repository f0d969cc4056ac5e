"""A query's rows a batch at a time, through a cursor of the transaction.

Declared as a cursor, a query gets a plan for reading its first rows soon (PostgreSQL plans
for a tenth of them, `cursor_tuple_fraction`): the rows stream in order as the plan yields
them, rather than after a sort of them all, and each FETCH is a statement of its own, bound
by the statement deadline however long the whole read takes.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import Row, Select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

_names = itertools.count()


class _Declare(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


@compiles(_Declare)
def _compile_declare(element: _Declare, compiler: SQLCompiler, **kw: Any) -> str:
    return f"DECLARE {element.name} NO SCROLL CURSOR FOR {compiler.process(element.query, **kw)}"


async def in_batches(
    connection: AsyncConnection, query: Select[Any], size: int
) -> AsyncGenerator[Sequence[Row[Any]]]:
    """The rows of `query`, `size` at a time, named as its columns are; the connection must
    be in a transaction, which the cursor lasts at most."""
    name = f"in_batches_{next(_names)}"
    await connection.execute(_Declare(name, query))
    fetch = text(f"FETCH FORWARD {size} FROM {name}")
    while rows := (await connection.execute(fetch)).all():
        yield rows
    await connection.execute(text(f"CLOSE {name}"))
