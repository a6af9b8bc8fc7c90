"""The time-driven loop of `nft-scheduler`: the chain engine (`nft.chain.engine`).

One engine is active at a time (a session advisory lock; replicas wait as hot standbys), because
mint indices must be used in order and one signer keeps HLv3 query ids simple. It wakes on
`NOTIFY nft_chain` (a purchase reserved, a transfer requested) and polls while messages are open;
it checks custody every minute (and on `local` bootstraps the emulated chain first), and sweeps
stuck purchases every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from typing import Any

from scifikpi_common.db import (
    process_database,
)
from scifikpi_common.logging import get_logger

from nft.chain.engine import ChainEngine
from nft.chain.repository import EngineLock
from nft.models import make_outbox
from nft.settings import NftSettings, TonNetwork
from nft.ton.custody import Custody
from nft.ton.factory import open_provider
from nft.ton.provider import ChainUnavailable, TonProvider

log = get_logger(__name__)

LOCK_KEY = zlib.crc32(b"nft:chain-engine")
SWEEP_INTERVAL_S = 5.0
CUSTODY_CHECK_INTERVAL_S = 60.0
STANDBY_RETRY_S = 2.0


async def _wait(wakeup: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiter = asyncio.ensure_future(wakeup.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()


async def run_chain_engine(settings: NftSettings, stop: asyncio.Event) -> None:
    """The `nft-scheduler` body: wait for the lock, then run the engine until `stop`."""
    provider: TonProvider | None = None
    wakeup = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wakeup.set()

    async with process_database(
        settings.database_url, make_outbox(), name="nft.scheduler", pool_size=4
    ) as db:
        try:
            async with db.engine.connect() as control:
                lock = EngineLock(control, LOCK_KEY)
                while not stop.is_set():
                    got = await lock.try_acquire()
                    await control.commit()  # a session lock: the connection idles, not in a tx
                    if got:
                        break
                    await _wait(asyncio.Event(), stop, STANDBY_RETRY_S)
                if stop.is_set():
                    return
                await lock.listen(on_notify)
                provider = await open_provider(settings)
                custody = Custody.from_settings(provider, settings)
                chain = ChainEngine(db.uow_factory, custody, settings)
                log.info("chain_engine_active", network=settings.ton_network.value)
                await _loop(chain, provider, settings, lock, wakeup, stop)
        finally:
            if provider is not None:
                await provider.close()


async def _bootstrap_if_local(
    chain: ChainEngine, provider: TonProvider, settings: NftSettings
) -> None:
    """On the emulated chain the engine funds custody and deploys it and the collection."""
    if settings.ton_network is TonNetwork.local:
        from nft.ton.local import LocalChain, bootstrap_local

        assert isinstance(provider, LocalChain)
        await bootstrap_local(provider, chain.custody)


async def _loop(
    chain: ChainEngine,
    provider: TonProvider,
    settings: NftSettings,
    lock: EngineLock,
    wakeup: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    control = lock.connection
    ready = False
    next_sweep = next_check = 0.0
    backoff = 0.5
    while not stop.is_set():
        try:
            if not ready or time.monotonic() >= next_check:
                if not ready:
                    await _bootstrap_if_local(chain, provider, settings)
                ready = await chain.check_custody()
                next_check = time.monotonic() + CUSTODY_CHECK_INTERVAL_S
                await lock.ping()  # the lock's connection is alive
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
