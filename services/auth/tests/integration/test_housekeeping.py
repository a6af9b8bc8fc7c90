"""Housekeeping (`auth-worker`) purges expired refresh tokens and finished login-failure windows:
the use case (`handlers.purge_expired`) and the process loop around it (`processes`)."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import asyncio

import httpx
from _auth_helpers import fresh_ip
from auth.handlers import purge_expired
from auth.processes import housekeeping_until_stopped, purge_once
from auth.settings import AuthSettings
from scifikpi_common.db import UnitOfWorkFactory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def _expire_one_token_and_every_window(
    client: httpx.AsyncClient, register, engine: AsyncEngine
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


async def _counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        tokens = (await conn.execute(text("SELECT count(*) FROM auth.refresh_tokens"))).scalar_one()
        windows = (
            await conn.execute(text("SELECT count(*) FROM auth.login_failures"))
        ).scalar_one()
    return tokens, windows


async def test_purge(
    client: httpx.AsyncClient,
    register,
    engine: AsyncEngine,
    factory: UnitOfWorkFactory,
    settings: AuthSettings,
) -> None:
    await _expire_one_token_and_every_window(client, register, engine)
    async with factory() as uow:
        assert await purge_expired(uow, settings) == (1, 2)
        await uow.commit()
    assert await _counts(engine) == (1, 0)


async def test_a_pass_commits_and_the_loop_stops_when_asked(
    client: httpx.AsyncClient,
    register,
    engine: AsyncEngine,
    factory: UnitOfWorkFactory,
    settings: AuthSettings,
) -> None:
    await _expire_one_token_and_every_window(client, register, engine)
    assert await purge_once(factory, settings) == (1, 2)
    assert await _counts(engine) == (1, 0)
    assert await purge_once(factory, settings) == (0, 0)

    stop = asyncio.Event()
    loop = asyncio.create_task(housekeeping_until_stopped(factory, stop, settings, interval_s=60))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(loop, 5)
