from __future__ import annotations

from app.kit.citing import Citer
from app.organizations.models import Organization as OrganizationRow
from app.organizations.schemas import Organization


def present_organization(organization: OrganizationRow, citer: Citer) -> Organization:
    return Organization(
        id=organization.id,
        name=organization.name,
        aliases=organization.aliases,
        kind=organization.kind,
        description=organization.description,
        created_at=organization.created_at,
        updated_at=organization.updated_at,
        cite_as=citer.cite("organizations", organization.id, f"{organization.name}."),
    )
