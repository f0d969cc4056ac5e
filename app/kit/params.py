"""Query parameters: the list-endpoint base model, id filters, and the guard against unknown
parameters and text the database cannot store."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from app.kit.errors import FieldError, ProblemError
from app.kit.schemas import unstorable

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date-time, e.g. 2024-01-31T12:00:00Z") from None
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date, e.g. 2024-01-31") from None
    return value


# Only ISO 8601: the default lax parsing would also take numbers as Unix timestamps.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]

# Search words: something besides white space, and (like all text) no NUL.
SEARCH_WORDS = r"^[^\x00]*[^\s\x00][^\x00]*$"

# One value of a repeatable filter by id or code (`facility=a&facility=b`). An empty one names
# nothing: a 422 naming the parameter, rather than a filter that silently matches nothing.
FilterValue = Annotated[str, StringConstraints(min_length=1)]


class ListQuery(BaseModel):
    """Parameters every list endpoint takes. Subclasses add `sort` and typed filters; a
    repeated filter means OR, different filters combine with AND."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size, 1 to 200."
    )
    cursor: str | None = Field(
        default=None,
        description="Opaque cursor from `page.next_cursor`; valid only with the same sort and "
        "filters.",
    )
    updated_since: IsoDateTime | None = Field(
        default=None,
        description="Only records created or changed at or after this instant (ISO 8601), for "
        "incremental sync.",
    )

    include_retracted: bool = Field(
        default=False, description="Also list retracted records (their tombstones)."
    )
    count: bool = Field(
        default=False,
        description="Also count every matching record, in `page.total` (one more query).",
    )

    def fingerprint_fields(self) -> dict[str, Any]:
        """What a cursor is bound to: sort and filters, not the page position or size."""
        return self.model_dump(
            mode="json", exclude={"cursor", "limit", "count", "facet"}, exclude_defaults=True
        )

    def unfiltered(self) -> bool:
        """No filter but `include_retracted`: the whole list the client may see, whose counts
        are kept as the records change (the sort orders it, the page and facets cut it)."""
        return set(self.fingerprint_fields()) <= {"sort", "include_retracted"}


class SearchableQuery(ListQuery):
    """A list of evidence records, which can also be searched."""

    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=SEARCH_WORDS,
        description='Search words, in web-search syntax: `"a phrase"`, `or`, `-excluded`. '
        "Matches the text this client is shown (names, titles, statements, summaries, "
        "quotes, descriptions), and names across romanisations and small typos.",
        examples=["Kaech'ŏn", '"coal mine" -china'],
    )


def facet_field() -> Any:
    """The `facet` parameter of a list: the fields to count the matching records by."""
    return Field(
        default_factory=list,
        description="Also count the matching records by these fields (repeatable); see "
        "`facets` in the response.",
    )


def _query_names(dependant: Any) -> set[str]:
    names: set[str] = set()
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(f.alias or name for name, f in annotation.model_fields.items())
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _header_names(dependant: Any) -> set[str]:
    names = {field.alias.lower() for field in dependant.header_params}
    for sub in dependant.dependencies:
        names |= _header_names(sub)
    return names


_allowed_by_route: dict[int, tuple[frozenset[str], frozenset[str]]] = {}


async def reject_unknown_query_params(request: Request) -> None:
    """A parameter the endpoint does not know is a 400 that names it, never silently ignored;
    a query parameter or header of the endpoint holding text the database cannot store (NUL,
    a lone surrogate) is a 422 that names it, never an error from the database."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _allowed_by_route.get(id(route))
    if known is None:
        known = _allowed_by_route[id(route)] = (
            frozenset(_query_names(route.dependant)),
            frozenset(_header_names(route.dependant)),
        )
    allowed, headers = known
    values = [("query", n, v) for n, v in request.query_params.multi_items()]
    values += [("header", n, v) for n, v in request.headers.items() if n in headers]
    found: set[tuple[str, str, str]] = set()
    for location, name, value in values:
        problem = unstorable(value)
        if problem is not None:
            found.add((location, name, problem))
    bad = [FieldError(location=loc, name=name, message=msg) for loc, name, msg in sorted(found)]
    if bad:
        raise ProblemError(
            422,
            "validation-error",
            "Invalid value for "
            + ", ".join(f"{e.location} parameter {e.name!r}" for e in bad)
            + ".",
            errors=bad,
        )
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise ProblemError(
            400,
            "unknown-parameter",
            "Unknown query parameter: "
            + ", ".join(repr(n) for n in unknown)
            + ". Allowed: "
            + (", ".join(sorted(allowed)) or "none")
            + ".",
            errors=[
                FieldError(location="query", name=n, message="not a parameter of this endpoint")
                for n in unknown
            ],
        )
