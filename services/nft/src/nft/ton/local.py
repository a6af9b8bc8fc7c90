"""LocalChain: an emulated TON chain that runs the real contracts, with its state in Postgres.

pytvm's bundled libemulator (the TON node's transaction emulator) executes every message; internal
messages a transaction sends are delivered breadth-first (like @ton/sandbox) in the same call. The
state lives in schema `ton_local` of the service database, so the chain survives restarts and is
shared by every nft process: each send takes a transaction-scoped advisory lock and does
load → emulate → write in one database transaction. It is a stand-in (like the payment fakes), not
a migration-managed part of the service: it creates its own schema and tables.

The blockchain config is @ton/sandbox's mainnet config, so gas and fees match a real network
(notes/ton.md §4). Two pytvm 0.0.14 problems are worked around here: the engine is loaded from its
path (`EmulatorEngineC.default()` needs `pkg_resources`), and three uint64 ctypes signatures that
pytvm declares as 32-bit are fixed.
"""

from __future__ import annotations

import base64
import ctypes
import functools
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytvm
from pytoniq_core import (
    Address,
    Cell,
    MessageAny,
    ShardAccount,
    Slice,
    StateInit,
    Transaction,
)
from pytoniq_core.tlb.account import SimpleAccount
from pytoniq_core.tlb.block import CurrencyCollection
from pytoniq_core.tlb.transaction import InternalMsgInfo
from pytvm.engine import EmulatorEngineC
from pytvm.transaction_emulator import TransactionEmulator
from pytvm.tvm_emulator import TvmEmulator

from nft.ton.provider import ChainUnavailable, GetMethodFailed, MessageRejected

SCHEMA = "ton_local"  # spelled out in the SQL below
CONFIG_PATH = Path(__file__).parent / "config" / "sandbox_default_config.b64"
FAUCET_ADDRESS = Address("0:" + "fa" * 32)
MAX_TRACE = 10_000  # transactions per delivered message (a 250-item batch needs ~760)
_LOCK_KEY = 0x746F6E5F6C6F63  # "ton_loc": serializes every state change of the chain
_LT_STEP = 1_000_000
_EMPTY_SHARD_ACCOUNT_BOC = (
    ShardAccount(account=None, last_trans_hash=b"\x00" * 32, last_trans_lt=0).serialize().to_boc()
)

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

_engine: EmulatorEngineC | None = None
_emulators: dict[str, TransactionEmulator] = {}


def _make_engine() -> EmulatorEngineC:
    global _engine
    if _engine is None:
        path = os.path.join(
            os.path.dirname(pytvm.__file__), "engine", "libemulator-linux-x86_64.so"
        )
        eng = EmulatorEngineC(path)
        lib = eng.lib
        lib.transaction_emulator_set_lt.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        lib.tvm_emulator_set_c7.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint64,
            ctypes.c_char_p, ctypes.c_char_p,
        ]  # fmt: skip
        lib.tvm_emulator_send_internal_message.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64,
        ]  # fmt: skip
        eng.emulator_set_verbosity_level(0)
        _engine = eng
    return _engine


_DB_DOWN = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)
_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


