"""What each access tier is shown of a record, as searchable text.

A document is cut from the record exactly as the disclosure policy presents it to a client of
the tier (the presenters): a tier that must not learn a record exists gets no document, a tier
shown a record coarsened gets only the text it is shown (no county, no withheld quote, note,
claimant or source), so a search can never match on what its client may not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import undefer
from sqlalchemy.sql.base import ExecutableOption

from app.claims import repository as claims
from app.claims.figures import LIVE_FIGURE
from app.claims.models import Claim as ClaimRow
from app.claims.presenters import present_claims
from app.claims.schemas import Claim as ClaimOut
from app.db.base import EvidenceRecord
from app.facilities import repository as facilities
from app.facilities.models import Facility as FacilityRow
from app.facilities.presenters import present_facilities
from app.facilities.schemas import Facility as FacilityOut
from app.kit.facets import Counted
from app.kit.provinces import PROVINCE_LABELS, Province
from app.kit.schemas import RecordStatus
from app.organizations import repository as organizations
from app.organizations.models import Organization as OrganizationRow
from app.organizations.presenters import present_organizations
from app.organizations.schemas import Organization as OrganizationOut
from app.search_index.folding import folded_names
from app.sources import repository as sources
from app.sources.models import Source as SourceRow
from app.sources.presenters import present_sources
from app.sources.schemas import Source as SourceOut
from app.sources.spans import spans_of, without_spans
from app.testimonies import repository as testimonies
from app.testimonies.models import Testimony as TestimonyRow
from app.testimonies.presenters import present_testimonies
from app.testimonies.schemas import Testimony as TestimonyOut
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


# Each text is cut from a record as its presenter gives it (as its schema serialises).


def organization_text(record: dict[str, Any], _row: OrganizationRow) -> DocumentText:
    return DocumentText(
        title=record["name"],
        names=[record["name"], *record["aliases"]],
        a=[record["name"], *record["aliases"]],
        b=[record["description"], label(record["kind"])],
        body=[record["description"]],
    )


def source_text(record: dict[str, Any], row: SourceRow) -> DocumentText:
    if record["title"] is None:
        title = f"[{label(record['source_type'])}]"
    else:
        title = f"[{record['title']}]" if record["title_supplied"] else record["title"]
    # The archived copy is searchable by whoever may read it, without the spans that are not
    # part of the document (links injected into the copy): they are neither matched nor cut
    # into snippets.
    archived = None
    if not record["disclosure"]["coarsened"] and row.archived_text is not None:
        archived = without_spans(row.archived_text, spans_of(row.excluded_spans))
    publisher = record["publisher"]
    return DocumentText(
        title=title,
        names=list(record["authors"]),
        a=[record["title"]],
        b=[
            *record["authors"],
            publisher["name"] if publisher else None,
            label(record["source_type"]),
        ],
        c=[record["notes"]],
        d=[archived],
        body=[archived or record["notes"]],
    )


def _quotes(citations: Sequence[dict[str, Any]]) -> list[str | None]:
    return [citation["quote"] for citation in citations]


def facility_text(record: dict[str, Any], _row: FacilityRow) -> DocumentText:
    aliases = [alias["name"] for alias in record["aliases"]]
    quotes = _quotes(record["citations"])
    return DocumentText(
        title=record["name"],
        names=[record["name"], *aliases],
        a=[record["name"], *aliases],
        b=[
            record["description"],
            label(record["facility_type"]),
            province_label(record["province"]),
            record["county"],
            *record["products"],
        ],
        c=quotes,
        body=[record["description"], *quotes],
    )


def testimony_text(record: dict[str, Any], _row: TestimonyRow) -> DocumentText:
    quotes = _quotes(record["citations"])
    witness = record["witness"]
    pseudonym = witness["pseudonym"]
    return DocumentText(
        title=f"Testimony of {pseudonym}",
        names=[pseudonym],
        a=[pseudonym],
        b=[
            record["summary"],
            label(witness["role"]),
            *(label(t) for t in record["labour_types"]),
            province_label(record["province"]),
            record["county"],
        ],
        c=quotes,
        body=[record["summary"], *quotes],
    )


def claim_text(record: dict[str, Any], _row: ClaimRow) -> DocumentText:
    quotes = _quotes(record["citations"])
    return DocumentText(
        title=record["statement"],
        a=[record["statement"]],
        b=[label(record["metric"]), label(record["unit"]), label(record["stance"])],
        c=[*quotes, record["notes"]],
        body=quotes,
    )


@dataclass(frozen=True)
class Indexed:
    """How one kind of record is rendered and searched: loaded as its presenter needs,
    presented to each tier, its text cut from what that tier is shown, its views counted
    by `counted` (see `app.views.counts`); `live` names the figures of its views kept up to
    date apart from them (see `app.views.models`)."""

    kind: str
    model: type[EvidenceRecord]
    schema: type[BaseModel]  # what the API serves of it: the columns of its CSV lines
    loads: Sequence[ExecutableOption]
    present: Presenter
    text: Callable[[dict[str, Any], Any], DocumentText]
    counted: Mapping[str, Counted]
    live: tuple[str, ...] = ()
    # The order a rebuild renders them in: records that share what they load (a claim's
    # source, with its protected passages) in one batch, which loads it once.
    order: tuple[Any, ...] = ()


INDEXED: dict[str, Indexed] = {
    indexed.kind: indexed
    for indexed in (
        Indexed(
            "organizations",
            OrganizationRow,
            OrganizationOut,
            organizations.RECORDS.loads,
            present_organizations,
            organization_text,
            organizations.RECORDS.counted,
        ),
        Indexed(
            "sources",
            SourceRow,
            SourceOut,
            (*sources.RECORDS.loads, undefer(SourceRow.archived_text)),
            present_sources,
            source_text,
            sources.RECORDS.counted,
        ),
        Indexed(
            "facilities",
            FacilityRow,
            FacilityOut,
            facilities.RECORDS.loads,
            present_facilities,
            facility_text,
            facilities.RECORDS.counted,
        ),
        Indexed(
            "testimonies",
            TestimonyRow,
            TestimonyOut,
            testimonies.RECORDS.loads,
            present_testimonies,
            testimony_text,
            testimonies.RECORDS.counted,
        ),
        Indexed(
            "claims",
            ClaimRow,
            ClaimOut,
            claims.RECORDS.loads,
            present_claims,
            claim_text,
            claims.RECORDS.counted,
            live=(LIVE_FIGURE,),
            order=(ClaimRow.source_id,),
        ),
    )
}


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
