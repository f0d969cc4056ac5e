"""Permalinks and `cite_as` blocks: how to cite a record of this database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from fastapi import Request
from sqlalchemy import ColumnElement, Text, literal

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

    def _text(self, plural: str, record_id: str, description: str, link: str) -> str:
        return (
            f"{description} {DATABASE_NAME}, record {plural}/{record_id}. {link} "
            f"(accessed {self.accessed.isoformat()})."
        )

    # The same permalink and text as SQL, for queries that put whole lines together (exports).

    def permalink_sql(
        self, plural: ColumnElement[str], record_id: ColumnElement[str]
    ) -> ColumnElement[str]:
        return literal(f"{self.base_url}/v1/", Text) + plural + "/" + record_id

    def text_sql(
        self,
        plural: ColumnElement[str],
        record_id: ColumnElement[str],
        description: ColumnElement[str],
    ) -> ColumnElement[str]:
        return (
            description
            + f" {DATABASE_NAME}, record "
            + plural
            + "/"
            + record_id
            + ". "
            + self.permalink_sql(plural, record_id)
            + f" (accessed {self.accessed.isoformat()})."
        )

    def cite(self, plural: str, record_id: str, description: str) -> CiteAs:
        link = self.permalink(plural, record_id)
        text = self._text(plural, record_id, description, link)
        return CiteAs(permalink=link, text=text, accessed=self.accessed)

    def cite_json(self, plural: str, record_id: str, description: str) -> str:
        """`cite(...)` as the JSON its model serialises to, without building the model."""
        link = self.permalink(plural, record_id)
        text = self._text(plural, record_id, description, link)
        accessed = self.accessed.isoformat()
        return f'{{"permalink":{_string(link)},"text":{_string(text)},"accessed":"{accessed}"}}'


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
