"""Idempotency-Key for POST: a retry with the same key and body gets the first answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import delete, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Principal
from app.changes.models import IdempotentRequest
from app.kit.errors import ProblemError

_REPLAYED_HEADERS = ("ETag", "Location")


async def once(
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    request: Request,
    body: BaseModel,
    response: Response,
    run: Callable[[], Awaitable[Any]],
) -> Any:
    if key is None or principal.key_id is None:
        return await run()
    digest = hashlib.sha256(
        json.dumps(
            {
                "method": request.method,
                "path": request.url.path,
                "body": body.model_dump(mode="json"),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    # Concurrent retries of one key wait for each other instead of both writing.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{principal.key_id}:{key}"},
    )
    # Keys are remembered for a while, not for ever: this client's expired ones go first.
    hours = request.app.state.settings.idempotency_hours
    await session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.key_id == principal.key_id,
            IdempotentRequest.created_at < func.now() - timedelta(hours=hours),
        )
    )
    stored = await session.get(IdempotentRequest, (principal.key_id, key))
    if stored is not None:
        if stored.request_sha256 != digest:
            raise ProblemError(
                422,
                "idempotency-key-reused",
                "This Idempotency-Key was used with another request; use a new key.",
            )
        response.status_code = stored.status
        for name, value in stored.headers.items():
            response.headers[name] = value
        response.headers["Idempotent-Replayed"] = "true"
        return stored.body
    result = await run()
    # A write answers with its stored view's JSON text.
    answer = json.loads(bytes(result.body)) if isinstance(result, Response) else result
    session.add(
        IdempotentRequest(
            key_id=principal.key_id,
            idempotency_key=key,
            method=request.method,
            path=request.url.path,
            request_sha256=digest,
            status=response.status_code or 200,
            body=jsonable_encoder(answer),
            headers={h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers},
        )
    )
    return result
