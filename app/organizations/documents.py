"""How an organization is rendered into its stored views and search documents."""

from __future__ import annotations

from typing import Any

from app.organizations import repository
from app.organizations.models import Organization as OrganizationRow
from app.organizations.presenters import present_organizations
from app.organizations.schemas import Organization
from app.rendering.documents import DocumentText, Indexed, label


def organization_text(record: dict[str, Any], _row: OrganizationRow) -> DocumentText:
    return DocumentText(
        title=record["name"],
        names=[record["name"], *record["aliases"]],
        a=[record["name"], *record["aliases"]],
        b=[record["description"], label(record["kind"])],
        body=[record["description"]],
    )


RENDERED = Indexed(
    "organizations",
    OrganizationRow,
    Organization,
    repository.RECORDS.loads,
    present_organizations,
    organization_text,
    repository.RECORDS.counted,
    parts=((OrganizationRow, "id"),),
)
