"""How a facility is rendered into its stored views and search documents."""

from __future__ import annotations

from typing import Any

from app.facilities import repository
from app.facilities.models import Facility as FacilityRow
from app.facilities.models import FacilityAlias, FacilityMention
from app.facilities.presenters import present_facilities
from app.facilities.schemas import Facility
from app.rendering.documents import (
    DocumentText,
    Indexed,
    Quotes,
    Shows,
    label,
    province_label,
    quotes_of,
)


def facility_text(record: dict[str, Any], _row: FacilityRow) -> DocumentText:
    aliases = [alias["name"] for alias in record["aliases"]]
    quotes = quotes_of(record["citations"])
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


RENDERED = Indexed(
    "facilities",
    FacilityRow,
    Facility,
    repository.RECORDS.loads,
    present_facilities,
    facility_text,
    repository.RECORDS.counted,
    live=(repository.LIVE_FIGURE,),
    parts=((FacilityRow, "id"), (FacilityAlias, "facility_id"), (FacilityMention, "facility_id")),
    shows=(
        Shows("organizations", FacilityRow, "operator_id"),
        Shows("sources", FacilityMention, "source_id", "facility_id"),
        Shows("sources", FacilityMention, "relayed_from_id", "facility_id"),
    ),
    quotes=Quotes("facility_mentions", "facility_id"),
)
