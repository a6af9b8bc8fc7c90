"""The worker's housekeeping purges expired refresh tokens and finished login-failure windows."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import httpx
from _auth_helpers import fresh_ip
from auth.main import purge_expired
from auth.models import make_outbox
from auth.settings import AuthSettings
from scifikpi_common.db import UnitOfWork, create_sessionmaker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_purge(
    client: httpx.AsyncClient, register, engine: AsyncEngine, auth_settings: AuthSettings
) -> None:
    await register()
    await register()
    await client.post(
        "/auth/login",
        json={"email": "x@example.com", "password": "nope"},
        headers={"X-Forwarded-For": fresh_ip()},
    )
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE auth.refresh_tokens SET expires_at = now() - interval '2 days' "
                "WHERE id = (SELECT id FROM auth.refresh_tokens ORDER BY created_at LIMIT 1)"
            )
        )
        await conn.execute(
            text("UPDATE auth.login_failures SET window_start = now() - interval '1 day'")
        )
    async with UnitOfWork(create_sessionmaker(engine), make_outbox()) as uow:
        assert await purge_expired(uow, auth_settings) == (1, 2)
        await uow.commit()
    async with engine.connect() as conn:
        assert (
            await conn.execute(text("SELECT count(*) FROM auth.refresh_tokens"))
        ).scalar_one() == 1
        assert (
            await conn.execute(text("SELECT count(*) FROM auth.login_failures"))
        ).scalar_one() == 0
