"""The local chain's state in Postgres (schema `ton_local` of the service database): accounts as
serialized ShardAccounts, every transaction's BOC, and a clock (offset and logical time).

asyncpg directly (the emulator needs raw bytes, not an ORM). Every state change holds a
transaction-scoped advisory lock, so the processes sharing the chain apply messages one at a
time. The schema is not migration-managed: the chain creates it on first open, like a stand-in.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

import asyncpg

from nft.ton.provider import ChainUnavailable

SCHEMA = "ton_local"  # spelled out in the SQL below
LOCK_KEY = 0x746F6E5F6C6F63  # "ton_loc": serializes every state change of the chain
INITIAL_LT = 1_000_000

_DDL = """
CREATE SCHEMA IF NOT EXISTS ton_local;
CREATE TABLE IF NOT EXISTS ton_local.accounts (
    address text PRIMARY KEY,
    shard_account bytea NOT NULL,
    last_lt bigint NOT NULL,
    last_hash bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS ton_local.transactions (
    account text NOT NULL,
    lt bigint NOT NULL,
    hash bytea NOT NULL,
    in_msg_hash bytea,
    boc bytea NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (account, lt)
);
CREATE INDEX IF NOT EXISTS transactions_in_msg_hash_idx ON ton_local.transactions (in_msg_hash);
CREATE TABLE IF NOT EXISTS ton_local.clock (
    id int PRIMARY KEY CHECK (id = 1),
    offset_s bigint NOT NULL,
    lt bigint NOT NULL
);
INSERT INTO ton_local.clock (id, offset_s, lt) VALUES (1, 0, 1000000) ON CONFLICT DO NOTHING;
"""

_DB_DOWN = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)
_P = ParamSpec("_P")
_R = TypeVar("_R")

#: (address, shard_account, last_lt, last_hash)
AccountRow = tuple[str, bytes, int, bytes]
#: (account, lt, hash, in_msg_hash, boc, created_at)
TransactionRow = tuple[str, int, bytes, bytes | None, bytes, int]


def db_guard(fn: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
    """The chain's database unreachable is what a liteserver outage is: ChainUnavailable."""

    @functools.wraps(fn)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await fn(*args, **kwargs)
        except _DB_DOWN as exc:
            raise ChainUnavailable(f"local chain database unreachable: {exc}") from exc

    return wrapper


def asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class LocalStore:
    """The chain's tables on a small asyncpg pool. Make it with `await LocalStore.open(url)`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, database_url: str) -> LocalStore:
        try:
            pool = await asyncpg.create_pool(
                asyncpg_url(database_url),
                min_size=1,
                max_size=4,
                server_settings={"application_name": "nft.ton_local"},
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise ChainUnavailable(f"local chain database unreachable: {exc}") from exc
        async with pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass('ton_local.clock')") is None:
                async with conn.transaction():
                    # CREATE ... IF NOT EXISTS races between processes: serialize the DDL.
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
                    await conn.execute(_DDL)
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    # ---------------- clock ----------------
    @db_guard
    async def clock_offset(self) -> int:
        return int(await self._pool.fetchval("SELECT offset_s FROM ton_local.clock WHERE id = 1"))

    @db_guard
    async def advance_clock(self, seconds: int) -> int:
        """Move the chain clock forward (persisted); returns the new offset."""
        offset = await self._pool.fetchval(
            "UPDATE ton_local.clock SET offset_s = offset_s + $1 WHERE id = 1 RETURNING offset_s",
            int(seconds),
        )
        return int(offset)

    # ---------------- reads ----------------
    @db_guard
    async def shard_account(self, raw_address: str) -> bytes | None:
        async with self._pool.acquire() as conn:
            return await self.locked_shard_account(conn, raw_address)

    @db_guard
    async def transactions(self, raw_address: str, from_lt: int | None, count: int) -> list[bytes]:
        """BOCs of the account's transactions, newest first; `from_lt` inclusive."""
        rows = await self._pool.fetch(
            "SELECT boc FROM ton_local.transactions WHERE account = $1"
            " AND ($2::bigint IS NULL OR lt <= $2) ORDER BY lt DESC LIMIT $3",
            raw_address,
            from_lt,
            count,
        )
        return [bytes(row["boc"]) for row in rows]

    # ---------------- state changes (under the chain's lock) ----------------
    @asynccontextmanager
    async def locked(self) -> AsyncIterator[Any]:
        """A connection in a transaction holding the chain's lock: load, emulate, write."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            yield conn

    async def clock(self, conn: Any) -> tuple[int, int]:
        """(offset_s, lt) of the chain clock."""
        offset, lt = await conn.fetchrow("SELECT offset_s, lt FROM ton_local.clock WHERE id = 1")
        return int(offset), int(lt)

    async def locked_shard_account(self, conn: Any, raw_address: str) -> bytes | None:
        boc = await conn.fetchval(
            "SELECT shard_account FROM ton_local.accounts WHERE address = $1", raw_address
        )
        return bytes(boc) if boc is not None else None

    async def write(
        self,
        conn: Any,
        accounts: Sequence[AccountRow],
        transactions: Sequence[TransactionRow],
        lt: int,
    ) -> None:
        """The accounts a trace changed, its transactions, and the clock's logical time."""
        await conn.executemany(
            "INSERT INTO ton_local.accounts (address, shard_account, last_lt, last_hash)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (address) DO UPDATE SET"
            " shard_account = EXCLUDED.shard_account, last_lt = EXCLUDED.last_lt,"
            " last_hash = EXCLUDED.last_hash",
            accounts,
        )
        await conn.executemany(
            "INSERT INTO ton_local.transactions"
            " (account, lt, hash, in_msg_hash, boc, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            transactions,
        )
        await conn.execute("UPDATE ton_local.clock SET lt = $1 WHERE id = 1", lt)

    async def put_shard_account(self, conn: Any, raw_address: str, boc: bytes) -> None:
        await conn.execute(
            "UPDATE ton_local.accounts SET shard_account = $2 WHERE address = $1",
            raw_address,
            boc,
        )

    async def reset(self) -> None:
        """Forget the whole chain (tests)."""
        async with self.locked() as conn:
            await conn.execute("DELETE FROM ton_local.transactions")
            await conn.execute("DELETE FROM ton_local.accounts")
            await conn.execute(
                "UPDATE ton_local.clock SET offset_s = 0, lt = $1 WHERE id = 1", INITIAL_LT
            )
