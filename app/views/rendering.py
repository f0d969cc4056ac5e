"""Rendering a record once for every access tier, when it changes.

Each tier is asked the questions the presenters ask of a real client (a principal with that
tier's read scopes), so a stored view is exactly what the disclosure policy gives a client of
the tier. Rendering and searching share the presentation: search documents are cut from the
same presented records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.auth.scopes import Principal, Scope
from app.kit.citing import CITE_AS, Citer
from app.kit.protection import Disclosure
from app.views.lines import stored_csv

# One principal per tier.
TIERS: dict[str, Principal] = {
    "public": Principal(None, frozenset(), ""),
    "restricted": Principal(None, frozenset({Scope.read_restricted}), ""),
    "confidential": Principal(None, frozenset({Scope.read_confidential}), ""),
}

Presenter = Callable[[AsyncSession, Sequence[Any], Citer, Viewer], Awaitable[Sequence[BaseModel]]]


class DescribingCiter(Citer):
    """A citer that keeps each record's citation description: the stored view holds the
    description, the request builds `cite_as` from it with its own base URL and date."""

    def __init__(self) -> None:
        super().__init__("", date(2000, 1, 1))
        self.descriptions: dict[str, str] = {}

    def cite(self, plural: str, record_id: str, description: str) -> Any:
        self.descriptions[f"{plural}/{record_id}"] = description
        return super().cite(plural, record_id, description)


@dataclass(frozen=True)
class Rendered:
    """One record as one tier is shown it."""

    tier: str
    record: BaseModel
    description: str
    disclosed: dict[str, str] = field(default_factory=dict)


def is_hidden(record: BaseModel, principal: Principal) -> bool:
    disclosure = getattr(record, "disclosure", None)
    return isinstance(disclosure, Disclosure) and disclosure.level in principal.hidden_levels


async def render(
    session: AsyncSession, kind: str, present: Presenter, rows: Sequence[Any]
) -> dict[str, list[Rendered]]:
    """Every record of `rows` (of collection `kind`) as each tier that may learn it exists
    is shown it, by record id."""
    rendered: dict[str, list[Rendered]] = {row.id: [] for row in rows}
    for tier, principal in TIERS.items():
        viewer = Viewer(principal)
        citer = DescribingCiter()
        shown = await present(session, rows, citer, viewer)
        for row, record in zip(rows, shown, strict=True):
            if is_hidden(record, principal):
                continue
            path = f"{kind}/{row.id}"
            disclosed = viewer.disclosed_by.get(path, {})
            rendered[row.id].append(
                Rendered(
                    tier,
                    record,
                    citer.descriptions[path],
                    {record_path: level.value for record_path, level in disclosed.items()},
                )
            )
    return rendered


def view_row(
    kind: str,
    record_id: str,
    version: int,
    rendered: Rendered,
    live: Sequence[str],
    counted: str,
) -> dict[str, Any]:
    """The stored form of one rendered view: the body without its closing brace, `cite_as`
    or the live figures, which are appended when it is served; its CSV line around what
    the request supplies (see `stored_csv`); and the groups it counts in (see
    `app.views.counts`)."""
    body = rendered.record.model_dump_json(by_alias=True, exclude={CITE_AS, *live})
    return {
        "kind": kind,
        "record_id": record_id,
        "tier": rendered.tier,
        "version": version,
        "body": body[:-1],
        "cite": rendered.description,
        "live": {name: _json_value(getattr(rendered.record, name)) for name in live},
        "disclosed": rendered.disclosed,
        "csv": stored_csv(
            type(rendered.record), body, kind, record_id, rendered.description, tuple(live)
        ),
        "counted": counted,
    }


def _json_value(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
