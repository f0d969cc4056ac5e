"""The floor the API is measured against: the project's own SQL behind a bare ASGI app.

No framework, no models loaded into Python: one asyncpg pool, three paths, and PostgreSQL
building the JSON (PostgREST's way). The SQL is the project's: the claims list statement of
`app/claims/repository.py` with the keyset condition of `app/kit/pagination.py`, the ranked
search of `app/search/query.py` (its window's edge looked up at start), and the facets'
and `/v1/stats`' reads of the counts kept per tier (`app/views/counts.py`; a facet under other
filters groups the matching claims), each compiled with the PostgreSQL dialect and literal
binds (once per distinct URL, then cached), as an anonymous client's. Rows are the stored
columns, not the presented records.

    python -m bench.minimal_app --port 8002 --database-url postgresql://127.0.0.1/db

Paths: `/v1/claims` (the list's own query parameters, and `after=<id>` in place of a cursor:
the keyset condition that a cursor after that id stands for, on the id sort), `/v1/search?q=`
(`limit`) and `/v1/stats`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from functools import lru_cache
from typing import Any, get_origin
from urllib.parse import parse_qs

import asyncpg
import uvicorn
from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.expression import ClauseElement

from app.auth.scopes import Principal
from app.claims.models import Claim
from app.claims.repository import RECORDS, SORT_KEYS, claim_conditions
from app.claims.schemas import ClaimQuery
from app.kit.facets import Facet
from app.kit.limits import SERVER_OPTIONS
from app.search.query import (
    RANKED,
    Search,
    SearchTerms,
    ranked_statement,
    window_edge_statement,
    window_params,
)
from app.views import counts

ANONYMOUS = Principal(key_id=None, scopes=frozenset(), address="")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def compiled(statement: ClauseElement) -> str:
    # The driver's own dialect: the one the project sends its statements through.
    dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def claim_query(params: dict[str, list[str]]) -> ClaimQuery:
    """The list's query model from a query string, as FastAPI reads it."""
    fields = ClaimQuery.model_fields
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(f"unknown query parameters {unknown}")
    return ClaimQuery.model_validate(
        {
            name: given if get_origin(fields[name].annotation) is list else given[-1]
            for name, given in params.items()
        }
    )


def claims_where(query: ClaimQuery) -> list[ColumnElement[bool]]:
    return RECORDS.where(claim_conditions(query, ANONYMOUS), query, ANONYMOUS)


def claims_page(query: ClaimQuery, after: str | None = None) -> Select[Any]:
    """The statement `list_claims` runs for a page (see `fetch_page`), one row more than the
    page to tell whether another follows."""
    sort = query.sort.value
    expression = SORT_KEYS[sort.removeprefix("-")].expression(sort.startswith("-"))
    where = claims_where(query)
    if after is not None:
        if sort != "id":
            raise ValueError("after= stands for a cursor on the id sort only")
        where.append(tuple_(expression, Claim.id) > tuple_(after, after))
    order = (expression.desc(), Claim.id.desc()) if sort.startswith("-") else (expression, Claim.id)
    return RECORDS.select().where(*where).order_by(*order).limit(query.limit + 1)


def facet_statement(facet: Facet, model: Any, where: list[ColumnElement[bool]]) -> Select[Any]:
    """The facet's group-by. The project groups by its label too, a bound NULL where the
    label is derived from the key; a literal NULL may not stand in a GROUP BY, and grouping
    by a constant changes nothing, so it is left out."""
    statement = facet.statement(model, where)
    if facet.label_column is None and not facet.each_element:
        statement = statement.group_by(None).group_by(facet.key)
    return statement


def grouped(statement: ClauseElement, columns: str) -> str:
    """A group-by's rows as a JSON array."""
    return f"(SELECT coalesce(json_agg(g), '[]') FROM ({compiled(statement)}) AS g({columns}))"


def facet(query: ClaimQuery, name: str) -> str:
    """A facet's groups, under every filter but its own (as `Records.facet` reads or counts
    them)."""
    default = ClaimQuery.model_fields[name].get_default(call_default_factory=True)
    query = query.model_copy(update={name: default}) if name in ClaimQuery.model_fields else query
    claims_facet = RECORDS.facets[name]
    if query.unfiltered():
        statement = counts.groups_statement(
            ANONYMOUS.tier,
            (("claims", name),),
            named_by=claims_facet.named_by,
            include_retracted=query.include_retracted,
        )
        return grouped(statement, "kind, facet, key, label, count")
    statement = facet_statement(claims_facet, Claim, claims_where(query))
    return grouped(statement, "key, label, count")


