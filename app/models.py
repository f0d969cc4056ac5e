"""Every mapped model, imported in one place so the metadata is complete (Alembic, tests).

Above every package that declares a model: the declarative base knows none of them.
"""

from app.audit.models import AuditEvent
from app.auth.models import ApiKey
from app.changes.models import IdempotentRequest, Revision
from app.claims.models import Claim
from app.db.base import Base
from app.facilities.models import Facility, FacilityAlias, FacilityMention
from app.organizations.models import Organization
from app.search.models import SearchDocument
from app.sources.models import Source, SourceRelay
from app.testimonies.models import Testimony, TestimonyExcerpt, testimony_facilities
from app.views.models import RecordView

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Claim",
    "Facility",
    "FacilityAlias",
    "FacilityMention",
    "IdempotentRequest",
    "Organization",
    "RecordView",
    "Revision",
    "SearchDocument",
    "Source",
    "SourceRelay",
    "Testimony",
    "TestimonyExcerpt",
    "testimony_facilities",
]
