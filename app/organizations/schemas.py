from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.kit.pagination import Page
from app.kit.params import SearchableQuery, facet_field
from app.kit.schemas import CiteAs, NonEmptyText, RecordIn, RecordState, ShortText


class OrganizationKind(StrEnum):
    state_media = "state_media"
    state_agency = "state_agency"
    news_outlet = "news_outlet"
    ngo = "ngo"
    government = "government"
    company = "company"
    criminal_group = "criminal_group"
    other = "other"


class OrganizationCreate(RecordIn):
    name: ShortText
    aliases: list[ShortText] = Field(default_factory=list)
    kind: OrganizationKind
    description: NonEmptyText | None = None


class Organization(BaseModel):
    id: str
    name: str
    aliases: list[str]
    kind: OrganizationKind
    description: str | None
    created_at: datetime
    updated_at: datetime
    state: RecordState
    cite_as: CiteAs


class OrganizationPage(Page[Organization]):
    pass


class OrganizationSort(StrEnum):
    """Sort orders; a leading "-" sorts descending. The id breaks ties."""

    name_asc = "name"
    name_desc = "-name"
    id_asc = "id"
    id_desc = "-id"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class OrganizationFacet(StrEnum):
    """Fields organizations can be counted by."""

    kind = "kind"


class OrganizationQuery(SearchableQuery):
    sort: OrganizationSort = Field(default=OrganizationSort.name_asc, description="Sort order.")
    kind: list[OrganizationKind] = Field(default_factory=list)
    facet: list[OrganizationFacet] = facet_field()
