"""Request-scoped helpers shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.kit.citing import Citer
from app.kit.pagination import Cursors


# Coroutines, though they await nothing: FastAPI runs a plain function dependency in a
# worker thread, a hand-off that costs more than the function.
async def get_cursors(request: Request) -> Cursors:
    cursors: Cursors = request.app.state.cursors
    return cursors


async def get_citer(request: Request) -> Citer:
    return Citer.for_request(request)


CursorsDep = Annotated[Cursors, Depends(get_cursors)]
CiterDep = Annotated[Citer, Depends(get_citer)]
