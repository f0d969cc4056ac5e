"""What each access tier is shown of a record, as searchable text.

A document is cut from the record exactly as the disclosure policy presents it to a client of
the tier (the presenters): a tier that must not learn a record exists gets no document, a tier
shown a record coarsened gets only the text it is shown (no county, no withheld quote, note,
claimant or source), so a search can never match on what its client may not read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ExecutableOption

from app.db.base import EvidenceRecord
from app.kit.facets import Counted
from app.kit.provinces import PROVINCE_LABELS, Province
from app.kit.schemas import SINGULAR, RecordStatus
from app.search.folding import folded_names
from app.views.rendering import Presenter, Rendered


@dataclass
class DocumentText:
    """Text in four weights (A: names and titles ... D: whole documents), the names to
    match across spellings, and the text snippets are cut from (after the title)."""

    title: str
    names: Sequence[str] = ()
    a: Sequence[str | None] = ()
    b: Sequence[str | None] = ()
    c: Sequence[str | None] = ()
    d: Sequence[str | None] = ()
    body: Sequence[str | None] = ()

    def row(self) -> dict[str, Any]:
        folded = folded_names(self.names)

        def joined(parts: Iterable[str | None]) -> str:
            return "\n".join(p for p in parts if p)

        return {
            "title": self.title,
            "names": folded,
            # Folded names join the top weight, so an exact variant spelling also matches
            # through the full-text index.
            "a": joined([*self.a, folded]),
            "b": joined(self.b),
            "c": joined(self.c),
            "d": joined(self.d),
            "body": joined([self.title, *self.body]),
        }


def label(value: str | None) -> str | None:
    """Words for an enum value: 'coal_mine' reads 'coal mine'."""
    return None if value is None else value.replace("_", " ")


def province_label(value: str | None) -> str | None:
    return None if value is None else PROVINCE_LABELS[Province(value)]


def quotes_of(citations: Sequence[dict[str, Any]]) -> list[str | None]:
    """The quoted words of a presented record's citations (withheld ones are None)."""
    return [citation["quote"] for citation in citations]


@dataclass(frozen=True)
class Shows:
    """Rows of a kind's records that name a record of another kind (`referred`), whose
    views show something of it (a name, a title, a level): `table.column` names the
    referred record, `table.owner` the record it belongs to."""

    referred: str
    table: Any  # a mapped class or a Table
    column: str
    owner: str = "id"


@dataclass(frozen=True)
class Quotes:
    """Where a kind keeps its quotes of sources (`table`, naming their record by `owner`),
    and, when some may be protected, the statement selecting the protected passages of the
    records whose ids it is given as `:{kind}` (source_id, char_start, char_end): every
    record quoting an overlapping passage is shown differently once they change."""

    table: str
    owner: str
    protected_passages: str | None = None


class Figures(Protocol):
    """Figures of a kind's views that count other records (`Indexed.live`), kept beside the
    views and maintained as records are written."""

    def counting(self, session: AsyncSession, every: bool) -> AbstractAsyncContextManager[None]:
        """While rendering: what the figures count read once for all renderings (`every`:
        for every record of the kind)."""

    def changes(self, session: AsyncSession) -> FigureChanges:
        """What the transaction's writes noted for the figures so far (and forget it)."""


class FigureChanges(Protocol):
    async def shown_in(
        self,
        session: AsyncSession,
        rendering: Mapping[str, set[str]],
        written: set[str],
        changed: set[tuple[str, str]],
    ) -> Mapping[str, set[str]]:
        """The records (by kind) whose views show figures of these records, to render too
        (`written`, `changed`: as `refresh` is given them)."""

    async def refresh(
        self,
        session: AsyncSession,
        written: set[str],
        changed: set[tuple[str, str]],
        referring: Referring,
    ) -> None:
        """Bring the figures up to date after the writes of `written` records of the kind
        and the changes of other records' own rows."""


# The records (kind, id) whose rows name these records (by kind).
Referring = Callable[[dict[str, set[str]]], Awaitable[list[tuple[str, str]]]]


@dataclass(frozen=True)
class Indexed:
    """How one kind of record is rendered and searched: loaded as its presenter needs,
    presented to each tier, its text cut from what that tier is shown, its views counted
    by `counted` (see `app.views.counts`); `live` names the figures of its views kept up to
    date apart from them (see `app.views.models`), by `figures`."""

    kind: str
    model: type[EvidenceRecord]
    schema: type[BaseModel]  # what the API serves of it: the columns of its CSV lines
    loads: Sequence[ExecutableOption]
    present: Presenter
    text: Callable[[dict[str, Any], Any], DocumentText]
    counted: Mapping[str, Counted]
    live: tuple[str, ...] = ()
    figures: Figures | None = None
    # The order a rebuild renders them in: records that share what they load (a claim's
    # source, with its protected passages) in one batch, which loads it once.
    order: tuple[Any, ...] = ()
    # The rows whose changes change the record's views, with the attribute naming the
    # record: its own (by `id`) and its parts (a facility's aliases and mentions).
    parts: tuple[tuple[type[Any], str], ...] = ()
    shows: tuple[Shows, ...] = ()
    quotes: Quotes | None = None
    # Records of this kind are what quotes come from: their level is their quotes' level.
    quoted: bool = False


# Every kind rendered, by its plural (see `app.rendering.indexing.declare`).
INDEXED: dict[str, Indexed] = {}


def rendered_kinds() -> list[Indexed]:
    """The declared kinds, in the order they refer to each other: the order of a rebuild."""
    if not INDEXED:
        raise RuntimeError("no kind of record is declared for rendering (import app.kinds)")
    return [INDEXED[plural] for plural in SINGULAR if plural in INDEXED]


def document_rows(
    indexed: Indexed, records: Sequence[EvidenceRecord], rendered: dict[str, list[Rendered]]
) -> list[dict[str, Any]]:
    """The records' documents as rows, one per distinct view of each record, each naming the
    tiers it serves."""
    rows = []
    for row in records:
        views: dict[tuple[Any, ...], dict[str, Any]] = {}
        texts: dict[int, dict[str, Any]] = {}  # by presentation: tiers may share one
        for view in rendered[row.id]:
            key = id(view.presentation)
            if key not in texts:
                texts[key] = indexed.text(view.record, row).row()
            text = texts[key]
            entry = views.setdefault(tuple(text.values()), {**text, "tiers": []})
            entry["tiers"].append(view.tier)
        rows += [
            {
                **text,
                "kind": indexed.kind,
                "record_id": row.id,
                "ref": f"{indexed.kind}/{row.id}",
                "retracted": row.status is RecordStatus.retracted,
                "changed_at": row.updated_at,
            }
            for text in views.values()
        ]
    return rows
