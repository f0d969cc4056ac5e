from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.kit.citing import Citer
from app.organizations.models import Organization as OrganizationRow
from app.organizations.schemas import Organization


async def present_organizations(
    session: AsyncSession, organizations: Sequence[OrganizationRow], citer: Citer, viewer: Viewer
) -> list[Organization]:
    return [_present(organization, citer) for organization in organizations]


def _present(organization: OrganizationRow, citer: Citer) -> Organization:
    return Organization(
        id=organization.id,
        name=organization.name,
        aliases=organization.aliases,
        kind=organization.kind,
        description=organization.description,
        created_at=organization.created_at,
        updated_at=organization.updated_at,
        state=organization.state(),
        cite_as=citer.cite("organizations", organization.id, f"{organization.name}."),
    )
