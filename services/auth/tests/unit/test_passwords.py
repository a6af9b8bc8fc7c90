"""argon2id with the OWASP parameters, off the event loop; rehash detection."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import asyncio
import threading

from argon2 import PasswordHasher, Type
from auth.passwords import PasswordHashing
from auth.settings import AuthSettings


def _hashing() -> PasswordHashing:
    return PasswordHashing.from_settings(AuthSettings(environment="test"))


async def test_owasp_argon2id_parameters() -> None:
    hashed = await _hashing().hash("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_verify() -> None:
    hashing = _hashing()
    hashed = await hashing.hash("correct horse battery")
    assert await hashing.verify(hashed, "correct horse battery")
    assert not await hashing.verify(hashed, "wrong horse battery")
    assert not await hashing.verify("not a hash", "correct horse battery")


async def test_runs_in_a_worker_thread() -> None:
    hashing = _hashing()
    seen: list[str] = []
    original = hashing.hash_sync

    def spy(password: str) -> str:
        seen.append(threading.current_thread().name)
        return original(password)

    hashing.hash_sync = spy  # type: ignore[method-assign]
    await hashing.hash("correct horse battery")
    assert seen and seen[0] != threading.main_thread().name


async def test_event_loop_stays_responsive_while_hashing() -> None:
    hashing = _hashing()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(hashing.hash("correct horse battery") for _ in range(4)))
    task.cancel()
    assert ticks > 0


def test_needs_rehash_when_parameters_change() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID).hash(
        "pw-abcdefghij"
    )
    hashing = _hashing()
    assert hashing.needs_rehash(weak)
    assert not hashing.needs_rehash(hashing.hash_sync("pw-abcdefghij"))
    assert hashing.needs_rehash("garbage")


async def test_dummy_verify_spends_the_same_work() -> None:
    hashing = _hashing()
    await hashing.warm_up()
    await hashing.dummy_verify("whatever-password")  # no error, no result
