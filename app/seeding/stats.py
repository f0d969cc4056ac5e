"""Coverage of the seed corpus: how many records of each type, what each document yields, and
which numbers in each document no claim covers.

The numbers of a document are found by a deliberately simple rule, so that what it reports is
easy to check by eye:

* a run of digits, with thousands separators and a decimal part (`50,000`, `95.4`, `2019`)
  and an ordinal suffix (`4th`), that is not part of a word or an address: not joined to a
  letter (`Covid19`), to a letter by a hyphen (`COVID-19`), or to a slash or a dot (`/4344/`);
* a cardinal number word, whole and in any case: `one` to `nineteen`, the tens (`twenty` to
  `ninety`, also as in `twenty-three`), `hundred`, `thousand`, `million`, `billion` and
  `dozen`, singular or plural (`hundreds`). Ordinal words (`first`, `second grade`) are left
  out: they are mostly not quantities.

Text in the source's excluded spans (injected links, page furniture) is not read. A number is
covered when it lies within the quote of a claim taken from that document, or within a date
that the source records hold: the document's own publication date, or that of a source it
relays, written out as in `May 21, 2024`, `21 May 2024` or `May 2024`. Every other number is
reported with its offset and context, for a reader to judge: a date no record holds, a name,
or a fact no claim records yet.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.kit.partial_dates import DatePrecision, PartialDate
from app.seeding.loader import SeedData
from app.sources.spans import Span, overlapping, spans_of

_UNITS = [
    *("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen"),
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ["hundred", "thousand", "million", "billion", "dozen"]
_WORD = (
    rf"(?:{'|'.join(_TENS)})(?:-(?:{'|'.join(_UNITS[:9])}))?"
    rf"|(?:{'|'.join(_SCALES)})s?"
    rf"|(?:{'|'.join(_UNITS)})"
)
NUMBER = re.compile(
    r"(?<![\w/.])(?<![A-Za-z]-)\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?(?![\w/]|\.\d)"
    rf"|\b(?:{_WORD})\b",
    re.IGNORECASE,
)
CONTEXT = 40  # characters shown on either side of an uncovered number


@dataclass(frozen=True)
class Number:
    start: int
    end: int
    text: str
    context: str


def numbers_in(text: str, excluded: tuple[tuple[int, int], ...] = ()) -> list[Number]:
    """The numbers of `text` by the rule above, outside the `excluded` spans."""
    found = []
    for match in NUMBER.finditer(text):
        start, end = match.span()
        if overlapping(excluded, start, end) is not None:
            continue
        before = text[max(0, start - CONTEXT) : start]
        after = text[end : end + CONTEXT]
        context = " ".join(f"{before}[{match.group()}]{after}".split())
        found.append(Number(start, end, match.group(), context))
    return found


def date_spans(text: str, dates: Iterable[PartialDate]) -> list[Span]:
    """Where `text` writes out one of `dates` (of day or month precision)."""
    phrases = set()
    for date in dates:
        if date.precision not in (DatePrecision.day, DatePrecision.month):
            continue
        day, month = date.first_day, calendar.month_name[date.first_day.month]
        if date.precision is DatePrecision.day:
            phrases |= {f"{month} {day.day}, {day.year}", f"{day.day} {month} {day.year}"}
        else:
            phrases.add(f"{month} {day.year}")
    return [
        match.span() for phrase in sorted(phrases) for match in re.finditer(re.escape(phrase), text)
    ]


@dataclass
class DocumentCoverage:
    source_id: str
    title: str
    counts: Counter[str] = field(default_factory=Counter)
    numbers: int = 0
    in_claims: int = 0
    in_dates: int = 0
    uncovered: list[Number] = field(default_factory=list)


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
        lines.append("numbers in each text, and those no claim or source date covers:")
        for document in self.documents:
            lines.append(
                f"  {document.source_id}: {document.numbers} numbers, {document.in_claims} "
                f"in claims' quotes, {document.in_dates} in dates the source records give, "
                f"{len(document.uncovered)} not covered"
            )
            lines += [
                f"    {n.text!r} at {n.start}-{n.end}: {n.context}" for n in document.uncovered
            ]
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
    published = {s.id: s.published for s in data.sources if s.published is not None}
    for source in data.sources:
        if source.archived_text is None:
            continue
        quoted = [
            (claim.locator.char_start, claim.locator.char_end)
            for claim in data.claims
            if claim.source == source.id and claim.locator is not None
        ]
        dated = [published[i] for i in (source.id, *source.relays) if i in published]
        dates = date_spans(source.archived_text, dated)
        document = documents[source.id]
        for number in numbers_in(source.archived_text, spans_of(source.excluded_spans)):
            document.numbers += 1
            if _within(number, quoted):
                document.in_claims += 1
            elif _within(number, dates):
                document.in_dates += 1
            else:
                document.uncovered.append(number)
    return Coverage(totals, sorted(documents.values(), key=lambda d: d.source_id))


def _within(number: Number, spans: Iterable[Span]) -> bool:
    return any(start <= number.start and number.end <= end for start, end in spans)
