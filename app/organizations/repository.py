"""Every query of the organizations domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Principal
from app.kit.facets import Facet
from app.kit.pagination import Cursors, SortKey, Window, parse_datetime, parse_text
from app.organizations.models import Organization
from app.organizations.schemas import OrganizationCreate, OrganizationQuery
from app.reading.listing import Records, any_of

SORT_KEYS = {
    "name": SortKey(Organization.name, parse_text),
    "id": SortKey(Organization.id, parse_text),
    "updated_at": SortKey(Organization.updated_at, parse_datetime),
}


RECORDS = Records(
    Organization,
    "organization",
    SORT_KEYS,
    facets={"kind": Facet(Organization.kind, always_known=True)},
)


async def list_organizations(
    session: AsyncSession, query: OrganizationQuery, cursors: Cursors, principal: Principal
) -> Window[Any]:
    return await RECORDS.page(
        session, organization_conditions, query, query.sort, cursors, principal
    )


def organization_conditions(
    query: OrganizationQuery, _principal: Principal
) -> list[ColumnElement[bool] | None]:
    return [any_of(Organization.kind, query.kind)]


async def get_organization(
    session: AsyncSession, organization_id: str, principal: Principal, *, fresh: bool = False
) -> Organization:
    return await RECORDS.get(session, organization_id, fresh=fresh)


def organization_input(row: Organization) -> OrganizationCreate:
    return OrganizationCreate(
        id=row.id,
        name=row.name,
        aliases=row.aliases,
        kind=row.kind,
        description=row.description,
    )


def save_organization(
    session: AsyncSession, data: OrganizationCreate, row: Organization | None
) -> Organization:
    row = row or Organization(id=data.id)
    row.name, row.aliases, row.kind = data.name, data.aliases, data.kind
    row.description = data.description
    session.add(row)
    return row


async def write_organization(
    session: AsyncSession, data: OrganizationCreate, row: Organization
) -> Organization:
    return save_organization(session, data, row)
