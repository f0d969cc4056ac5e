from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.kit.pagination import Page, PageInfo
from app.kit.params import DEFAULT_LIMIT, MAX_LIMIT, SEARCH_WORDS
from app.search.query import RANKED


class ResultType(StrEnum):
    organization = "organization"
    source = "source"
    facility = "facility"
    testimony = "testimony"
    claim = "claim"


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str = Field(
        min_length=1,
        max_length=200,
        pattern=SEARCH_WORDS,
        description='Search words, in web-search syntax: `"a phrase"`, `or`, `-excluded`. '
        "Names also match across romanisations (Kaech'ŏn, Kaechon, Gaecheon) and small typos.",
        examples=["Kaech'ŏn", '"coal mine" -china'],
    )
    type: list[ResultType] = Field(
        default_factory=list, description="Only these types of record (repeatable)."
    )
    include_retracted: bool = Field(default=False, description="Also find retracted records.")
    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size, 1 to 200."
    )
    cursor: str | None = Field(
        default=None, description="Opaque cursor from `page.next_cursor`, for the same search."
    )

    def fingerprint_fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"cursor", "limit"})


class SearchResult(BaseModel):
    type: ResultType
    id: str
    title: str = Field(
        description="The record's name, title or statement; for a testimony, whose it is."
    )
    snippet: str = Field(
        description="Where the words occur, HTML-escaped, with matches in `<mark>` elements. "
        "Cut only from text this client is shown."
    )
    score: float = Field(
        description="Relevance: full-text rank plus similarity of the closest name. Of the "
        f"{RANKED:,} most recently changed matches, results come best first; matches beyond "
        "them follow, most recently changed first."
    )
    url: str = Field(description="The record's permalink in this API.")


class SearchPageInfo(PageInfo):
    total: int | str | None = Field(
        default=None,
        description=f"How many records match, on every page: exactly when at most {RANKED:,} "
        f"do (all of them are then ranked), else the text '>{RANKED}'.",
    )


class SearchPage(Page[SearchResult]):
    page: SearchPageInfo
