"""The chain engine (`nft-scheduler`): the one process that signs and sends for the custody
wallet, settles what it sent, and drives timed-out purchases to a final state.

One engine is active at a time (a session advisory lock; replicas wait as hot standbys), because
mint indices must be used in order and one signer keeps HLv3 query ids simple. It wakes on
`NOTIFY nft_chain` (a purchase reserved, a transfer requested) and polls while messages are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Gauge
from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.logging import get_logger
from sqlalchemy import text

from nft import minting, purchases, sending, transferring, wallets
from nft.models import SCHEMA, make_outbox
from nft.settings import NftSettings, TonNetwork
from nft.ton.custody import Custody, bootstrap_local
from nft.ton.provider import ChainUnavailable, TonProvider, open_provider

log = get_logger(__name__)

CHANNEL = "nft_chain"
SWEEP_INTERVAL_S = 5.0

CUSTODY_BALANCE = Gauge("nft_custody_balance_nano", "Balance of the custody wallet (nanoTON)")
CUSTODY_READY = Gauge(
    "nft_custody_ready", "1 when the custody wallet and the pinned collection check out on chain"
)
OPEN_MESSAGES = Gauge("nft_ton_messages_open", "Signed externals not settled yet", ["kind"])


class ChainEngine:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        custody: Custody,
        settings: NftSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.uow_factory = uow_factory
        self.custody = custody
        self.settings = settings
        self.clock = clock

    async def step(self) -> bool:
        """Settle open messages, sign and send new mint and transfer batches, and look at what
        was just sent once (on the local chain it has already executed).
        Returns True while messages are open (poll again soon)."""
        uowf, custody, settings = self.uow_factory, self.custody, self.settings
        await self._settle_open()
        sent = False
        for form in (minting.form_batch, transferring.form_batch):
            message = await form(uowf, custody, settings, self.clock())
            if message is not None:
                sent = await sending.send(uowf, custody, message, self.clock()) or sent
        still_open = await self._settle_open() if sent else await self._open()
        for kind in ("mint", "transfer"):
            OPEN_MESSAGES.labels(kind).set(sum(1 for m in still_open if m.kind == kind))
        return bool(still_open)

    async def _open(self) -> list[sending.StoredMessage]:
        async with self.uow_factory() as uow:
            return await sending.open_messages(uow.session)

    async def _settle_open(self) -> list[sending.StoredMessage]:
        """One pass over the open messages; returns those still open after it."""
        now, chain_now = self.clock(), await self.custody.provider.now()
        still_open = []
        for message in await self._open():
            settle = {"mint": minting.settle_batch, "transfer": transferring.settle_batch}.get(
                message.kind
            )
            if settle is None:
                continue
            if not await settle(
                self.uow_factory, self.custody, message, self.settings, now=now,
                chain_now=chain_now,
            ):  # fmt: skip
                still_open.append(message)
        return still_open

    async def drain(self, *, max_steps: int = 1000) -> None:
        """Step until nothing is open and nothing waits (tests, benchmarks, the local chain)."""
        for _ in range(max_steps):
            if not await self.step() and not await self._work_waiting():
                return
        raise RuntimeError("the chain engine did not settle")

    async def _work_waiting(self) -> bool:
        async with self.uow_factory() as uow:
            row = (
                await uow.session.execute(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM purchases WHERE status = 'reserved'"
                        " AND message_id IS NULL) OR EXISTS (SELECT 1 FROM transfers"
                        " WHERE status = 'pending' AND message_id IS NULL)"
                    )
                )
            ).scalar_one()
        return bool(row)

    async def sweep(self) -> None:
        """Final states for purchases stuck outside any message (ledger silent, chain down);
        expired wallet challenges go too."""
        now = self.clock()
        async with self.uow_factory() as uow:
            swept = await purchases.sweep_pending(
                uow, older_than=now - timedelta(seconds=self.settings.pending_timeout_s), now=now
            )
            await uow.commit()
        if swept:
            log.warning("purchases_reservation_timeout", count=swept)
        await minting.fail_overdue(self.uow_factory, self.settings, now)
        async with self.uow_factory() as uow:
            await wallets.purge_expired(uow, now)
            await uow.commit()

    async def check_custody(self) -> bool:
        status = await self.custody.check()
        CUSTODY_BALANCE.set(status.balance)
        CUSTODY_READY.set(1 if status.ok else 0)
        if not status.ok:
            log.error(
                "custody_not_ready", custody=status.address.to_str(),
                wallet_active=status.wallet_active, balance_nano=status.balance,
                collection=status.collection.to_str(), collection_active=status.collection_active,
                collection_code_ok=status.collection_code_ok, owner_ok=status.owner_ok,
            )  # fmt: skip
        return status.ok


async def _wait(wakeup: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiter = asyncio.ensure_future(wakeup.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()


async def run(settings: NftSettings, stop: asyncio.Event) -> None:
    """The `nft-scheduler` body: wait for the lock, then run the engine until `stop`."""
    engine = create_engine(
        settings.database_url, schema=SCHEMA, application_name="nft.scheduler", pool_size=4
    )
    uowf = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
    provider: TonProvider | None = None
    lock_key = zlib.crc32(b"nft:chain-engine")
    wakeup = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wakeup.set()

    try:
        async with engine.connect() as control:
            while not stop.is_set():
                got = (
                    await control.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key})
                ).scalar()
                await control.commit()
                if got:
                    break
                await _wait(asyncio.Event(), stop, 2.0)
            if stop.is_set():
                return
            raw_conn = (await control.get_raw_connection()).driver_connection
            await raw_conn.add_listener(CHANNEL, on_notify)
            provider = await open_provider(settings)
            chain = ChainEngine(uowf, Custody.from_settings(provider, settings), settings)
            log.info("chain_engine_active", network=settings.ton_network.value)
            await _loop(chain, provider, settings, control, wakeup, stop)
    finally:
        if provider is not None:
            await provider.close()
        await engine.dispose()


async def _loop(
    chain: ChainEngine,
    provider: TonProvider,
    settings: NftSettings,
    control: Any,
    wakeup: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    ready = False
    next_sweep = next_check = 0.0
    backoff = 0.5
    while not stop.is_set():
        try:
            if not ready or time.monotonic() >= next_check:
                if settings.ton_network is TonNetwork.local and not ready:
                    await bootstrap_local(provider, chain.custody)  # type: ignore[arg-type]
                ready = await chain.check_custody()
                next_check = time.monotonic() + 60.0
                await control.execute(text("SELECT 1"))  # the lock's connection is alive
                await control.commit()
            if time.monotonic() >= next_sweep:
                await chain.sweep()
                next_sweep = time.monotonic() + SWEEP_INTERVAL_S
            if not ready:
                await _wait(wakeup, stop, 15.0)
                continue
            wakeup.clear()
            busy = await chain.step()
            backoff = 0.5
            await _wait(wakeup, stop, settings.confirm_interval_s if busy else 1.0)
        except asyncio.CancelledError:
            raise
        except ChainUnavailable as exc:
            log.warning("chain_unavailable", error=str(exc)[:300], retry_in_s=backoff)
            await _wait(asyncio.Event(), stop, backoff)
            backoff = min(backoff * 2, 30.0)
        except Exception:
            log.exception("chain_engine_step_failed", retry_in_s=backoff)
            with contextlib.suppress(Exception):
                await control.rollback()
            await _wait(asyncio.Event(), stop, backoff)
            backoff = min(backoff * 2, 30.0)
