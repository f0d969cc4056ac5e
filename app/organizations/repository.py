"""Every query of the organizations domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import not_found
from app.kit.listing import any_of, list_page
from app.kit.pagination import Cursors, SortKey, Window, parse_datetime, parse_text
from app.kit.schemas import is_slug
from app.organizations.models import Organization
from app.organizations.schemas import OrganizationCreate, OrganizationQuery

SORT_KEYS = {
    "name": SortKey(Organization.name, parse_text),
    "id": SortKey(Organization.id, parse_text),
    "updated_at": SortKey(Organization.updated_at, parse_datetime),
}


async def list_organizations(
    session: AsyncSession, query: OrganizationQuery, cursors: Cursors
) -> Window[Organization]:
    statement = select(Organization)
    kind = any_of(Organization.kind, query.kind)
    if kind is not None:
        statement = statement.where(kind)
    return await list_page(
        session,
        statement,
        id_column=Organization.id,
        updated_at=Organization.updated_at,
        sort_keys=SORT_KEYS,
        sort=query.sort.value,
        query=query,
        cursors=cursors,
    )


async def get_organization(session: AsyncSession, organization_id: str) -> Organization:
    if not is_slug(organization_id):  # cannot exist; spares the database odd input
        raise not_found("organization", organization_id)
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise not_found("organization", organization_id)
    return organization


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
