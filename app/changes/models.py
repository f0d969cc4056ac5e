from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, text_enum
from app.kit.schemas import RecordStatus

# The writing transaction's id: the change feed orders by it and shows a change only once
# every transaction that started before it has ended, so no later commit can slip in behind.
CURRENT_TRANSACTION = "(pg_current_xact_id()::text)::bigint"


class Revision(Base):
    """One write of one record: what it did, who did it, why, and the record afterwards."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(120))
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="RESTRICT"))
    # api, command or seed (see app.changes.revisions.Writer); plain text keeps the models
    # free of the write path's imports.
    written_by: Mapped[str] = mapped_column(String(10), server_default="api")
    reason: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[RecordStatus] = mapped_column(text_enum(RecordStatus, "status"))
    transaction_id: Mapped[int] = mapped_column(
        BigInteger, server_default=text(CURRENT_TRANSACTION)
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index(
            "uq_revisions_record_type_record_id_revision",
            "record_type",
            "record_id",
            "revision",
            unique=True,
        ),
        Index("ix_revisions_transaction_id_id", "transaction_id", "id"),
        CheckConstraint("written_by IN ('api', 'command', 'seed')", name="written_by_known"),
    )


class IdempotentRequest(Base):
    """The first answer to a POST with an Idempotency-Key, replayed for its retries."""

    __tablename__ = "idempotent_requests"

    key_id: Mapped[str] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSONB)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
