"""argon2id password hashing, off the event loop and bounded in concurrency.

Hashing costs ~19 MiB and tens of milliseconds of CPU by design; it runs in a small dedicated
thread pool (argon2-cffi releases the GIL), so the event loop keeps serving and a login burst
queues for the pool instead of exhausting memory.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from auth.settings import AuthSettings

T = TypeVar("T")


class PasswordHashing:
    def __init__(
        self, *, memory_kib: int, time_cost: int, parallelism: int, max_concurrency: int
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # At most `max_concurrency` hashes at once (each holds `memory_kib` of RAM).
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="argon2")
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> PasswordHashing:
        return cls(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            max_concurrency=settings.argon2_max_concurrency,
        )

    def close(self) -> None:
        """Release the worker threads (at application shutdown)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _off_loop(self, func: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def hash(self, password: str) -> str:
        return await self._off_loop(self.hash_sync, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._off_loop(self.verify_sync, password_hash, password)

    async def dummy_verify(self, password: str) -> None:
        """Spend the same work as a real check, so an unknown email is not faster to answer."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(24))
        await self.verify(self._dummy_hash, password)

    async def warm_up(self) -> None:
        """Compute the dummy hash at startup rather than on the first unknown-email login."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(24))
