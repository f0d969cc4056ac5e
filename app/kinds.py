"""Every kind of record, each declared once in its own package (table, schemas, view rules,
filters and sorts, what it rests on and what its views show), listed in the order they refer
to each other.

Importing this module declares them to the core, which receives kinds and never imports one:
the write path and the import look them up by name (their routes declare them), and the
rendering of views and search documents by `RENDERED`.
"""

from fastapi import APIRouter

from app.claims import documents as claims_rendered
from app.claims.router import router as claims
from app.facilities import documents as facilities_rendered
from app.facilities.router import router as facilities
from app.organizations import documents as organizations_rendered
from app.organizations.router import router as organizations
from app.rendering import indexing
from app.rendering.documents import Indexed
from app.sources import documents as sources_rendered
from app.sources.router import router as sources
from app.testimonies import documents as testimonies_rendered
from app.testimonies.router import router as testimonies

ROUTERS: tuple[APIRouter, ...] = (organizations, sources, facilities, testimonies, claims)
RENDERED: tuple[Indexed, ...] = (
    organizations_rendered.RENDERED,
    sources_rendered.RENDERED,
    facilities_rendered.RENDERED,
    testimonies_rendered.RENDERED,
    claims_rendered.RENDERED,
)
indexing.declare(*RENDERED)
