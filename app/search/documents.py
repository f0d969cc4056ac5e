"""What each access tier is shown of a record, as searchable text.

The rules mirror the presenters': a tier that must not learn a record exists gets no document,
a tier that is shown a record coarsened gets only the text it is shown (no county, no withheld
quote or note), so a search can never match on what its client may not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import selectinload, undefer
from sqlalchemy.sql.base import ExecutableOption

from app.auth.scopes import Principal, Scope
from app.claims.models import Claim
from app.claims.repository import claim_level
from app.db.base import EvidenceRecord
from app.facilities.models import Facility
from app.kit.protection import strictest
from app.kit.provinces import PROVINCE_LABELS, Province
from app.kit.schemas import RecordStatus
from app.organizations.models import Organization
from app.search.folding import folded_names
from app.sources.models import Source
from app.testimonies.models import Testimony, TestimonyExcerpt

# One principal per tier, asked the same questions the presenters ask of a real client.
TIERS: dict[str, Principal] = {
    "public": Principal(None, frozenset(), ""),
    "restricted": Principal(None, frozenset({Scope.read_restricted}), ""),
    "confidential": Principal(None, frozenset({Scope.read_confidential}), ""),
}


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


def label(value: StrEnum | str | None) -> str | None:
    """Words for an enum value: 'coal_mine' reads 'coal mine'."""
    if value is None:
        return None
    if isinstance(value, Province):
        return PROVINCE_LABELS[value]
    return str(value).replace("_", " ")


def _same_for_every_tier(text: DocumentText) -> dict[str, DocumentText | None]:
    return dict.fromkeys(TIERS, text)


def organization_documents(row: Organization) -> dict[str, DocumentText | None]:
    return _same_for_every_tier(
        DocumentText(
            title=row.name,
            names=[row.name, *row.aliases],
            a=[row.name, *row.aliases],
            b=[row.description, label(row.kind)],
            body=[row.description],
        )
    )


def source_documents(row: Source) -> dict[str, DocumentText | None]:
    publisher = row.publisher.name if row.publisher else None
    return _same_for_every_tier(
        DocumentText(
            title=row.title,
            names=list(row.authors),
            a=[row.title],
            b=[*row.authors, publisher, label(row.source_type)],
            c=[row.notes],
            d=[row.archived_text],
            body=[row.archived_text or row.notes],
        )
    )


def facility_documents(row: Facility) -> dict[str, DocumentText | None]:
    aliases = [alias.name for alias in row.aliases]
    quotes = [mention.quote for mention in row.mentions]
    return _same_for_every_tier(
        DocumentText(
            title=row.name,
            names=[row.name, *aliases],
            a=[row.name, *aliases],
            b=[
                row.description,
                label(row.facility_type),
                label(row.province),
                row.county,
                *row.products,
            ],
            c=quotes,
            body=[row.description, *quotes],
        )
    )


def testimony_documents(row: Testimony) -> dict[str, DocumentText | None]:
    documents: dict[str, DocumentText | None] = {}
    for tier, principal in TIERS.items():
        if row.protection_level in principal.hidden_levels:
            documents[tier] = None
            continue
        full = principal.sees_in_full(row.protection_level)
        quotes = [q for q in (_shown_quote(e, row, principal) for e in row.excerpts) if q]
        documents[tier] = DocumentText(
            title=f"Testimony of {row.witness_pseudonym}",
            names=[row.witness_pseudonym],
            a=[row.witness_pseudonym],
            b=[
                row.summary,
                label(row.witness_role),
                *(label(t) for t in row.labour_types),
                label(row.province),
                row.county if full else None,
            ],
            c=quotes,
            body=[row.summary, *quotes],
        )
    return documents


def _shown_quote(excerpt: TestimonyExcerpt, row: Testimony, principal: Principal) -> str | None:
    level = strictest(excerpt.protection_level, row.protection_level)
    if level in principal.hidden_levels or not principal.sees_in_full(level):
        return None
    return excerpt.quote


def claim_documents(row: Claim) -> dict[str, DocumentText | None]:
    level = claim_level(row)
    views: dict[bool, DocumentText] = {}  # tiers that see the claim alike share one text

    def view(full: bool) -> DocumentText:
        quote = row.quote if full else None
        return DocumentText(
            title=row.statement,
            a=[row.statement],
            b=[label(row.metric), label(row.unit), label(row.stance)],
            c=[quote, row.notes if full else None],
            body=[quote],
        )

    documents: dict[str, DocumentText | None] = {}
    for tier, principal in TIERS.items():
        if level in principal.hidden_levels:
            documents[tier] = None
            continue
        full = principal.sees_in_full(level)
        documents[tier] = views[full] if full in views else views.setdefault(full, view(full))
    return documents


@dataclass(frozen=True)
class Indexed:
    """How one kind of record is turned into documents."""

    kind: str
    model: type[EvidenceRecord]
    loads: Sequence[ExecutableOption]
    documents: Callable[[Any], dict[str, DocumentText | None]]


INDEXED: dict[str, Indexed] = {
    indexed.kind: indexed
    for indexed in (
        Indexed("organizations", Organization, (), organization_documents),
        Indexed(
            "sources",
            Source,
            (selectinload(Source.publisher), undefer(Source.archived_text)),
            source_documents,
        ),
        Indexed(
            "facilities",
            Facility,
            (selectinload(Facility.aliases), selectinload(Facility.mentions)),
            facility_documents,
        ),
        Indexed("testimonies", Testimony, (selectinload(Testimony.excerpts),), testimony_documents),
        Indexed(
            "claims",
            Claim,
            (selectinload(Claim.about_testimony), selectinload(Claim.claimant_testimony)),
            claim_documents,
        ),
    )
}


def document_rows(indexed: Indexed, record: EvidenceRecord) -> list[dict[str, Any]]:
    """The record's documents as rows, one per distinct view, each naming the tiers it
    serves."""
    by_text: dict[tuple[Any, ...], dict[str, Any]] = {}
    rows: dict[int, dict[str, Any]] = {}  # one text shared by several tiers is made once
    for tier, text in indexed.documents(record).items():
        if text is None:
            continue
        row = rows[id(text)] if id(text) in rows else rows.setdefault(id(text), text.row())
        entry = by_text.setdefault(tuple(row.values()), {**row, "tiers": []})
        entry["tiers"].append(tier)
    return [
        {
            **row,
            "kind": indexed.kind,
            "record_id": record.id,
            "ref": f"{indexed.kind}/{record.id}",
            "retracted": record.status is RecordStatus.retracted,
        }
        for row in by_text.values()
    ]
