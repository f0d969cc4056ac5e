"""Permalinks and `cite_as` blocks: how to cite a record of this database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

from fastapi import Request
from sqlalchemy import ColumnElement

from app.kit.schemas import CiteAs

DATABASE_NAME = "testimony-api"
# The field of a record that says how to cite it.
CITE_AS = "cite_as"
# Text as Python holds it, or as an SQL expression: a citation is written the same for both.
S = TypeVar("S", str, ColumnElement[str])


def permalink_of(base_url: S, plural: S, record_id: S) -> S:
    return base_url + "/v1/" + plural + "/" + record_id


def citation_text(description: S, plural: S, record_id: S, link: S, accessed: S) -> S:
    """The plain-text citation of a record, `accessed` an ISO 8601 date."""
    lead = description + f" {DATABASE_NAME}, record " + plural + "/" + record_id + ". "
    return lead + link + " (accessed " + accessed + ")."


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
        return permalink_of(self.base_url, plural, record_id)

    def _text(self, plural: str, record_id: str, description: str, link: str) -> str:
        return citation_text(description, plural, record_id, link, self.accessed.isoformat())

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
