from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.kit.pagination import Page
from app.kit.params import FilterValue, IsoDate, SearchableQuery, facet_field
from app.kit.partial_dates import DatePrecision, PartialDateField
from app.kit.protection import RESTRICTED, Disclosure, ProtectionLevel
from app.kit.schemas import (
    CiteAs,
    Locator,
    NonEmptyText,
    RecordIn,
    RecordRef,
    RecordState,
    RecordStatus,
    Reference,
    ShortText,
    Slug,
    StrictModel,
)

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
LanguageTag = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35),
    Field(description="BCP 47 language tag.", examples=["en", "ko"]),
]


class SourceType(StrEnum):
    news_report = "news_report"
    ngo_report = "ngo_report"
    state_media_report = "state_media_report"
    government_report = "government_report"
    defector_account = "defector_account"
    social_media_post = "social_media_post"
    other = "other"


class ExcludedSpan(StrictModel):
    """A span of the archived text that is not part of the document: links injected into the
    copy, page furniture, boilerplate. Offsets count code points, end exclusive, like quote
    locators; no quote may be taken from it, and search leaves it out."""

    char_start: int = Field(ge=0, description="Offset of the span's first character.")
    char_end: int = Field(gt=0, description="Offset just past the span's last character.")
    reason: ShortText = Field(
        description="Why it is not part of the document.", examples=["injected spam links"]
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.char_end <= self.char_start:
            raise ValueError("char_end must be greater than char_start")
        return self


class SourceCreate(RecordIn):
    title: ShortText = Field(
        description="The document's own title; where it has none, a description of it with "
        "`title_supplied` true. A title given wholly in square brackets is read as supplied: "
        "it is stored without the brackets and `title_supplied` is set."
    )
    title_supplied: bool = Field(
        default=False,
        description="True when the document has no title and `title` is a description "
        "supplied for it (a reference manager gets it as a description, not as a title).",
    )
    publisher: Slug | None = Field(default=None, description="Organization that published it.")
    authors: list[ShortText] = Field(default_factory=list)
    source_type: SourceType
    published: PartialDateField | None = Field(
        default=None, description="Publication date as precisely as it is known; null if unknown."
    )
    url: AnyHttpUrl | None = Field(default=None, description="The document's own canonical URL.")
    language: LanguageTag = "en"
    accessed_on: date | None = None
    archived_text: str | None = Field(
        default=None, description="Full text of the archived copy; quote locators point into it."
    )
    archive_sha256: Sha256 | None = Field(
        default=None, description="SHA-256 of the archived copy's UTF-8 bytes."
    )
    excluded_spans: list[ExcludedSpan] = Field(
        default_factory=list,
        description="Spans of `archived_text` that are not part of the document (injected "
        "links, boilerplate), each with its reason; inside the text, not overlapping. The text "
        "itself is kept as archived.",
    )
    relays: list[Slug] = Field(
        default_factory=list,
        description="Sources whose statements this source reports (a BBC article quoting KCNA "
        "relays the KCNA report).",
    )
    notes: NonEmptyText | None = None
    protection_level: ProtectionLevel = Field(
        default=ProtectionLevel.public,
        description="public for published material; confidential for what must not be known "
        "to exist outside cleared readers (an NGO's own interview transcript); restricted for "
        "material whose bibliographic details identify (see the README's access section).",
    )
    protection_reason: NonEmptyText | None = Field(
        default=None,
        max_length=2000,
        description="Why the source is protected; required above public.",
        json_schema_extra=RESTRICTED,
    )

    def references(self) -> list[Reference]:
        links = [("publisher", "organizations", self.publisher)]
        links += [(f"relays.{i}", "sources", r) for i, r in enumerate(self.relays)]
        return [(name, kind, target) for name, kind, target in links if target]

    @field_validator("relays")
    @classmethod
    def _relays_as_set(cls, relays: list[str]) -> list[str]:
        return sorted(set(relays))

    @field_validator("excluded_spans")
    @classmethod
    def _spans_in_order(cls, spans: list[ExcludedSpan]) -> list[ExcludedSpan]:
        spans = sorted(spans, key=lambda span: (span.char_start, span.char_end))
        for before, after in pairwise(spans):
            if after.char_start < before.char_end:
                raise ValueError(
                    f"the spans {before.char_start}-{before.char_end} and "
                    f"{after.char_start}-{after.char_end} overlap"
                )
        return spans

    @model_validator(mode="after")
    def _supplied_title(self) -> Self:
        title = self.title
        if len(title) > 2 and title.startswith("[") and title.endswith("]"):
            inner = title[1:-1].strip()
            if inner:
                self.title, self.title_supplied = inner, True
        return self

    @model_validator(mode="after")
    def _archive_consistent(self) -> Self:
        if self.excluded_spans:
            if self.archived_text is None:
                raise ValueError("excluded_spans need an archived_text to lie in")
            length = len(self.archived_text)
            outside = [s for s in self.excluded_spans if s.char_end > length]
            if outside:
                raise ValueError(
                    f"the span {outside[0].char_start}-{outside[0].char_end} ends past the "
                    f"archived text ({length} characters)"
                )
        if self.archived_text is not None:
            digest = hashlib.sha256(self.archived_text.encode("utf-8")).hexdigest()
            if self.archive_sha256 is None:
                self.archive_sha256 = digest
            elif self.archive_sha256 != digest:
                raise ValueError("archive_sha256 does not match archived_text")
        if self.id in self.relays:
            raise ValueError("a source cannot relay itself")
        if self.protection_level is not ProtectionLevel.public and not self.protection_reason:
            raise ValueError("a protected source needs a protection_reason")
        return self


class SourceRef(BaseModel):
    """The bibliographic core of a source, as a citation shows it; a protected source's
    title, URL and exact date are withheld from clients not cleared for it."""

    id: str
    title: str | None = Field(description="Null when withheld.")
    title_supplied: bool | None = Field(
        default=False,
        description="True when the document has no title and `title` describes it (cite it "
        "as a description, e.g. in square brackets); null when the title is withheld.",
    )
    publisher: RecordRef | None
    published: str | None = Field(description="ISO 8601 date of reduced precision, or null.")
    url: str | None


class Speaker(StrEnum):
    """Whose words a testimony's excerpt is: the witness's own (`witness`), or the reporter's
    narration about the witness (`narrator`: "Ms Kim was just 16 when she started work")."""

    witness = "witness"
    narrator = "narrator"


class Citation(BaseModel):
    """Where a record's evidence was published, in the source's exact words."""

    source: SourceRef | None = Field(
        description="Null when the source is withheld from this client: a quote from an "
        "unpublished interview, published as a coarsened claim."
    )
    quote: str | None = Field(
        description="The words exactly as the source prints them; null when withheld from "
        "this client (see the record's `disclosure`).",
        json_schema_extra=RESTRICTED,
    )
    locator: Locator | None = Field(json_schema_extra=RESTRICTED)
    status: RecordStatus = Field(
        default=RecordStatus.active,
        description="`unsupported` when the quote's source has been retracted.",
    )
    status_reason: str | None = None
    speaker: Speaker | None = Field(
        default=None,
        description="For a testimony's excerpt: `witness` when the quote is the witness's own "
        "words, `narrator` when it is the reporter's narration about the witness. Null for "
        "other citations.",
    )
    relay_chain: list[SourceRef] = Field(
        description="When the quote reports another source's statement: that source, then the "
        "sources it in turn reports, to the origin (for a KCNA statement quoted by the BBC, "
        "the KCNA report). Empty when the quote is the publisher's own words."
    )


class Source(BaseModel):
    """A protected source is served by its level: hidden without read:confidential when
    confidential; without read:restricted a restricted one keeps only its type, publisher,
    language and year (see `disclosure`), and its archived text is not served."""

    model_config = ConfigDict(json_schema_extra={"x-sensitivity": "protection_level"})

    id: str
    title: str | None = Field(description="Null when withheld.", json_schema_extra=RESTRICTED)
    title_supplied: bool | None = Field(
        description="True when the document has no title and `title` is a description "
        "supplied for it; null when the title is withheld."
    )
    publisher: RecordRef | None
    authors: list[str] = Field(json_schema_extra=RESTRICTED)
    source_type: SourceType
    published: str | None
    published_precision: DatePrecision
    url: str | None
    language: str
    accessed_on: date | None
    archive_sha256: str | None
    excluded_spans: list[ExcludedSpan] = Field(
        description="Spans of the archived text (`GET /v1/sources/{id}/text`) that are not part "
        "of the document, such as injected links; empty when none, and when the text is "
        "withheld.",
        json_schema_extra=RESTRICTED,
    )
    relays: list[SourceRef] = Field(description="Sources whose statements this source reports.")
    relayed_by: list[SourceRef] = Field(description="Sources that report this source.")
    notes: str | None = Field(json_schema_extra=RESTRICTED)
    protection_level: ProtectionLevel
    protection_reason: str | None = Field(json_schema_extra=RESTRICTED)
    disclosure: Disclosure
    created_at: datetime
    updated_at: datetime
    state: RecordState
    cite_as: CiteAs


class SourcePage(Page[Source]):
    pass


class CitationFormat(StrEnum):
    csl_json = "csl-json"
    bibtex = "bibtex"
    ris = "ris"
    text = "text"


class SourceSort(StrEnum):
    """Sort orders; a leading "-" sorts descending. The id breaks ties."""

    published_on_asc = "published_on"
    published_on_desc = "-published_on"
    title_asc = "title"
    title_desc = "-title"
    id_asc = "id"
    id_desc = "-id"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class SourceFacet(StrEnum):
    """Fields sources can be counted by; `published_year` is the first year the publication
    date may denote."""

    source_type = "source_type"
    language = "language"
    publisher = "publisher"
    published_year = "published_year"


class SourceQuery(SearchableQuery):
    sort: SourceSort = Field(default=SourceSort.published_on_desc, description="Sort order.")
    publisher: list[FilterValue] = Field(
        default_factory=list, description="Publisher organization id."
    )
    source_type: list[SourceType] = Field(default_factory=list)
    language: list[FilterValue] = Field(default_factory=list)
    published_from: IsoDate | None = Field(
        default=None,
        description="Published on or after; a partial date matches when any day it may denote "
        "does (2021-05 matches published_from=2021-05-15).",
    )
    published_to: IsoDate | None = Field(default=None, description="Published on or before.")
    relays: list[FilterValue] = Field(
        default_factory=list, description="Only sources that relay (report) the given source."
    )
    facet: list[SourceFacet] = facet_field()
