"""A source as a reference-manager entry: CSL-JSON, BibTeX, RIS and a formatted text line.

CSL-JSON is the pivot: the text line is rendered from it by citeproc-py, BibTeX by pybtex and
RIS by rispy, so each format is written by a library that knows its rules.

A document without a title of its own (`title_supplied`: the title is a description supplied
for it), or whose title is withheld, is not given a title in any format. Each gets the
description where that format expects a description of an untitled work:

* CSL-JSON: no `title`; the description in `genre`, the variable CSL styles print in place of
  a missing title (APA in square brackets, Chicago as is).
* BibTeX: no `title`; the description in `note`, in square brackets.
* RIS: no `TI`; the description in `N1` (notes), in square brackets.
* Text: the description in square brackets where the title would stand, not quoted.
"""

from __future__ import annotations

import json
from typing import Any

import rispy
from citeproc import Citation as CslCitation
from citeproc import CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from pybtex.database import BibliographyData, Entry

from app.sources.schemas import CitationFormat, Source, SourceType

MEDIA_TYPES = {
    CitationFormat.csl_json: "application/vnd.citationstyles.csl+json",
    CitationFormat.bibtex: "application/x-bibtex",
    CitationFormat.ris: "application/x-research-info-systems",
    CitationFormat.text: "text/plain",
}
# The OpenAPI schema of a CSL-JSON item, as far as every item is sure to have it.
CSL_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "title": {
            "type": "string",
            "description": "Absent when the document has no title of its own, or its title is "
            "withheld: `genre` describes it instead.",
        },
        "genre": {"type": "string"},
    },
}
_CSL_TYPES = {
    SourceType.news_report: "article-newspaper",
    SourceType.state_media_report: "article-newspaper",
    SourceType.defector_account: "article-newspaper",
    SourceType.ngo_report: "report",
    SourceType.government_report: "report",
    SourceType.social_media_post: "post",
    SourceType.other: "document",
}
# Types printed in a periodical or on a platform name it as the container; others as publisher.
_CONTAINED = {"article-newspaper", "post"}
_BIBTEX_TYPES = {"article-newspaper": "article", "report": "techreport"}
_RIS_TYPES = {"article-newspaper": "NEWS", "report": "RPRT", "post": "ELEC"}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_TEXT_STYLE = "harvard-cite-them-right"


def _date_parts(value: str) -> dict[str, Any]:
    """An ISO date of reduced precision ("2021", "2021-05", "2021-05-04") as CSL date parts."""
    return {"date-parts": [[int(part) for part in value.split("-")]]}


def csl_item(source: Source) -> dict[str, Any]:
    """The source as this client is shown it (the presenter's output): a coarsened source is
    cited without what it withholds."""
    item: dict[str, Any] = {"id": source.id, "type": _CSL_TYPES[source.source_type]}
    description = _description(source)
    if description is None:
        item["title"] = source.title
    else:
        item["genre"] = description
    publisher = source.publisher.name if source.publisher else None
    if publisher:
        item["container-title" if item["type"] in _CONTAINED else "publisher"] = publisher
    authors = source.authors or ([publisher] if publisher else [])
    if authors:
        item["author"] = [{"literal": name} for name in authors]
    if source.published is not None:
        item["issued"] = _date_parts(source.published)
    if source.url:
        item["URL"] = source.url
    if source.accessed_on:
        item["accessed"] = _date_parts(source.accessed_on.isoformat())
    item["language"] = source.language
    return item


def _description(source: Source) -> str | None:
    """What stands for the title of a source that has none, or whose title is withheld; None
    when the source has a title of its own to show."""
    if source.title is None:
        return "title withheld"
    if source.title_supplied:
        return source.title
    return None


def _bracketed(item: dict[str, Any]) -> str | None:
    """The description of an untitled item, as a supplied description is written: in square
    brackets."""
    return f"[{item['genre']}]" if "title" not in item and "genre" in item else None


