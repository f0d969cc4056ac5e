"""Rendering a record once for every access tier, when it changes.

Each tier is asked the questions the presenters ask of a real client (a principal with that
tier's read scopes), so a stored view is exactly what the disclosure policy gives a client of
the tier. Rendering and searching share the presentation: search documents are cut from the
same presented records.

A presenter gives each record as JSON values (dicts, lists, text, numbers, booleans, dates),
in the order of its typed schema's fields and valid as it, without `cite_as`: serialised as
they are, they are the bytes the typed model would serialise to, without building it (the
typed schemas describe the API, and the tests hold the two equal).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.auth.scopes import Principal, Scope
from app.kit.protection import ProtectionLevel
from app.views.lines import stored_csv

T = TypeVar("T")

# One principal per tier.
TIERS: dict[str, Principal] = {
    "public": Principal(None, frozenset(), ""),
    "restricted": Principal(None, frozenset({Scope.read_restricted}), ""),
    "confidential": Principal(None, frozenset({Scope.read_confidential}), ""),
}


@dataclass(frozen=True, slots=True)
class Presented:
    """A record as one client is shown it: its fields as JSON values (see above) and the
    description its `cite_as` is built from, with the request's base URL and date."""

    data: dict[str, Any]
    description: str


Presenter = Callable[[AsyncSession, Sequence[Any], Viewer], Awaitable[list[Presented]]]


@dataclass
class Presentation:
    """One presentation of a record, which one tier or several are shown: the record, the
    description its citation is built from, and the protected records it shows in full."""

    record: dict[str, Any]
    description: str
    disclosed: dict[str, str] = field(default_factory=dict)
    _bodies: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)

    def body(self, live: Sequence[str]) -> str:
        """The record's JSON without the `live` figures and its closing brace; serialised
        once, however many tiers share it."""
        key = tuple(live)
        if key not in self._bodies:
            shown = {name: value for name, value in self.record.items() if name not in key}
            self._bodies[key] = to_json(shown).decode()[:-1]
        return self._bodies[key]


@dataclass(frozen=True)
class Rendered:
    """One record as one tier is shown it."""

    tier: str
    presentation: Presentation

    @property
    def record(self) -> dict[str, Any]:
        return self.presentation.record

    @property
    def description(self) -> str:
        return self.presentation.description

    @property
    def disclosed(self) -> dict[str, str]:
        return self.presentation.disclosed


def is_hidden(record: Mapping[str, Any], principal: Principal) -> bool:
    disclosure = record.get("disclosure")
    return disclosure is not None and disclosure["level"] in principal.hidden_levels


@dataclass
class _TiersViewer(Viewer):
    """A viewer presenting for several tiers at once (`tiers`, the first of them its
    `principal`). It answers every question of the disclosure policy as its principal would,
    so what it presents is exactly what the first tier is shown; it also asks each question
    for the other tiers, and notes in `differing` the records whose presentation met one they
    answer otherwise (None: a question asked outside any record's presentation). The records
    never noted are shown the same to every tier."""

    tiers: tuple[Principal, ...] = ()
    differing: set[str | None] = field(default_factory=set)

    @property
    def clients(self) -> tuple[Principal, ...]:
        return self.tiers

    def _answered(self, answers: list[object]) -> None:
        if any(answer != answers[0] for answer in answers[1:]):
            self.differing.add(self.presenting)

    def shows_in_full(self, level: ProtectionLevel, record: str) -> bool:
        self._answered([principal.sees_in_full(level) for principal in self.tiers])
        return super().shows_in_full(level, record)

    def hides(self, level: ProtectionLevel) -> bool:
        self._answered([level in principal.hidden_levels for principal in self.tiers])
        return super().hides(level)

    def of_tier(self, values: Mapping[str, T]) -> T:
        self._answered([values[principal.tier] for principal in self.tiers])
        return super().of_tier(values)


async def render(
    session: AsyncSession, kind: str, present: Presenter, rows: Sequence[Any]
) -> dict[str, list[Rendered]]:
    """Every record of `rows` (of collection `kind`) as each tier that may learn it exists
    is shown it, by record id.

    The records are presented once for every tier together; those whose presentation some
    tier would answer otherwise keep it for the first tier only, and are presented again for
    the remaining tiers together, and so on: a record the policy shows alike to every tier
    (most of them) is presented once, and its tiers share that one presentation."""
    rendered: dict[str, list[Rendered]] = {row.id: [] for row in rows}
    tiers = list(TIERS.items())
    while tiers and rows:
        viewer = _TiersViewer(tiers[0][1], tiers=tuple(principal for _, principal in tiers))
        shown = await present(session, rows, viewer)
        every = None in viewer.differing
        again = []
        for row, presented in zip(rows, shown, strict=True):
            path = f"{kind}/{row.id}"
            alike = not every and path not in viewer.differing
            if not alike:
                again.append(row)
            disclosed = viewer.disclosed_by.get(path, {})
            presentation = Presentation(
                presented.data,
                presented.description,
                {record_path: level.value for record_path, level in disclosed.items()},
            )
            for shown_tier, shown_to in tiers if alike else tiers[:1]:
                if not is_hidden(presented.data, shown_to):
                    rendered[row.id].append(Rendered(shown_tier, presentation))
        tiers, rows = tiers[1:], again
    return rendered


def view_row(
    kind: str,
    record_id: str,
    version: int,
    rendered: Rendered,
    live: Sequence[str],
    counted: str,
    schema: type[BaseModel],
) -> dict[str, Any]:
    """The stored form of one rendered view: the body without its closing brace or the live
    figures, which are appended when it is served, with `cite_as`; its CSV line (of the
    typed `schema`'s columns) around what the request supplies (see `stored_csv`); and the
    groups it counts in (see `app.views.counts`)."""
    body = rendered.presentation.body(live)
    return {
        "kind": kind,
        "record_id": record_id,
        "tier": rendered.tier,
        "version": version,
        "body": body,
        "cite": rendered.description,
        "live": {name: rendered.record[name] for name in live},
        "disclosed": rendered.disclosed,
        "csv": stored_csv(schema, body + "}", kind, record_id, rendered.description, tuple(live)),
        "counted": counted,
    }
