"""Permalinks and `cite_as` blocks: how to cite a record of this database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from fastapi import Request

from app.kit.schemas import CiteAs

DATABASE_NAME = "testimony-api"


@dataclass
class Citer:
    """Builds permalinks against the public base URL, or the URL the request came in on."""

    base_url: str
    accessed: date

    @classmethod
    def for_request(cls, request: Request) -> Citer:
        configured = request.app.state.settings.public_base_url
        base = configured or str(request.base_url)
        return cls(base.rstrip("/"), datetime.now(UTC).date())

    def permalink(self, plural: str, record_id: str) -> str:
        return f"{self.base_url}/v1/{plural}/{record_id}"

    def cite(self, plural: str, record_id: str, description: str) -> CiteAs:
        link = self.permalink(plural, record_id)
        text = (
            f"{description} {DATABASE_NAME}, record {plural}/{record_id}. {link} "
            f"(accessed {self.accessed.isoformat()})."
        )
        return CiteAs(permalink=link, text=text, accessed=self.accessed)
