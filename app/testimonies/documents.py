"""How a testimony is rendered into its stored views and search documents."""

from __future__ import annotations

from typing import Any

from app.rendering.documents import (
    DocumentText,
    Indexed,
    Quotes,
    Shows,
    label,
    province_label,
    quotes_of,
)
from app.testimonies import repository
from app.testimonies.models import Testimony as TestimonyRow
from app.testimonies.models import TestimonyExcerpt, testimony_facilities
from app.testimonies.presenters import present_testimonies
from app.testimonies.schemas import Testimony


def testimony_text(record: dict[str, Any], _row: TestimonyRow) -> DocumentText:
    quotes = quotes_of(record["citations"])
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


# The passages of the given testimonies that are protected: by the excerpt's level or the
# testimony's.
_PROTECTED_PASSAGES = """
    SELECT e.source_id, e.char_start, e.char_end
    FROM testimony_excerpts AS e JOIN testimonies AS t ON t.id = e.testimony_id
    WHERE e.testimony_id = ANY(:testimonies) AND e.char_start IS NOT NULL
      AND (e.protection_level <> 'public' OR t.protection_level <> 'public')
"""

RENDERED = Indexed(
    "testimonies",
    TestimonyRow,
    Testimony,
    repository.RECORDS.loads,
    present_testimonies,
    testimony_text,
    repository.RECORDS.counted,
    parts=((TestimonyRow, "id"), (TestimonyExcerpt, "testimony_id")),
    shows=(
        Shows("sources", TestimonyExcerpt, "source_id", "testimony_id"),
        Shows("sources", TestimonyExcerpt, "relayed_from_id", "testimony_id"),
        Shows("facilities", testimony_facilities, "facility_id", "testimony_id"),
    ),
    quotes=Quotes("testimony_excerpts", "testimony_id", _PROTECTED_PASSAGES),
)