def _db_guard(fn: _F) -> _F:
    """The chain's database unreachable is what a liteserver outage is: ChainUnavailable."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except _DB_DOWN as exc:
            raise ChainUnavailable(f"local chain database unreachable: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def _asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _addr(address: Address | str) -> Address:
    return Address(address) if isinstance(address, str) else address


def _raw(address: Address) -> str:
    return address.to_str(is_user_friendly=False)


def internal_message(
    src: Address,
    dest: Address,
    value: int,
    *,
    body: Cell | None = None,
    init: StateInit | None = None,
    bounce: bool = True,
) -> MessageAny:
    info = InternalMsgInfo(
        ihr_disabled=True, bounce=bounce, bounced=False, src=src, dest=dest,
        value=CurrencyCollection(value, None), ihr_fee=0, fwd_fee=0, created_lt=0, created_at=0,
    )  # fmt: skip
    return MessageAny(info=info, init=init, body=body if body is not None else Cell.empty())


@dataclass
class _PendingTx:
    account: str
    lt: int
    hash: bytes
    in_msg_hash: bytes | None
    boc: bytes
    created_at: int


class LocalChain:
    """The emulated chain; implements `TonProvider`. Make it with `await LocalChain.open(url)`."""

    def __init__(self, pool: asyncpg.Pool, config_b64: str) -> None:
        self._pool = pool
        self._config_b64 = config_b64
        self._config_b64_bytes = config_b64.encode()
        self._engine = _make_engine()
        # Creating an emulator parses the config (~0.1 s): one per config and process. Sharing is
        # safe: set_lt/set_unixtime/emulate run back to back with no await in between.
        if config_b64 not in _emulators:
            _emulators[config_b64] = TransactionEmulator(
                config=config_b64.encode(), engine=self._engine
            )
        self._emulator = _emulators[config_b64]
        self._drop = 0
        self._fail = 0
        self.last_trace: list[Transaction] = []

    @classmethod
    async def open(cls, database_url: str, *, config_b64: str | None = None) -> LocalChain:
        try:
            pool = await asyncpg.create_pool(
                _asyncpg_url(database_url), min_size=1, max_size=4,
                server_settings={"application_name": "nft.ton_local"},
            )  # fmt: skip
        except (OSError, asyncpg.PostgresError) as exc:
            raise ChainUnavailable(f"local chain database unreachable: {exc}") from exc
        async with pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass('ton_local.clock')") is None:
                async with conn.transaction():
                    # CREATE ... IF NOT EXISTS races between processes: serialize the DDL.
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                    await conn.execute(_DDL)
        cfg = config_b64 if config_b64 is not None else CONFIG_PATH.read_text().strip()
        return cls(pool, cfg)

    async def close(self) -> None:
        await self._pool.close()

    # ---------------- clock ----------------
    @_db_guard
    async def now(self) -> int:
        offset = await self._pool.fetchval("SELECT offset_s FROM ton_local.clock WHERE id = 1")
        return int(time.time()) + int(offset)

    @_db_guard
    async def advance_time(self, seconds: int) -> int:
        """Move the chain clock forward (persisted); returns the new chain time."""
        offset = await self._pool.fetchval(
            "UPDATE ton_local.clock SET offset_s = offset_s + $1 WHERE id = 1 RETURNING offset_s",
            int(seconds),
        )
        return int(time.time()) + int(offset)

    # ---------------- fault injection (tests) ----------------
    def drop_next_sends(self, n: int = 1) -> None:
        """The next n `raw_send_message` calls answer 1 but the message is lost."""
        self._drop += n

    def fail_next_sends(self, n: int = 1) -> None:
        """The next n `raw_send_message` calls raise ChainUnavailable."""
        self._fail += n

    # ---------------- state ----------------
    async def _load_shard_account_boc(self, conn: Any, raw_address: str) -> bytes:
        boc = await conn.fetchval(
            "SELECT shard_account FROM ton_local.accounts WHERE address = $1", raw_address
        )
        return bytes(boc) if boc is not None else _EMPTY_SHARD_ACCOUNT_BOC

    async def _load_shard_account(self, conn: Any, raw_address: str) -> Cell:
        return Cell.one_from_boc(await self._load_shard_account_boc(conn, raw_address))

    @_db_guard
    async def shard_account(self, address: Address | str) -> ShardAccount:
        async with self._pool.acquire() as conn:
            cell = await self._load_shard_account(conn, _raw(_addr(address)))
        return ShardAccount.deserialize(cell.begin_parse())

    async def balance(self, address: Address | str) -> int:
        sa = await self.shard_account(address)
        return sa.account.storage.balance.grams if sa.account is not None else 0

    # ---------------- message processing ----------------
    @_db_guard
    async def deliver(self, message: MessageAny, boc: bytes | None = None) -> list[Transaction]:
        """Execute a message (`boc`: its serialized form, if at hand) and every internal message
        it causes, atomically. An external that the account does not accept raises
        MessageRejected and changes nothing. States travel as base64 BOCs between the database
        and the emulator (pytoniq's Python cell codec is the slow part)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            offset, lt = await conn.fetchrow(
                "SELECT offset_s, lt FROM ton_local.clock WHERE id = 1"
            )
            now = int(time.time()) + int(offset)
            states: dict[str, bytes] = {}
            pending: list[_PendingTx] = []
            trace: list[Transaction] = []
            first = boc if boc is not None else message.serialize().to_boc()
            queue: list[tuple[MessageAny, bytes, bytes]] = [
                (message, first, Cell.one_from_boc(first).hash)
            ]
            while queue:
                if len(trace) >= MAX_TRACE:
                    raise RuntimeError("local chain: trace limit exceeded")
                msg, msg_boc, msg_hash = queue.pop(0)
                dest = _raw(msg.info.dest)
                if dest not in states:
                    states[dest] = base64.b64encode(await self._load_shard_account_boc(conn, dest))
                lt += _LT_STEP
                self._emulator.set_lt(lt)
                self._emulator.set_unixtime(now)
                res = self._engine.transaction_emulator_emulate_transaction(
                    self._emulator.emulator, states[dest], base64.b64encode(msg_boc)
                )
                if not res.get("success"):
                    if msg.is_external:
                        raise MessageRejected(
                            f"external message not accepted by {dest}: {res.get('error')}"
                            f" (exit code {res.get('vm_exit_code')})",
                            exit_code=res.get("vm_exit_code"),
                        )
                    raise RuntimeError(f"local chain: emulation failed at {dest}: {res}")
                states[dest] = res["shard_account"].encode()
                tx_boc = base64.b64decode(res["transaction"])
                tx_cell = Cell.one_from_boc(tx_boc)
                tx = Transaction.deserialize(tx_cell.begin_parse())
                tx.cell = tx_cell
                pending.append(_PendingTx(dest, tx.lt, tx_cell.hash, msg_hash, tx_boc, now))
                trace.append(tx)
                for out in tx.out_msgs:
                    if out.is_internal:
                        out_cell = out.serialize()
                        queue.append((out, out_cell.to_boc(), out_cell.hash))
            await self._write(conn, states, pending, lt)
        self.last_trace = trace
        return trace

    async def _write(
        self, conn: Any, states: dict[str, bytes], pending: list[_PendingTx], lt: int
    ) -> None:
        last: dict[str, _PendingTx] = {}
        for p in pending:
            last[p.account] = p
        rows = [(a, base64.b64decode(states[a]), p.lt, p.hash) for a, p in last.items()]
        await conn.executemany(
            "INSERT INTO ton_local.accounts (address, shard_account, last_lt, last_hash)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (address) DO UPDATE SET"
            " shard_account = EXCLUDED.shard_account, last_lt = EXCLUDED.last_lt,"
            " last_hash = EXCLUDED.last_hash",
            rows,
        )
        await conn.executemany(
            "INSERT INTO ton_local.transactions"
            " (account, lt, hash, in_msg_hash, boc, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [(p.account, p.lt, p.hash, p.in_msg_hash, p.boc, p.created_at) for p in pending],
        )
        await conn.execute("UPDATE ton_local.clock SET lt = $1 WHERE id = 1", lt)

    # ---------------- local helpers ----------------
    async def faucet(self, address: Address | str, amount_nano: int) -> list[Transaction]:
        """Top up an account with a non-bounceable internal message from the faucet."""
        return await self.deliver(
            internal_message(FAUCET_ADDRESS, _addr(address), amount_nano, bounce=False)
        )

    @_db_guard
    async def set_balance(self, address: Address | str, nano: int) -> None:
        """Overwrite an existing account's balance (tests: an empty custody wallet)."""
        address = _addr(address)
        raw_address = _raw(address)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            cell = await self._load_shard_account(conn, raw_address)
            sa = ShardAccount.deserialize(cell.begin_parse())
            if sa.account is None:
                raise ValueError(f"account {raw_address} does not exist")
            sa.account.storage.balance = CurrencyCollection(nano, None)
            new = ShardAccount(sa.account, sa.last_trans_hash, sa.last_trans_lt).serialize()
            await conn.execute(
                "UPDATE ton_local.accounts SET shard_account = $2 WHERE address = $1",
                raw_address, new.to_boc(),
            )  # fmt: skip

    async def reset(self) -> None:
        """Forget the whole chain (tests)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute("DELETE FROM ton_local.transactions")
            await conn.execute("DELETE FROM ton_local.accounts")
            await conn.execute("UPDATE ton_local.clock SET offset_s = 0, lt = 1000000 WHERE id = 1")

    # ---------------- TonProvider ----------------
    async def raw_get_account_state(
        self, address: Address | str, block: Any = None
    ) -> tuple[Any, Any]:
        sa = await self.shard_account(address)
        if sa.account is None:
            return None, None
        return sa.account, sa

    async def get_account_state(self, address: Address | str) -> SimpleAccount:
        address = _addr(address)
        account, _ = await self.raw_get_account_state(address)
        return SimpleAccount.from_raw(account, address)

    async def run_get_method(
        self, address: Address | str, method: str | int, stack: list, block: Any = None
    ) -> list:
        address = _addr(address)
        sa = await self.shard_account(address)
        acc = sa.account
        if acc is None or acc.storage.state.type_ != "account_active":
            raise GetMethodFailed(f"account {_raw(address)} is not active", exit_code=-256)
        state_init = acc.storage.state.state_init
        tvm = TvmEmulator(state_init.code, state_init.data, engine=self._engine)
        self._engine.tvm_emulator_set_c7(  # the config's base64 as is: no re-serializing
            tvm.emulator,
            _raw(address).encode(),
            await self.now(),
            acc.storage.balance.grams,
            ("00" * 32).encode(),
            self._config_b64_bytes,
        )
        res = tvm.run_get_method(method, list(stack))
        exit_code = res.get("vm_exit_code", 0)
        if not res.get("success", True) or exit_code not in (0, 1):
            raise GetMethodFailed(f"get method {method!r} failed: exit code {exit_code}", exit_code)
        return res["stack"]

    async def raw_send_message(self, message: bytes) -> int:
        if self._fail:
            self._fail -= 1
            raise ChainUnavailable("local chain: injected send failure")
        msg = MessageAny.deserialize(Slice.one_from_boc(message))
        if self._drop:
            self._drop -= 1
            return 1
        await self.deliver(msg, message)
        return 1

    @_db_guard
    async def get_transactions(
        self,
        address: Address | str,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
        **_: Any,
    ) -> list[Transaction]:
        """Newest first, like a liteserver; `from_lt` starts at that transaction (inclusive)."""
        raw_address = _raw(_addr(address))
        rows = await self._pool.fetch(
            "SELECT boc FROM ton_local.transactions WHERE account = $1"
            " AND ($2::bigint IS NULL OR lt <= $2) ORDER BY lt DESC LIMIT $3",
            raw_address, from_lt, count,
        )  # fmt: skip
        txs = []
        for row in rows:
            cell = Cell.one_from_boc(bytes(row["boc"]))
            tx = Transaction.deserialize(cell.begin_parse())
            tx.cell = cell
            txs.append(tx)
        return txs