def page_json(
    page: Select[Any], limit: int, shown: str = "*", answered: str = "true", **members: str
) -> str:
    """One row: whether it answers the request (`answered`, SQL over `page`), and one JSON
    text: the first `limit` rows of `page` as `data`, whether more follow, and further
    members."""
    more = "".join(f", '{name}', {sql}" for name, sql in members.items())
    return (
        f"WITH page AS MATERIALIZED ({compiled(page)}) SELECT {answered}, json_build_object("
        f"'data', (SELECT coalesce(json_agg(shown), '[]') FROM (SELECT {shown} FROM "
        f"(SELECT * FROM page LIMIT {limit}) AS hit) AS shown), "
        f"'more', (SELECT count(*) > {limit} FROM page){more})::text"
    )


def claims_sql(params: dict[str, list[str]]) -> str:
    after = params.pop("after", [None])[-1]
    query = claim_query(params)
    facets = {name.value: facet(query, name.value) for name in query.facet}
    members = {"facets": f"json_build_object({_pairs(facets)})"} if facets else {}
    return page_json(claims_page(query, after), query.limit, **members)


def search_sql(params: dict[str, list[str]], edge: tuple[datetime, int] | None) -> list[str]:
    """The first page of `/v1/search` as `Search.page` reads it: its ranked results (with
    snippets cut for the page only) from the candidates among the newest documents, from
    (`edge`) on, unless too few are there; then from all the matches."""
    limit = int(params.get("limit", ["50"])[-1])
    asked = Search(SearchTerms(params["q"][-1]), ANONYMOUS.tier)
    values = asked.params(limit + 1)
    shown = "kind AS type, record_id AS id, title, score, snippet"
    statements = []
    for windowed in (True, False):
        statement = ranked_statement(*asked.shape, resuming=False, windowed=windowed)
        rows = statement.params(**values, **window_params(edge)).subquery("results")
        page = select(rows).where(rows.c.ref.is_not(None)).order_by(rows.c.score.desc())
        last = not windowed or edge is None
        answered = "true" if last else f"(SELECT max(matched) FROM page) > {RANKED}"
        statements.append(page_json(page, limit, shown, answered))
        if last:
            break
    return statements


def stats_sql(params: dict[str, list[str]]) -> str:
    """The counts of `corpus_stats`, in its one statement."""
    counted = (
        ("claims", "metric_and_unit"),
        *(("facilities", name) for name in (counts.TOTAL, "province", "facility_type")),
        *(("testimonies", name) for name in (counts.TOTAL, "decade", "labour_type")),
    )
    statement = counts.groups_statement(ANONYMOUS.tier, counted)
    return f"SELECT true, {grouped(statement, 'kind, facet, key, label, count')}::text"


def _pairs(members: dict[str, str]) -> str:
    return ", ".join(f"'{name}', {sql}" for name, sql in members.items())


ROUTES: dict[str, Callable[[dict[str, list[str]]], str]] = {
    "/v1/claims": claims_sql,
    "/v1/stats": stats_sql,
}


@lru_cache(maxsize=4096)
def sql_for(path: str, query_string: str, edge: tuple[datetime, int] | None) -> list[str]:
    """The statements answering a request, to run in turn until one answers it."""
    params = parse_qs(query_string, keep_blank_values=True)
    if path == "/v1/search":
        return search_sql(params, edge)
    return [ROUTES[path](params)]


class MinimalApp:
    def __init__(self, dsn: str, pool_size: int) -> None:
        self.dsn, self.pool_size = dsn, pool_size
        self.pool: asyncpg.Pool | None = None
        # The search window's edge, looked up once (the project's is reused for a minute).
        self.edge: tuple[datetime, int] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        try:
            statements = sql_for(scope["path"], scope["query_string"].decode(), self.edge)
        except KeyError:
            await respond(send, 404, json.dumps({"detail": "no such path"}))
            return
        except ValueError as error:  # pydantic's ValidationError is one
            await respond(send, 400, json.dumps({"detail": str(error)}))
            return
        assert self.pool is not None
        async with self.pool.acquire() as connection:
            for sql in statements:
                answered, body = await connection.fetchrow(sql)
                if answered:
                    break
        await respond(send, 200, body)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                size = self.pool_size
                self.pool = await asyncpg.create_pool(self.dsn, min_size=size, max_size=size)
                edge = await self.pool.fetchrow(compiled(window_edge_statement()))
                self.edge = None if edge is None else (edge[0], edge[1])
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def respond(send: Send, status: int, body: str) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="postgresql://...")
    parser.add_argument("--pool-size", type=int, default=5, help="The project's default.")
    args = parser.parse_args()
    app = MinimalApp(args.database_url, args.pool_size)
    # The project's own HTTP server options (h11), so that only the application differs.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        **SERVER_OPTIONS,
    )


if __name__ == "__main__":
    main()
