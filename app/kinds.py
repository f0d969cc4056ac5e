"""Every kind of record, each declared once in its own package (table, schemas, view rules,
filters and sorts, what it rests on), listed in the order they refer to each other.

Importing this module declares them to the core, which receives kinds and never imports one:
the write path, the import and the rendering of views look them up by name.
"""

from fastapi import APIRouter

from app.claims.router import router as claims
from app.facilities.router import router as facilities
from app.organizations.router import router as organizations
from app.sources.router import router as sources
from app.testimonies.router import router as testimonies

ROUTERS: tuple[APIRouter, ...] = (organizations, sources, facilities, testimonies, claims)
