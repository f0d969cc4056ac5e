"""How a source is rendered into its stored views and search documents."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import undefer

from app.rendering.documents import DocumentText, Indexed, Shows, label
from app.sources import repository
from app.sources.models import Source as SourceRow
from app.sources.models import SourceRelay
from app.sources.presenters import present_sources
from app.sources.schemas import Source
from app.sources.spans import spans_of, without_spans


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


RENDERED = Indexed(
    "sources",
    SourceRow,
    Source,
    (*repository.RECORDS.loads, undefer(SourceRow.archived_text)),
    present_sources,
    source_text,
    repository.RECORDS.counted,
    parts=((SourceRow, "id"),),
    shows=(
        Shows("organizations", SourceRow, "publisher_id"),
        # A relay shows the source it relays, and is shown by it.
        Shows("sources", SourceRelay, "relayed_source_id", "relaying_source_id"),
        Shows("sources", SourceRelay, "relaying_source_id", "relayed_source_id"),
    ),
    quoted=True,
)
