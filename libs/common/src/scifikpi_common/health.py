"""Liveness and readiness.

`/healthz` answers while the process runs; `/readyz` answers 200 only when every dependency
check passes (database reachable, broker reachable), 503 with the failing checks otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ReadinessCheck = Callable[[], Awaitable[None]]


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def broker_check(bootstrap_servers: str, timeout_s: float = 2.0) -> ReadinessCheck:
    """The broker is reachable if any bootstrap server accepts a TCP connection."""

    async def check() -> None:
        errors = []
        for server in bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(host or "localhost", int(port)), timeout_s
                )
            except (OSError, TimeoutError, ValueError) as exc:
                errors.append(f"{server}: {exc!r}")
                continue
            writer.close()
            return
        raise ConnectionError("; ".join(errors))

    return check


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: database and broker reachable",
        responses={503: {"description": "not ready"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, ReadinessCheck] = getattr(request.app.state, "readiness_checks", {})
        results = await asyncio.gather(
            *(asyncio.wait_for(check(), 3.0) for check in checks.values()), return_exceptions=True
        )
        report = {
            name: ("ok" if res is None else f"failed: {type(res).__name__}")
            for name, res in zip(checks, results, strict=True)
        }
        ready = all(res is None for res in results)
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": report},
            status_code=200 if ready else 503,
        )

    return router
