"""Protection levels, and how restricted records are coarsened for clients without
read:restricted.

Dates keep only their year, ages become ten-year bands, birth years decades, counties are
dropped and verbatim quotes withheld. The record says what was withheld, so a client knows
what it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, Field, JsonValue

# OpenAPI mark on fields that are coarsened or withheld for clients without read:restricted.
RESTRICTED: dict[str, JsonValue] = {"x-sensitivity": "restricted"}


class ProtectionLevel(StrEnum):
    public = "public"
    restricted = "restricted"
    confidential = "confidential"


_ORDER = [ProtectionLevel.public, ProtectionLevel.restricted, ProtectionLevel.confidential]


class SourceTextAccess(StrEnum):
    """Who is served the full archived copy of a third-party text (SOURCE_TEXT_ACCESS): every
    client shown the source in full (`public`), only clients with an API key (`keys`), or only
    keys with read:restricted (`restricted`). Quotes are served with their records whatever it
    is: the copy is kept to verify them, not to republish the text."""

    public = "public"
    keys = "keys"
    restricted = "restricted"


class Disclosure(BaseModel):
    """The protection level a record is served at, and what this client was not shown."""

    level: ProtectionLevel
    coarsened: bool = Field(description="True when fields were generalised or withheld.")
    withheld: list[str] = Field(
        description="Fields generalised or left out for this client, e.g. `county`, "
        "`citations.quote`."
    )


def strictest(*levels: ProtectionLevel | None) -> ProtectionLevel:
    known = [level for level in levels if level is not None]
    return max(known, key=_ORDER.index, default=ProtectionLevel.public)


def year_only(period: Mapping[str, str | None]) -> dict[str, str | None]:
    """A period (as its `PeriodOut` serialises) of years only."""
    return {bound: value[:4] if value else None for bound, value in period.items()}


def is_finer_than_year(period: Mapping[str, str | None]) -> bool:
    return any(value is not None and len(value) > 4 for value in period.values())


def age_band(age: int | None) -> str | None:
    if age is None:
        return None
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def decade(year: int | None) -> str | None:
    return None if year is None else f"{year // 10 * 10}s"


def small_cell(count: int | str | None, threshold: int, exact: bool) -> int | str | None:
    """A count of testimonies as a client may see it: below `threshold` (and above zero) it
    reads '<threshold' unless the client may see restricted data, so that narrowing filters
    cannot single out a witness."""
    if exact or not isinstance(count, int) or count == 0 or count >= threshold:
        return count
    return f"<{threshold}"