def _bibtex(item: dict[str, Any]) -> str:
    entry_type = _BIBTEX_TYPES.get(item["type"], "misc")
    fields: dict[str, str] = {"title": item["title"]} if "title" in item else {}
    publisher = item.get("container-title") or item.get("publisher")
    if publisher:
        fields[{"article": "journal", "techreport": "institution"}.get(entry_type, "publisher")] = (
            publisher
        )
    if "issued" in item:
        parts = item["issued"]["date-parts"][0]
        fields["year"] = str(parts[0])
        if len(parts) > 1:
            fields["month"] = _MONTHS[parts[1] - 1]
    if "URL" in item:
        fields["url"] = item["URL"]
    # A corporate author is one name: braces stop BibTeX splitting it into first and last.
    authors = " and ".join("{" + a["literal"] + "}" for a in item.get("author", []))
    if authors:
        fields["author"] = authors
    description = _bracketed(item)
    if description is not None:
        fields["note"] = description
    entry = Entry(entry_type, fields=fields)
    return str(BibliographyData({item["id"]: entry}).to_string("bibtex"))


class _RisWriter(rispy.RisWriter):  # type: ignore[misc]
    def set_header(self, count: int) -> str:
        return ""  # no "1." line before each record: RIS readers expect TY first


def _ris_date(parts: list[int]) -> str:
    return "/".join(f"{p:02d}" if i else str(p) for i, p in enumerate(parts))


def _ris(item: dict[str, Any]) -> str:
    record: dict[str, Any] = {
        "type_of_reference": _RIS_TYPES.get(item["type"], "GEN"),
        "id": item["id"],
    }
    if "title" in item:
        record["title"] = item["title"]
    if "author" in item:
        record["authors"] = [a["literal"] for a in item["author"]]
    if "container-title" in item:
        record["secondary_title"] = item["container-title"]
    if "publisher" in item:
        record["publisher"] = item["publisher"]
    if "issued" in item:
        parts = item["issued"]["date-parts"][0]
        record["year"] = str(parts[0])
        record["date"] = _ris_date(parts)
    if "URL" in item:
        record["urls"] = [item["URL"]]
    if "accessed" in item:
        record["access_date"] = _ris_date(item["accessed"]["date-parts"][0])
    record["language"] = item["language"]
    description = _bracketed(item)
    if description is not None:
        record["notes"] = [description]
    return str(rispy.dumps([record], implementation=_RisWriter))


# Stands for a description while the style renders the line, then is replaced by it: the
# style would quote (or italicise) it as a title, and it is not one.
_PLACEHOLDER = "Xsuppliedtitleplaceholderx"


def _text(item: dict[str, Any]) -> str:
    description = _bracketed(item)
    if description is not None:
        item = {k: v for k, v in item.items() if k != "genre"} | {"title": _PLACEHOLDER}
    style = CitationStylesStyle(_TEXT_STYLE, validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON([item]), formatter.plain)
    bibliography.register(CslCitation([CitationItem(item["id"])]))
    line = "".join(str(entry) for entry in bibliography.bibliography())
    if description is not None:
        for quoted in (f"\u201c{_PLACEHOLDER}\u201d", f'"{_PLACEHOLDER}"', _PLACEHOLDER):
            line = line.replace(quoted, description)
    return line + "\n"


def render(source: Source, citation_format: CitationFormat) -> str:
    item = csl_item(source)
    if citation_format is CitationFormat.bibtex:
        return _bibtex(item)
    if citation_format is CitationFormat.ris:
        return _ris(item)
    if citation_format is CitationFormat.text:
        return _text(item)
    return json.dumps([item], ensure_ascii=False, indent=2) + "\n"


def negotiate(accept: str | None) -> CitationFormat:
    """The format an Accept header asks for; CSL-JSON when it names none of them."""
    for part in (accept or "").split(","):
        media_type = part.split(";")[0].strip().lower()
        for citation_format, known in MEDIA_TYPES.items():
            if media_type == known:
                return citation_format
    return CitationFormat.csl_json
