from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.organizations.models import Organization as OrganizationRow
from app.views.rendering import Presented


async def present_organizations(
    session: AsyncSession, organizations: Sequence[OrganizationRow], viewer: Viewer
) -> list[Presented]:
    """Each as its `Organization` serialises (see `app.views.rendering`)."""
    return [_present(organization) for organization in organizations]


def _present(organization: OrganizationRow) -> Presented:
    data = {
        "id": organization.id,
        "name": organization.name,
        "aliases": organization.aliases,
        "kind": organization.kind.value,
        "description": organization.description,
        "created_at": organization.created_at,
        "updated_at": organization.updated_at,
        "state": organization.state(),
    }
    return Presented(data, f"{organization.name}.")
