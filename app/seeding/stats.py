"""Coverage of the seed corpus: how many records of each type, and what each document yields."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from app.seeding.loader import SeedData


@dataclass
class DocumentCoverage:
    source_id: str
    title: str
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class Coverage:
    totals: dict[str, int]
    documents: list[DocumentCoverage]

    def lines(self) -> list[str]:
        lines = ["records:"]
        lines += [f"  {kind}: {count}" for kind, count in self.totals.items()]
        lines.append("per archived document:")
        for document in self.documents:
            counts = ", ".join(
                f"{document.counts[kind]} {kind}"
                for kind in ("claims", "testimonies", "excerpts", "facilities", "cited sources")
            )
            lines.append(f"  {document.source_id}: {counts}")
        return lines


def coverage(data: SeedData) -> Coverage:
    totals = {
        "organizations": len(data.organizations),
        "sources": len(data.sources),
        "archived documents": sum(1 for s in data.sources if s.archived_text is not None),
        "facilities": len(data.facilities),
        "testimonies": len(data.testimonies),
        "excerpts": sum(len(t.excerpts) for t in data.testimonies),
        "claims": len(data.claims),
    }
    documents = {
        s.id: DocumentCoverage(s.id, s.title) for s in data.sources if s.archived_text is not None
    }
    for source in data.sources:
        if source.id in documents:
            documents[source.id].counts["cited sources"] = len(source.relays)
    for claim in data.claims:
        if claim.source in documents:
            documents[claim.source].counts["claims"] += 1
    for testimony in data.testimonies:
        quoted_in = {e.source for e in testimony.excerpts}
        for source_id in quoted_in & documents.keys():
            documents[source_id].counts["testimonies"] += 1
        for excerpt in testimony.excerpts:
            if excerpt.source in documents:
                documents[excerpt.source].counts["excerpts"] += 1
    for facility in data.facilities:
        for source_id in {m.source for m in facility.mentions} & documents.keys():
            documents[source_id].counts["facilities"] += 1
    return Coverage(totals, sorted(documents.values(), key=lambda d: d.source_id))
