from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class RecordView(Base):
    """What one access tier is shown of one record, rendered when the record changed.

    A tier that must not learn the record exists has no row. `body` is the record's JSON
    object as the disclosure policy presents it, without its closing brace and without the
    parts that differ per request or change with many other records: `live` holds figures
    kept up to date beside it (a claim's independent sources, a count over its whole group)
    and `cite` the description its `cite_as` is built from (the permalink base and the access
    date are the request's). `disclosed` names the protected records the view shows in full,
    for the audit trail of whoever reads it. `csv` is the view's line of a CSV export with
    the cells of `live` and `cite_as` cut out: the pieces of text around them, which an
    export joins with those cells (`app.kit.tables.csv_segments`); NULL for a view rendered
    before CSV lines were stored (`testimony db upgrade` renders it again). `counted` is what
    the view counts in `view_counts`, as JSON text: `{"retracted": bool, "groups": {facet:
    [[value, ...], ...]}}` (text: only the application reads it, whole); NULL for a view
    rendered before counts were kept (`testimony db upgrade` renders it again). Rows are
    stored whole, uncompressed, up to a page (`toast_tuple_target`, set by the migration that
    added `csv`): reads of bodies do not decompress them.
    """

    __tablename__ = "record_views"

    kind: Mapped[str] = mapped_column(Text, primary_key=True)  # the collection, e.g. "claims"
    record_id: Mapped[str] = mapped_column(Text, primary_key=True)
    tier: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    cite: Mapped[str] = mapped_column(Text)
    live: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    disclosed: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    csv: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    counted: Mapped[str | None] = mapped_column(Text)


# How many records of a kind each tier has a view of, in total (facet "") and per group of
# each facet and grouping, retracted ones apart: the sum of the views' `counted`, kept in the
# transaction that changes them (`app.views.counts`). `key` holds the group's values, NULL
# for an unknown one (arrays compare NULL elements as equal, so the key stays unique).
view_counts = Table(
    "view_counts",
    Base.metadata,
    Column("kind", Text, primary_key=True),
    Column("tier", Text, primary_key=True),
    Column("facet", Text, primary_key=True),
    Column("key", ARRAY(Text), primary_key=True),
    Column("retracted", Boolean, primary_key=True),
    Column("count", Integer, nullable=False),
)
