"""Issuing, finding and revoking API keys.

A key reads `tk_<id>_<secret>`: the id finds the record, the secret proves possession. The
secret is 256 random bits, so a plain SHA-256 of it is a safe thing to store.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.scopes import Scope

_KEY = re.compile(r"^tk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    session: AsyncSession, name: str, scopes: Sequence[Scope]
) -> tuple[ApiKey, str]:
    """The new key's record and the key itself, which is not stored and cannot be shown again."""
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    record = ApiKey(
        id=f"key-{key_id}",
        name=name,
        scopes=sorted({scope.value for scope in scopes}),
        secret_sha256=_digest(secret),
    )
    session.add(record)
    await session.flush()
    return record, f"tk_{key_id}_{secret}"


async def find_key(session: AsyncSession, presented: str) -> ApiKey | None:
    """The live key matching `presented`, or None for a malformed, unknown or revoked one."""
    match = _KEY.match(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    record = await session.get(ApiKey, f"key-{key_id}")
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(record.secret_sha256, _digest(secret)):
        return None
    return record


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


async def revoke_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    record = await session.get(ApiKey, key_id)
    if record is not None and record.revoked_at is None:
        record.revoked_at = datetime.now(UTC)
        await session.flush()
    return record
