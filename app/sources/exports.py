"""Sources as a citation set for reference managers (CSL-JSON, BibTeX, RIS), besides the CSV
and NDJSON every list offers. Each entry is the one `GET /v1/sources/{id}/citation` renders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from app.exports.exporter import (
    EXPORT_FORMATS,
    FORMAT_PARAMETER,
    ExportFormat,
    ExportWriter,
    JsonArrayWriter,
    choose_format,
)
from app.sources.citation_formats import CSL_ITEM_SCHEMA, MEDIA_TYPES, csl_item, render
from app.sources.schemas import CitationFormat, Source
from app.views.serving import StoredView


class SourceListFormat(StrEnum):
    """How the list of sources answers: `json`, one page in the list envelope; `csv`,
    `ndjson` or `xlsx`, every matching source; `csl-json`, `bibtex` or `ris`, every matching
    source as a citation for a reference manager."""

    json = "json"
    csv = "csv"
    ndjson = "ndjson"
    xlsx = "xlsx"
    csl_json = "csl-json"
    bibtex = "bibtex"
    ris = "ris"


def _sources(records: Sequence[StoredView[Any]]) -> Iterable[Source]:
    """The sources as the policy presented them to this client."""
    for record in records:
        source = record.model
        assert isinstance(source, Source)
        yield source


class CslJsonWriter(JsonArrayWriter):
    """One CSL-JSON array of every source."""

    def items(self, records: Sequence[StoredView[Any]]) -> Iterable[Any]:
        return (csl_item(source) for source in _sources(records))


class CitationWriter(ExportWriter):
    """Entries one after another, a blank line between them (BibTeX, RIS)."""

    def __init__(self, citation_format: CitationFormat) -> None:
        self.citation_format = citation_format
        self._empty = True

    def write(self, records: Sequence[StoredView[Any]]) -> str:
        parts = []
        for source in _sources(records):
            parts.append(("" if self._empty else "\n") + render(source, self.citation_format))
            self._empty = False
        return "".join(parts)


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


SOURCE_FORMATS: dict[str, ExportFormat] = EXPORT_FORMATS | {
    "csl-json": ExportFormat(
        label="CSL-JSON",
        suffix="csl.json",
        media_type=MEDIA_TYPES[CitationFormat.csl_json],
        extension="json",
        writer=lambda _model: CslJsonWriter(),
        schema={
            "type": "array",
            "description": "Every matching source as a CSL-JSON item, in one array.",
            "items": CSL_ITEM_SCHEMA,
        },
    ),
    "bibtex": ExportFormat(
        label="BibTeX",
        media_type=MEDIA_TYPES[CitationFormat.bibtex],
        extension="bib",
        writer=lambda _model: CitationWriter(CitationFormat.bibtex),
        schema=_text("Every matching source as a BibTeX entry keyed by its id."),
    ),
    "ris": ExportFormat(
        label="RIS",
        media_type=MEDIA_TYPES[CitationFormat.ris],
        extension="ris",
        writer=lambda _model: CitationWriter(CitationFormat.ris),
        schema=_text("Every matching source as a RIS record, `TY` to `ER`."),
    ),
}


async def source_list_format(
    request: Request,
    response: Response,
    format: Annotated[SourceListFormat | None, FORMAT_PARAMETER] = None,
) -> SourceListFormat:
    return SourceListFormat(choose_format(request, response, format, SOURCE_FORMATS))


SourceListFormatDep = Annotated[SourceListFormat, Depends(source_list_format)]
